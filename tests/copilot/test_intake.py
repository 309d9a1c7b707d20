"""Messages into the transcript through the copilot's services: a customer's message with its
analysis in one transaction, an agent's reply refused while it shows an unfilled slot, a status
change that keeps the case index in step."""

import pytest
from django.utils import timezone

from accounts.models import Team, User
from copilot.models import AnalysisStatus, MessageAnalysis, SolvedCase
from copilot.services import intake as services
from copilot.services.intake import (
    agent_reply_send,
    customer_message_receive,
    ticket_receive,
    ticket_status_change,
)
from core.errors import DomainError
from tests.factories import CustomerFactory, TicketFactory
from tickets.models import AuthorKind, Message, Status, Ticket, TicketEvent, TicketEventKind
from tickets.services import message_append

pytestmark = pytest.mark.django_db


def test_ticket_receive_opens_ticket_with_first_message_and_requests_analysis(
    team_a: Team, django_capture_on_commit_callbacks
) -> None:
    customer = CustomerFactory(name="Rosa Diaz")

    with django_capture_on_commit_callbacks() as callbacks:
        ticket = ticket_receive(
            customer=customer, team=team_a, subject="Where is my parcel?", body="Order 1234?"
        )

    message = ticket.messages.get()
    assert (message.sequence, message.author_kind, message.body) == (
        1,
        AuthorKind.CUSTOMER,
        "Order 1234?",
    )
    analysis = MessageAnalysis.objects.get(ticket=ticket)
    assert (analysis.transcript_version, analysis.message_id, analysis.status) == (
        1,
        message.pk,
        AnalysisStatus.PENDING,
    )
    assert len(callbacks) == 1  # the analysis task, queued only once the transaction commits
    assert TicketEvent.objects.filter(ticket=ticket, kind=TicketEventKind.CREATED).count() == 1


def test_customer_message_receive_writes_message_and_pending_analysis(
    ticket_a: Ticket, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks() as callbacks:
        message = customer_message_receive(ticket=ticket_a, body="Any news?")

    assert (message.sequence, message.author_kind) == (2, AuthorKind.CUSTOMER)
    analysis = MessageAnalysis.objects.get(ticket=ticket_a)
    assert (analysis.transcript_version, analysis.message_id, analysis.status) == (
        2,
        message.pk,
        AnalysisStatus.PENDING,
    )
    assert len(callbacks) == 1


def test_message_without_its_analysis_record_is_never_written(
    ticket_a: Ticket, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(**kwargs: object) -> None:
        raise RuntimeError("analysis record not written")

    monkeypatch.setattr(services, "analysis_request", broken)

    with pytest.raises(RuntimeError):
        customer_message_receive(ticket=ticket_a, body="Any news?")

    ticket_a.refresh_from_db()
    assert ticket_a.transcript_version == 1
    assert ticket_a.messages.count() == 1
    assert not MessageAnalysis.objects.exists()


def test_message_append_alone_requests_no_analysis(ticket_a: Ticket) -> None:
    message_append(ticket=ticket_a, body="Any news?", author_kind=AuthorKind.CUSTOMER)

    assert ticket_a.messages.count() == 2
    assert not MessageAnalysis.objects.exists()


def test_agent_reply_is_not_queued_for_analysis(ticket_a: Ticket, agent: User) -> None:
    agent_reply_send(ticket=ticket_a, body="On it", agent=agent)

    assert ticket_a.messages.last().author_user == agent
    assert not MessageAnalysis.objects.filter(ticket=ticket_a).exists()


def test_newer_customer_message_supersedes_pending_analysis(ticket_a: Ticket) -> None:
    customer_message_receive(ticket=ticket_a, body="Hello?")
    customer_message_receive(ticket=ticket_a, body="Hello??")

    statuses = dict(
        MessageAnalysis.objects.filter(ticket=ticket_a).values_list("transcript_version", "status")
    )
    assert statuses == {2: AnalysisStatus.SUPERSEDED, 3: AnalysisStatus.PENDING}


def test_agent_reply_with_unfilled_slot_marker_is_refused_by_the_service(
    ticket_a: Ticket, agent: User
) -> None:
    with pytest.raises(DomainError) as err:
        agent_reply_send(ticket=ticket_a, body="See [url] for [order number].", agent=agent)

    assert (err.value.field, err.value.code) == ("body", "unfilled_slot")
    assert err.value.message == (
        "Fill in [url], [order number] before sending: the customer would see them as written."
    )
    ticket_a.refresh_from_db()
    assert ticket_a.transcript_version == 1
    assert Message.objects.filter(ticket=ticket_a).count() == 1


def test_ticket_opened_by_an_agent_with_unfilled_slot_marker_is_refused(
    team_a: Team, agent: User
) -> None:
    customer = TicketFactory(team=team_a).customer

    with pytest.raises(DomainError) as err:
        ticket_receive(
            customer=customer,
            team=team_a,
            subject="Call back",
            body="We called about [order number].",
            author_kind=AuthorKind.AGENT,
            created_by=agent,
        )

    assert err.value.code == "unfilled_slot"
    assert Ticket.objects.filter(subject="Call back").count() == 0


def test_status_change_to_solved_queues_the_case_on_commit(
    ticket_a: Ticket, agent: User, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks() as callbacks:
        ticket = ticket_status_change(
            ticket=ticket_a, status=Status.SOLVED, by=agent, resolution="Re-sent."
        )

    assert ticket.status == Status.SOLVED
    # record_solved_case and the proactive queue's refresh for this customer, after commit
    assert len(callbacks) == 2
    assert not SolvedCase.objects.exists()


def test_status_change_reopening_drops_the_case_in_the_same_transaction(
    team_a: Team, agent: User
) -> None:
    ticket = TicketFactory(
        team=team_a, status=Status.SOLVED, resolution="Re-sent.", solved_at=timezone.now()
    )
    SolvedCase.objects.create(ticket=ticket, text="x", embedding=b"", model_version="m")

    ticket_status_change(ticket=ticket, status=Status.OPEN, by=agent)

    assert not SolvedCase.objects.filter(ticket=ticket).exists()
