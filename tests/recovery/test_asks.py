"""Reading what the customer asks for: explicit asks, negation, and informational questions."""

import pytest

from recovery.asks import (
    CALLBACK,
    CANCELLATION,
    COMPENSATION,
    MANAGER,
    REFUND,
    REPLACEMENT,
    asks_detect,
)


def test_cracked_blender_asking_for_a_replacement_or_a_refund_asks_for_both() -> None:
    asks = asks_detect(
        text="My blender arrived cracked. I want a replacement or a refund.", intent="complaint"
    )

    assert asks.asked == {REPLACEMENT, REFUND}
    assert asks.declined == frozenset()
    assert asks.wants_money and not asks.informational


def test_negated_refund_is_declined_not_asked() -> None:
    asks = asks_detect(text="I don't want a refund, just the parcel")

    assert asks.asked == frozenset()
    assert asks.declined == {REFUND}


def test_replacement_rather_than_refund_asks_one_and_declines_the_other() -> None:
    for text in (
        "Please send a replacement rather than a refund",
        "I want a replacement, not a refund.",
        "Send a replacement instead of a refund",
    ):
        asks = asks_detect(text=text)

        assert asks.asked == {REPLACEMENT}, text
        assert asks.declined == {REFUND}, text


@pytest.mark.parametrize(
    ("text", "ask"),
    [
        ("I'm really disappointed and want the compensation you promised", COMPENSATION),
        ("I want my $13 back #lyingdriver", REFUND),
        ("Let me speak to a manager now", MANAGER),
        ("how can I get in touch with someone that matters at corporate", MANAGER),
        ("Please call me back this afternoon", CALLBACK),
        ("I want to cancel my subscription", CANCELLATION),
        ("could i get a new adapter sent to me?", REPLACEMENT),
    ],
)
def test_each_kind_of_explicit_ask_is_detected(text: str, ask: str) -> None:
    assert asks_detect(text=text).asked == {ask}


def test_questions_about_refund_policy_or_status_are_not_asks() -> None:
    assert asks_detect(text="what is your refund policy?").asked == frozenset()
    assert asks_detect(text="where is my refund").asked == frozenset()
    assert asks_detect(text="check cancellation fees").asked == frozenset()
    # The intent says the mention is about tracking a refund already given.
    tracking = asks_detect(text="i expect a reimbursement of $1", intent="track_refund")
    assert tracking.asked == frozenset()
    assert tracking.informational


def test_payment_error_question_is_informational() -> None:
    asks = asks_detect(text="where could i notify of payment errors", intent="payment_issue")

    assert asks.asked == frozenset()
    assert asks.informational


def test_how_to_change_address_is_informational_with_or_without_an_intent() -> None:
    assert asks_detect(
        text="how do I change my address", intent="change_shipping_address"
    ).informational
    assert asks_detect(text="how do I change my address").informational


def test_complaint_phrased_as_a_question_is_not_informational() -> None:
    assert not asks_detect(text="Why was I charged twice for one order?").informational
    assert not asks_detect(text="where is my parcel? it never arrived").informational


def test_asking_for_money_is_never_informational_even_with_an_informational_intent() -> None:
    asks = asks_detect(text="I was billed wrongly, I want my money back", intent="payment_issue")

    assert asks.asked == {REFUND}
    assert not asks.informational
