import pytest
from django.db import IntegrityError
from django.utils import timezone

from accounts.models import Team, User
from copilot.models import MessageAnalysis
from core.errors import Conflict, DomainError
from tests.factories import CustomerFactory, TicketFactory
from tickets.models import AuthorKind, Message, Status, Ticket, TicketEvent, TicketEventKind
from tickets.services import (
    message_append,
    ticket_assign,
    ticket_change_status,
    ticket_create,
)

pytestmark = pytest.mark.django_db


def test_ticket_create_opens_ticket_with_first_message_and_nothing_above_it(
    team_a: Team, django_capture_on_commit_callbacks
) -> None:
    customer = CustomerFactory(name="Rosa Diaz")

    with django_capture_on_commit_callbacks() as callbacks:
        ticket = ticket_create(
            customer=customer, team=team_a, subject="  Where is   my parcel? ", body="Order 1234?"
        )

    assert ticket.subject == "Where is my parcel?"
    assert ticket.status == Status.NEW
    assert ticket.transcript_version == 1
    message = ticket.messages.get()
    assert (message.sequence, message.author_kind, message.author_name, message.body) == (
        1,
        AuthorKind.CUSTOMER,
        "Rosa Diaz",
        "Order 1234?",
    )
    # The analysis is the copilot's (copilot.services.ticket_receive), not the transcript's.
    assert not MessageAnalysis.objects.filter(ticket=ticket).exists()
    assert callbacks == []
    assert TicketEvent.objects.filter(ticket=ticket, kind=TicketEventKind.CREATED).count() == 1


def test_message_append_grows_transcript_version_by_one(ticket_a: Ticket, agent: User) -> None:
    message_append(ticket=ticket_a, body="Sorry to hear!", author_kind="agent", author_user=agent)
    message_append(ticket=ticket_a, body="Any news?", author_kind="customer")

    ticket_a.refresh_from_db()
    assert ticket_a.transcript_version == 3
    assert list(ticket_a.messages.values_list("sequence", "author_kind")) == [
        (1, "customer"),
        (2, "agent"),
        (3, "customer"),
    ]


@pytest.mark.parametrize("body", ["", "   \n\t ", "\x00\x01"])
def test_empty_message_is_refused_and_nothing_changes(ticket_a: Ticket, body: str) -> None:
    with pytest.raises(DomainError) as err:
        message_append(ticket=ticket_a, body=body, author_kind="customer")

    assert err.value.field == "body"
    ticket_a.refresh_from_db()
    assert ticket_a.transcript_version == 1
    assert ticket_a.messages.count() == 1


def test_oversized_message_is_refused_naming_the_limit(ticket_a: Ticket, settings) -> None:
    settings.COPILOT_MESSAGE_MAX_CHARS = 100

    with pytest.raises(DomainError, match="limited to 100 characters; this one has 101"):
        message_append(ticket=ticket_a, body="x" * 101, author_kind="customer")

    assert ticket_a.messages.count() == 1


def test_message_of_exactly_the_limit_is_stored(ticket_a: Ticket, settings) -> None:
    settings.COPILOT_MESSAGE_MAX_CHARS = 100

    message = message_append(ticket=ticket_a, body="x" * 100, author_kind="customer")

    assert len(message.body) == 100


def test_html_is_stored_as_given_and_control_characters_removed(ticket_a: Ticket) -> None:
    body = "<script>alert(1)</script>\x00\x07 <b>hi</b>\ttab\r\nline"

    message = message_append(ticket=ticket_a, body=body, author_kind="customer")

    assert message.body == "<script>alert(1)</script> <b>hi</b>\ttab\r\nline"


def test_unknown_author_kind_is_refused(ticket_a: Ticket) -> None:
    with pytest.raises(DomainError) as err:
        message_append(ticket=ticket_a, body="hi", author_kind="robot")

    assert err.value.field == "author_kind"
    assert ticket_a.messages.count() == 1


def test_customer_message_reopens_solved_ticket(team_a: Team) -> None:
    ticket = TicketFactory(team=team_a, status=Status.OPEN)
    ticket = ticket_change_status(ticket=ticket, status="solved", resolution="Refunded", by=None)
    assert ticket.solved_at is not None

    message_append(ticket=ticket, body="It broke again", author_kind="customer")

    ticket.refresh_from_db()
    assert (ticket.status, ticket.solved_at) == (Status.OPEN, None)


def test_closed_ticket_takes_no_more_messages(ticket_a: Ticket) -> None:
    ticket_change_status(ticket=ticket_a, status="closed", by=None)

    with pytest.raises(Conflict):
        message_append(ticket=ticket_a, body="Hello again", author_kind="customer")

    assert ticket_a.messages.count() == 1


def test_first_agent_reply_moves_new_ticket_to_open(team_a: Team, agent: User) -> None:
    ticket = TicketFactory(team=team_a, status=Status.NEW)

    message_append(ticket=ticket, body="Looking into it", author_kind="agent", author_user=agent)

    ticket.refresh_from_db()
    assert ticket.status == Status.OPEN


@pytest.mark.parametrize(
    ("start", "target", "allowed"),
    [
        (Status.NEW, Status.OPEN, True),
        (Status.OPEN, Status.PENDING, True),
        (Status.PENDING, Status.OPEN, True),
        (Status.SOLVED, Status.OPEN, True),
        (Status.SOLVED, Status.CLOSED, True),
        (Status.OPEN, Status.NEW, False),
        (Status.PENDING, Status.NEW, False),
        (Status.CLOSED, Status.OPEN, False),
        (Status.CLOSED, Status.SOLVED, False),
        (Status.SOLVED, Status.PENDING, False),
    ],
)
def test_status_transition_table_is_enforced(
    team_a: Team, agent: User, start: str, target: str, allowed: bool
) -> None:
    done = start in (Status.SOLVED, Status.CLOSED)
    ticket = TicketFactory(
        team=team_a,
        status=start,
        resolution="Sent a replacement" if done else "",
        solved_at=timezone.now() if done else None,
    )

    if allowed:
        result = ticket_change_status(ticket=ticket, status=target, by=agent, resolution="Fixed")
        assert result.status == target
        event = TicketEvent.objects.get(ticket=ticket, kind=TicketEventKind.STATUS_CHANGED)
        assert (event.actor, event.data) == (agent, {"from": start, "to": target})
    else:
        with pytest.raises(Conflict):
            ticket_change_status(ticket=ticket, status=target, by=agent)
        ticket.refresh_from_db()
        assert ticket.status == start
        assert not TicketEvent.objects.filter(kind=TicketEventKind.STATUS_CHANGED).exists()


def test_solving_with_last_reply_asked_for_uses_latest_agent_reply(
    ticket_a: Ticket, agent: User
) -> None:
    message_append(
        ticket=ticket_a, body="A new parcel is on its way.", author_kind="agent", author_user=agent
    )

    ticket = ticket_change_status(
        ticket=ticket_a, status="solved", by=agent, resolution_from_last_reply=True
    )

    assert ticket.resolution == "A new parcel is on its way."


def test_solving_with_no_resolution_and_no_reply_is_refused(ticket_a: Ticket, agent: User) -> None:
    with pytest.raises(DomainError) as err:
        ticket_change_status(ticket=ticket_a, status="solved", by=agent)

    assert err.value.field == "resolution"
    ticket_a.refresh_from_db()
    assert ticket_a.status == Status.OPEN


def test_unknown_status_is_refused(ticket_a: Ticket, agent: User) -> None:
    with pytest.raises(DomainError) as err:
        ticket_change_status(ticket=ticket_a, status="archived", by=agent)
    assert err.value.field == "status"


def test_assign_only_to_member_of_ticket_team(
    ticket_a: Ticket, agent: User, other_agent: User
) -> None:
    with pytest.raises(DomainError):
        ticket_assign(ticket=ticket_a, assignee=other_agent, by=agent)
    ticket_a.refresh_from_db()
    assert ticket_a.assignee is None

    ticket_assign(ticket=ticket_a, assignee=agent, by=agent)
    ticket_a.refresh_from_db()
    assert ticket_a.assignee == agent
    event = TicketEvent.objects.get(ticket=ticket_a, kind=TicketEventKind.ASSIGNED)
    assert event.data == {"from": None, "to": "alice"}


def test_database_refuses_solved_ticket_without_solved_at(ticket_a: Ticket) -> None:
    with pytest.raises(IntegrityError):
        Ticket.objects.filter(pk=ticket_a.pk).update(status=Status.SOLVED, resolution="x")


def test_database_refuses_duplicate_message_sequence(ticket_a: Ticket) -> None:
    with pytest.raises(IntegrityError):
        Message.objects.create(
            ticket=ticket_a,
            sequence=1,
            author_kind="customer",
            body="dup",
            created_at=ticket_a.created_at,
        )
