"""De-identification of past replies: no suggestion carries another person's identifiers."""

from __future__ import annotations

import pytest

from copilot.nlp.deid import KnownPeople, deidentify, identifier_leaks, slots_fill
from copilot.nlp.draft import APOLOGY, SimilarCase, draft_reply

# What the database knows: other customers and staff, with their handles.
KNOWN = KnownPeople.from_records(
    full_names=["Julian Marsh", "Becky Thornton", "Jane Okafor", "Maria Lopez", "Sam Reyes"],
    handles=["julian_m", "115818"],
)

# Past replies as they appear in real support history, each full of someone else's identifiers.
CASES_FULL_OF_IDENTIFIERS = [
    "@115818 Hi Terence, I'm sorry for the trouble. We don't like to hear this, Julian. "
    "Our seat pitch is comparable to other airlines. ^Jane 2/2",
    "@julian_m 1/2 Hey Julian! Order 113542617735902 left our warehouse today: "
    "https://t.co/6iDGBJAc2m -Becky",
    "Hello Marsh, please call us on +44 20 7946 0958 or 1-800-221-1212, or write to "
    "becky.thornton@example.com. Your booking ref AB-77812 is confirmed. *SR",
    "Dear Mr. Thornton, the card 4111 1111 1111 1111 was refunded $1499 for purchase "
    "00004587345. See www.example.com/refunds for details.\n\nKind regards,\nTom Baker",
    "My name is Priya from the billing team. I have passed this to Becky, who will follow up "
    "on ticket #55321. Thanks, Stephen! ~Kate B.",
    "@AmazonHelp @julian_m That's great to hear, Stephen. We'll pass your comments on. *TJN 2/2",
    # A signing name that no list knows, alone after the last sentence.
    "@116748 Thanks Katie, I've fed this back for review. Hope you have a great time. Maclaine",
]
FOREIGN = [
    "Terence", "Julian", "Jane", "Becky", "Marsh", "Thornton", "Tom", "Baker", "Priya",
    "Stephen", "Kate", "115818", "julian_m", "AmazonHelp", "113542617735902", "t.co", "6iDGBJ",
    "7946", "0958", "221-1212", "becky.thornton", "example.com", "AB-77812", "4111", "1499",
    "4587345", "55321", "^", "2/2", "1/2", "-Becky", "*SR", "TJN", "~", "Katie", "Maclaine",
]  # fmt: skip
THIS_TICKET_TEXT = "My order 4417823 never arrived and nobody answers!"


@pytest.mark.parametrize("resolution", CASES_FULL_OF_IDENTIFIERS)
def test_identifier_leak_none_survives_into_another_tickets_draft(resolution: str) -> None:
    draft = draft_reply(
        message=THIS_TICKET_TEXT,
        customer_first_name="Maria",
        sentiment="negative",
        similar_cases=[SimilarCase(case_id=9, similarity=0.9, resolution=resolution)],
        customer_text=THIS_TICKET_TEXT,
        agent_name="Sam",
        known=KNOWN,
    )

    assert draft.based_on_case == 9
    assert draft.text.startswith("Hi Maria,\n\n")
    assert [f for f in FOREIGN if f in draft.text] == []
    assert (
        identifier_leaks(
            draft.text,
            allowed_text=THIS_TICKET_TEXT,
            allowed_names=["Maria Lopez", "Sam Reyes"],
            known=KNOWN,
        )
        == ()
    )


def test_identifier_leak_other_customers_name_becomes_this_customers() -> None:
    draft = draft_reply(
        message="You misspelt my name on the booking",
        customer_first_name="Maria",
        sentiment="negative",
        similar_cases=[
            SimilarCase(case_id=108, similarity=0.8, resolution=CASES_FULL_OF_IDENTIFIERS[0])
        ],
        known=KNOWN,
    )

    # One apology (the past reply's own), the vocative is this customer, no signature, no
    # thread marker, no handle.
    assert draft.text == (
        "Hi Maria,\n\nI'm sorry for the trouble. We don't like to hear this, Maria. Our seat "
        "pitch is comparable to other airlines."
    )
    assert APOLOGY not in draft.text
    assert (
        "customer sentiment negative; the past reply already apologises → no second apology"
        in draft.reasons
    )


def test_identifier_leak_other_customers_order_number_is_replaced_by_this_tickets() -> None:
    draft = draft_reply(
        message="where is it?",
        customer_first_name="Maria",
        sentiment="neutral",
        similar_cases=[
            SimilarCase(case_id=1, similarity=0.9, resolution=CASES_FULL_OF_IDENTIFIERS[1])
        ],
        customer_text="I ordered last week, order 4417823.\nwhere is it?",
    )

    assert draft.text == ("Hi Maria,\n\nOrder 4417823 left our warehouse today: [url]")
    assert draft.unfilled_slots == ("url",)
    assert "not known on this ticket, fill in before sending: [url]" in draft.reasons


def test_identifier_leak_unfillable_order_number_stays_visible_and_is_listed() -> None:
    draft = draft_reply(
        message="where is my parcel?",
        customer_first_name="Maria",
        sentiment="neutral",
        similar_cases=[
            SimilarCase(case_id=1, similarity=0.9, resolution=CASES_FULL_OF_IDENTIFIERS[1])
        ],
    )

    assert "113542617735902" not in draft.text
    assert "Order [order number] left our warehouse today: [url]" in draft.text
    assert draft.unfilled_slots == ("order_number", "url")
    assert (
        "not known on this ticket, fill in before sending: [order number], [url]" in draft.reasons
    )


def test_identifier_leak_agent_introduction_signs_as_this_agent() -> None:
    resolution = "My name is Priya from the billing team, and I have refunded the fee."
    known_agent = draft_reply(
        message="fee",
        customer_first_name="Maria",
        sentiment="neutral",
        similar_cases=[SimilarCase(case_id=1, similarity=0.9, resolution=resolution)],
        agent_name="Sam",
    )
    no_agent = draft_reply(
        message="fee",
        customer_first_name="Maria",
        sentiment="neutral",
        similar_cases=[SimilarCase(case_id=1, similarity=0.9, resolution=resolution)],
    )

    assert known_agent.text.endswith(
        "My name is Sam from the billing team, and I have refunded the fee."
    )
    assert no_agent.text.endswith(
        "My name is [agent name] from the billing team, and I have refunded the fee."
    )
    assert no_agent.unfilled_slots == ("agent_name",)


def test_deidentify_turns_identifiers_into_typed_slots() -> None:
    result = deidentify(CASES_FULL_OF_IDENTIFIERS[2], known=KNOWN)

    assert result.text == (
        "Hello {customer_first_name}, please call us on {phone} or {phone}, or write to {email}. "
        "Your booking ref {order_number} is confirmed."
    )
    assert result.slots == ("email", "phone", "order_number", "customer_first_name")


def test_deidentify_bitext_placeholders_become_slots() -> None:
    result = deidentify(
        "I can cancel order {{Order Number}}. Call {{Customer Support Phone Number}} or visit "
        "{{Online Company Portal Info}}."
    )

    assert result.text == (
        "I can cancel order {order_number}. Call {phone} or visit {online_company_portal_info}."
    )


def test_slots_fill_uses_only_given_values_and_marks_the_rest() -> None:
    text, unfilled = slots_fill(
        "Hi {customer_first_name}, order {order_number}, {agent_name}",
        values={"customer_first_name": "Maria", "order_number": None},
    )

    assert text == "Hi Maria, order [order number], [agent name]"
    assert unfilled == ("order_number", "agent_name")


def test_contact_support_sentence_is_dropped_from_the_draft() -> None:
    draft = draft_reply(
        message="refund",
        customer_first_name="Maria",
        sentiment="neutral",
        similar_cases=[
            SimilarCase(
                case_id=1,
                similarity=0.9,
                resolution="Your refund is on its way. If you have questions, please contact our "
                "customer support team at {{Customer Support Phone Number}}. Have a nice day!",
            )
        ],
    )

    assert draft.text == "Hi Maria,\n\nYour refund is on its way. Have a nice day!"
    assert draft.unfilled_slots == ()


def test_leak_counter_flags_the_identifiers_of_another_ticket() -> None:
    old_style = (
        "Hi Terence,\n\nWe don't like to hear this, Julian. Order 113542617735902: "
        "https://t.co/6iDGBJAc2m @julian_m"
    )

    leaks = identifier_leaks(
        old_style,
        allowed_text="Hi, my name is Terence and my order 4417823 is late",
        allowed_names=["Terence Hill", "Sam Reyes"],
        known=KNOWN,
    )

    assert leaks == ("https://t.co/6iDGBJAc2m", "@julian_m", "113542617735902", "Julian")
