"""A suggestion's slots are filled from this ticket only: its customer's name, the reference
in their own messages or in its subject; never from another ticket in the database. A slot
nothing on the ticket fills stays marked and the reply box refuses it until edited."""

from collections.abc import Callable

import pytest
from django.db import transaction
from django.test import Client
from django.urls import reverse

from accounts.models import Team, User
from copilot.models import MessageAnalysis
from copilot.nlp.draft import find_references
from copilot.selectors import draft_leaks_for_open_tickets, suggestion_texts_for_agent
from copilot.services.analysis import analysis_run
from copilot.services.intake import customer_message_receive
from copilot.services.replies import reply_entry_create
from tests.copilot.test_reply_library import solved_ticket
from tests.factories import CustomerFactory, TicketFactory
from tickets.models import AuthorKind, Ticket

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("copilot_dirs")]

HX = {"HTTP_HX_REQUEST": "true"}
BA = "British_Airways"
REFUND = (
    "Hi {customer_first_name}, the refund for booking {order_number} is on its way. "
    "If it has not arrived in 7 days, call us on {phone}."
)


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("My order #3724 never came", ("3724",)),
        ("booking reference XK42LM, flight cancelled", ("XK42LM",)),
        ("my PNR is ZQ7T2M", ("ZQ7T2M",)),
        ("Booking ref: AB-77812", ("AB-77812",)),
        # As a demo customer wrote it: the purchase's number, no "order" or "#".
        ("i want ehlp to change some articles of purchase 732201349959", ("732201349959",)),
        ("I made a purchase 2 days ago", ()),
        ("what is my order status?", ()),
        ("the order from 2 days ago", ()),
    ],
)
def test_references_a_customer_writes_are_found(text: str, found: tuple[str, ...]) -> None:
    assert find_references(text) == found


@pytest.fixture
def others(team_a: Team) -> list[Ticket]:
    """Another customer's tickets of the same team and company, full of their identifiers."""
    omar = CustomerFactory(name="Omar Khan", email="omar.khan@example.com")
    return [
        TicketFactory(
            team=team_a,
            company=BA,
            customer=omar,
            first_message="Booking reference ZZ9911: call me on 07700 900123, Omar",
        ),
        solved_ticket(
            team_a,
            "Omar Khan",
            "Omar, booking ZZ9911 is refunded.",
            customer=omar,
            company=BA,
        ),
    ]


def analysed(ticket: Ticket, body: str) -> MessageAnalysis:
    with transaction.atomic():
        message = customer_message_receive(ticket=ticket, body=body)
    done = analysis_run(ticket_id=ticket.pk, transcript_version=message.sequence)
    assert done is not None and done.suggestions
    return done


def test_slots_come_from_this_customers_own_words_never_another_customers(
    login: Callable[[User], Client],
    agent: User,
    admin_user: User,
    team_a: Team,
    others: list[Ticket],
) -> None:
    entry = reply_entry_create(team=team_a, company=BA, text=REFUND, by=admin_user)
    agent.first_name = "Sam"
    agent.save()
    ticket = TicketFactory(
        team=team_a,
        company=BA,
        assignee=agent,
        customer=CustomerFactory(name="Ann Lee"),
        first_message="My flight was cancelled, booking reference XK42LM.",
    )
    analysis = analysed(ticket, "When do I get the refund for my cancelled flight?")
    assert analysis.suggestions[0]["entry_id"] == entry.pk

    text = suggestion_texts_for_agent(analysis=analysis, agent=agent)[0]

    assert text == (
        "Hi Ann, the refund for booking XK42LM is on its way. "
        "If it has not arrived in 7 days, call us on [phone].\n\nSam"
    )
    for other in ("Omar", "Khan", "ZZ9911", "07700", "omar.khan"):
        assert other not in text
    mine = [r for r in draft_leaks_for_open_tickets() if r.ticket_id == ticket.pk]
    assert [tuple(r.suggested) for r in mine] == [()]

    # The phone slot nothing on the ticket fills blocks sending until the agent edits it.
    client = login(agent)
    reply = reverse("desk:ticket-reply", args=[ticket.pk])
    refused = client.post(reply, {"body": text, "draft": analysis.pk, "suggestion": 0}, **HX)
    assert refused.status_code == 422
    assert b"[phone]" in refused.content
    assert not ticket.messages.filter(author_kind=AuthorKind.AGENT).exists()

    edited = text.replace("[phone]", "0800 727 800")
    sent = client.post(reply, {"body": edited, "draft": analysis.pk, "suggestion": 0}, **HX)
    assert sent.status_code == 200
    assert ticket.messages.get(author_kind=AuthorKind.AGENT).body == edited


def test_a_reference_only_in_the_subject_fills_the_slot(
    agent: User, admin_user: User, team_a: Team, others: list[Ticket]
) -> None:
    reply_entry_create(team=team_a, company=BA, text=REFUND, by=admin_user)
    ticket = TicketFactory(
        team=team_a,
        company=BA,
        assignee=agent,
        subject="Refund for booking 4K7QX2",
        customer=CustomerFactory(name="Ann Lee"),
        first_message="My flight was cancelled and I want a refund.",
    )

    analysis = analysed(ticket, "When do I get the refund for my cancelled flight?")
    text = suggestion_texts_for_agent(analysis=analysis, agent=agent)[0]

    assert "booking 4K7QX2 is on its way" in text
    assert "ZZ9911" not in text


def test_without_a_reference_on_the_ticket_the_slot_stays_marked_even_with_others_in_the_db(
    agent: User, admin_user: User, team_a: Team, others: list[Ticket]
) -> None:
    reply_entry_create(team=team_a, company=BA, text=REFUND, by=admin_user)
    ticket = TicketFactory(
        team=team_a,
        company=BA,
        assignee=agent,
        subject="Cancelled flight",
        customer=CustomerFactory(name="Ann Lee"),
        first_message="My flight was cancelled and I want a refund.",
    )

    analysis = analysed(ticket, "When do I get the refund for my cancelled flight?")
    text = suggestion_texts_for_agent(analysis=analysis, agent=agent)[0]

    assert "booking [order number] is on its way" in text
    assert "ZZ9911" not in text and "Omar" not in text
