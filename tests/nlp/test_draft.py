from __future__ import annotations

from copilot.nlp.draft import (
    APOLOGY,
    HOLDING_REPLY,
    SimilarCase,
    draft_reply,
    find_references,
)

# A real resolution from the IBM customer-care dev set (AppleSupport style), lightly shortened.
RESOLUTION = (
    "@someone Hi there! We'd be happy to help. For order 998877 we recommend checking the "
    "status here: https://support.apple.com/order-status. ^JK"
)


def test_draft_greets_by_name_and_echoes_the_order_number() -> None:
    draft = draft_reply(
        message="My order #4417823 still hasn't shipped after two weeks!!",
        customer_first_name="Maria",
        sentiment="negative",
        similar_cases=[SimilarCase(case_id=123, similarity=0.82, resolution=RESOLUTION)],
    )

    assert draft.text.startswith("Hi Maria,")
    assert "4417823" in draft.text
    assert APOLOGY in draft.text
    assert draft.based_on_case == 123
    assert "based on case #123 (similarity 0.82)" in draft.reasons
    assert "customer sentiment negative → apology" in draft.reasons
    assert not draft.is_holding_reply


def test_old_customers_reference_is_not_copied_into_the_new_reply() -> None:
    draft = draft_reply(
        message="Where is order 4417823?",
        customer_first_name="Maria",
        sentiment="neutral",
        similar_cases=[SimilarCase(case_id=123, similarity=0.9, resolution=RESOLUTION)],
    )

    assert "998877" not in draft.text
    assert "@someone" not in draft.text
    assert "^JK" not in draft.text
    # The old customer's order number became a slot, filled with this customer's own.
    assert "For order 4417823 we recommend" in draft.text
    assert APOLOGY not in draft.text


def test_no_case_above_threshold_gives_a_holding_reply_and_says_why() -> None:
    draft = draft_reply(
        message="Can you help me?",
        customer_first_name=None,
        sentiment="neutral",
        similar_cases=[SimilarCase(case_id=7, similarity=0.31, resolution=RESOLUTION)],
    )

    assert draft.text == "Hello,\n\n" + HOLDING_REPLY
    assert draft.is_holding_reply
    assert draft.based_on_case is None
    assert (
        "no similar case above similarity 0.50 (best was #7 at 0.31) → generic holding reply"
        in draft.reasons
    )


def test_references_are_found_after_keywords_and_hashes_but_card_numbers_are_not() -> None:
    text = (
        "Order no. AB-77812 and ref: 55X91, ticket #90210. "
        "My card 4111111111111111 was charged. I ordered 3 items."
    )

    assert find_references(text) == ("AB-77812", "55X91", "90210")


def test_bitext_placeholder_takes_the_customers_reference() -> None:
    draft = draft_reply(
        message="I want to cancel order 77123",
        customer_first_name="Sam",
        sentiment="neutral",
        similar_cases=[
            SimilarCase(
                case_id=5,
                similarity=0.7,
                resolution="I can help you cancel order {{Order Number}} right away.",
            )
        ],
    )

    assert "cancel order 77123 right away" in draft.text


def test_agent_signatures_of_the_past_case_are_not_copied() -> None:
    for signed, kept in [
        ("Send a DM our way with any questions. ^CharlesOpacki", "any questions."),
        ("We have refunded it. *SR", "We have refunded it."),
        ("Try the help page - it lists every plan.", "it lists every plan."),
    ]:
        draft = draft_reply(
            message="my plan",
            customer_first_name="Sam",
            sentiment="neutral",
            similar_cases=[SimilarCase(case_id=1, similarity=0.9, resolution=signed)],
        )
        assert draft.text.endswith(kept), draft.text
