"""A past case full of other people's identifiers: the pipeline's draft carries none of them,
and the leak count over open tickets says so."""

import re

import pytest
from django.core.management import call_command
from django.db import transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import Role, Team
from copilot.models import MessageAnalysis
from copilot.selectors import draft_leaks_for_open_tickets
from copilot.services.analysis import analysis_run
from copilot.services.cases import case_index_rebuild
from copilot.services.intake import customer_message_receive
from tests.factories import CustomerFactory, TicketFactory, UserFactory
from tickets.models import Status, Ticket

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("copilot_dirs")]

LEAKY_RESOLUTION = (
    "@julian_marsh 1/2 We don't like to hear this, Julian. Order 113542617735902 was re-sent by "
    "express delivery; track it at https://t.co/6iDGBJAc2m or call 1-800-221-1212, or write to "
    "becky.thornton@example.com. -Becky 2/2"
)
FOREIGN = [
    "julian", "Julian", "Marsh", "113542617735902", "t.co", "221-1212", "becky", "Becky",
    "Thornton", "2/2", "1/2",
]  # fmt: skip


@pytest.fixture
def leaky_case(team_a: Team) -> Ticket:
    UserFactory(username="becky.t", first_name="Becky", last_name="Thornton", role=Role.AGENT)
    case = TicketFactory(
        team=team_a,
        customer=CustomerFactory(name="Julian Marsh", external_id="twcs-julian_marsh"),
        status=Status.SOLVED,
        solved_at=timezone.now(),
        first_message="My parcel never arrived, the tracking has not moved for a week.",
        resolution=LEAKY_RESOLUTION,
    )
    case_index_rebuild(progress=None)
    return case


def test_identifier_leak_pipeline_draft_names_only_this_ticket_and_agent(
    team_a: Team, leaky_case: Ticket
) -> None:
    agent = UserFactory(username="sam.r", first_name="Sam", role=Role.AGENT, teams=[team_a])
    ticket = TicketFactory(
        team=team_a,
        customer=CustomerFactory(name="Maria Lopez"),
        assignee=agent,
        first_message="Order 4417823 here.",
    )
    with transaction.atomic():
        message = customer_message_receive(
            ticket=ticket,
            body="My parcel still hasn't arrived and the tracking has not moved for a week!",
        )
    analysis = analysis_run(ticket_id=ticket.pk, transcript_version=message.sequence)

    assert analysis is not None
    assert [c["ticket_id"] for c in analysis.similar_cases] == [leaky_case.pk]
    assert [f for f in FOREIGN if f in analysis.draft_reply] == []
    assert analysis.draft_reply.startswith("Hi Maria,\n\n")
    # The order number comes from this customer's earlier message on the ticket.
    assert "Order 4417823 was re-sent by express delivery" in analysis.draft_reply
    assert "[url]" in analysis.draft_reply and "[phone]" in analysis.draft_reply
    assert "not known on this ticket, fill in before sending: [url], [phone], [email]" in (
        analysis.draft_reasons
    )
    assert [r.rebuilt for r in draft_leaks_for_open_tickets()] == [()]


def test_draft_leaks_counts_a_stored_draft_that_names_someone_else(
    team_a: Team, leaky_case: Ticket, capsys: pytest.CaptureFixture[str]
) -> None:
    ticket = TicketFactory(team=team_a, customer=CustomerFactory(name="Maria Lopez"))
    with transaction.atomic():
        message = customer_message_receive(
            ticket=ticket,
            body="My parcel never arrived, the tracking has not moved in a week.",
        )
    analysis_run(ticket_id=ticket.pk, transcript_version=message.sequence)
    # A draft as the code before de-identification stored it.
    MessageAnalysis.objects.filter(ticket=ticket).update(
        draft_reply="Hi Maria,\n\nWe don't like to hear this, Julian. Order 113542617735902."
    )

    call_command("draft_leaks")

    out = capsys.readouterr().out
    assert re.search(r"Drafts as stored: 1 of 1 name someone else \(2 identifiers", out), out
    assert "Drafts rebuilt now: 0 of 1 name someone else (0 identifiers, 0 distinct)." in out
    assert f"ticket {ticket.pk}: 113542617735902, Julian" in out


def test_identifier_leak_similar_cases_on_the_panel_name_no_one_else(
    client: Client, team_a: Team, leaky_case: Ticket
) -> None:
    agent = UserFactory(username="sam.r", first_name="Sam", role=Role.AGENT, teams=[team_a])
    ticket = TicketFactory(team=team_a, customer=CustomerFactory(name="Maria Lopez"))
    with transaction.atomic():
        message = customer_message_receive(
            ticket=ticket,
            body="My parcel still hasn't arrived and the tracking has not moved for a week!",
        )
    analysis_run(ticket_id=ticket.pk, transcript_version=message.sequence)
    client.force_login(agent)

    html = client.get(reverse("desk:ticket", args=[ticket.pk])).content.decode()

    shown = re.search(r'<p class="resolution-snippet">(.*?)</p>', html, re.S)
    assert shown is not None  # the similar case is on the panel, de-identified
    assert [f for f in FOREIGN if f in shown.group(1)] == []
    assert "[customer first name]" in shown.group(1)
