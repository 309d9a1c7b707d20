"""Every active ticket with a customer request gets an analysis of it, whoever wrote last, and
the panel says the truth when there is nothing to analyse."""

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import Team, User
from copilot.models import AnalysisStatus, MessageAnalysis
from copilot.services.analysis import analyses_queue_missing, analysis_run
from tests.factories import TicketFactory
from tickets.models import AuthorKind, Message, Status, Ticket
from tickets.services import message_append

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("copilot_dirs")]


def agent_replied(ticket: Ticket, body: str = "Please DM us your booking number.") -> None:
    """An agent reply stored the way an import stores it (no analysis requested)."""
    sequence = ticket.messages.count() + 1
    Message.objects.create(
        ticket=ticket,
        sequence=sequence,
        author_kind=AuthorKind.AGENT,
        author_name="Airline",
        body=body,
        created_at=timezone.now(),
    )
    Ticket.objects.filter(pk=ticket.pk).update(transcript_version=sequence)


def test_queue_missing_analyses_the_customer_request_when_the_agent_wrote_last(
    team_a: Team,
) -> None:
    ticket = TicketFactory(team=team_a, first_message="My bag was lost on flight 225.")
    agent_replied(ticket)

    with transaction.atomic():
        assert analyses_queue_missing() == 1
    assert analyses_queue_missing() == 0
    analysis = MessageAnalysis.objects.get(ticket=ticket)
    assert analysis.transcript_version == 1
    assert analysis.message.body == "My bag was lost on flight 225."

    done = analysis_run(ticket_id=ticket.pk, transcript_version=1)
    assert done is not None and done.status == AnalysisStatus.DONE
    assert done.sentiment in {"negative", "neutral", "positive"}
    assert ticket.insight.transcript_version == 1


def test_queue_missing_analyses_tickets_imported_as_pending(team_a: Team, tmp_path: Path) -> None:
    record = {
        "external_id": "twcs-1",
        "subject": "Lost bag",
        "channel": "social",
        "status": "pending",
        "priority": "normal",
        "team": team_a.name,
        "intent": "",
        "created_at": "2017-10-01T10:00:00+00:00",
        "solved_at": None,
        "resolution": "",
        "customer": {"external_id": "twcs-c1", "name": "Ann Lee", "email": "ann@example.com"},
        "messages": [
            {
                "external_id": "1",
                "author_kind": "customer",
                "author": "Ann Lee",
                "body": "@Air you lost my bag again. Still waiting after 3 days.",
                "created_at": "2017-10-01T10:00:00+00:00",
            },
            {
                "external_id": "2",
                "author_kind": "agent",
                "author": "Air",
                "body": "@c1 Sorry to hear that. Please DM us your file reference.",
                "created_at": "2017-10-01T10:05:00+00:00",
            },
        ],
    }
    path = tmp_path / "pending.jsonl"
    path.write_text(json.dumps(record) + "\n")
    call_command("import_tickets", str(path), source="test", no_progress=True)
    ticket = Ticket.objects.get(external_id="twcs-1")
    assert ticket.status == Status.PENDING

    call_command("analyse_tickets")

    analysis = MessageAnalysis.objects.get(ticket=ticket)
    assert (analysis.transcript_version, analysis.status) == (1, AnalysisStatus.PENDING)
    done = analysis_run(ticket_id=ticket.pk, transcript_version=1)
    assert done is not None and done.status == AnalysisStatus.DONE


def test_queue_missing_skips_tickets_without_a_customer_message_and_done_tickets(
    team_a: Team,
) -> None:
    silent = TicketFactory(team=team_a)
    Message.objects.filter(ticket=silent).update(author_kind=AuthorKind.AGENT)
    TicketFactory(
        team=team_a, status=Status.SOLVED, solved_at=timezone.now(), resolution="Refunded."
    )

    assert analyses_queue_missing() == 0
    assert MessageAnalysis.objects.count() == 0


def panel_text(client: Client, ticket: Ticket) -> str:
    response = client.get(reverse("desk:copilot-panel", args=[ticket.pk]), HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    return " ".join(response.content.decode().split())


def test_panel_says_the_customer_has_not_written_rather_than_no_message_to_analyse(
    login: Callable[[User], Client], agent: User, team_a: Team
) -> None:
    silent = TicketFactory(team=team_a)
    Message.objects.filter(ticket=silent).update(author_kind=AuthorKind.AGENT)

    text = panel_text(login(agent), silent)

    assert "The customer has not written in this conversation yet" in text
    assert "No customer message to analyse yet" not in text


def test_panel_of_an_unanalysed_request_says_it_was_not_analysed_yet(
    login: Callable[[User], Client], agent: User, ticket_a: Ticket
) -> None:
    agent_replied(ticket_a)

    text = panel_text(login(agent), ticket_a)

    assert "The customer's latest request has not been analysed yet" in text
    assert "No customer message to analyse yet" not in text


def test_panel_shows_the_last_request_analysis_after_the_agent_answered(
    login: Callable[[User], Client], agent: User, ticket_a: Ticket
) -> None:
    assert analyses_queue_missing() == 1
    analysis_run(ticket_id=ticket_a.pk, transcript_version=1)
    with transaction.atomic():
        message_append(ticket=ticket_a, body="On it, one moment.", author_kind=AuthorKind.AGENT)

    text = panel_text(login(agent), ticket_a)

    assert "An agent has replied since; this is the analysis of the customer's last request" in text
    assert "<dt>Sentiment</dt>" in text
    assert "No customer message" not in text
    assert "not been analysed" not in text
