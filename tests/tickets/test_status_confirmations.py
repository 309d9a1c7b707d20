"""Steps that cannot be undone ask first: closing needs a confirmation, and solving needs a
resolution (the last reply only when the agent says so)."""

from collections.abc import Callable

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import User
from core.errors import DomainError
from tickets.models import Status, Ticket, TicketEvent
from tickets.services import message_append, ticket_change_status

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}


def _status(client: Client, ticket: Ticket, data: dict[str, str], **headers: str):
    return client.post(reverse("desk:ticket-status", args=[ticket.pk]), data, **headers)


def test_closing_without_confirmation_changes_nothing(
    login: Callable[[User], Client], agent: User, ticket_a: Ticket
) -> None:
    events_before = TicketEvent.objects.filter(ticket=ticket_a).count()

    response = _status(login(agent), ticket_a, {"status": "closed"}, **HX)

    assert response.status_code == 422
    assert "Closing cannot be undone" in response.content.decode()
    ticket_a.refresh_from_db()
    assert (ticket_a.status, ticket_a.solved_at) == (Status.OPEN, None)
    assert TicketEvent.objects.filter(ticket=ticket_a).count() == events_before


def test_closing_without_confirmation_and_without_javascript_changes_nothing(
    login: Callable[[User], Client], agent: User, ticket_a: Ticket
) -> None:
    response = _status(login(agent), ticket_a, {"status": "closed"})

    assert response.status_code == 422
    ticket_a.refresh_from_db()
    assert ticket_a.status == Status.OPEN


def test_closing_with_confirmation_closes(
    login: Callable[[User], Client], agent: User, ticket_a: Ticket
) -> None:
    response = _status(login(agent), ticket_a, {"status": "closed", "confirm_close": "on"}, **HX)

    assert response.status_code == 200
    ticket_a.refresh_from_db()
    assert ticket_a.status == Status.CLOSED


def test_solving_without_resolution_does_not_take_last_reply_silently(
    login: Callable[[User], Client], agent: User, ticket_a: Ticket
) -> None:
    message_append(
        ticket=ticket_a, body="A new parcel is on its way.", author_kind="agent", author_user=agent
    )

    response = _status(login(agent), ticket_a, {"status": "solved", "resolution": ""}, **HX)

    assert response.status_code == 422
    assert "Say how the ticket was solved" in response.content.decode()
    ticket_a.refresh_from_db()
    assert (ticket_a.status, ticket_a.resolution) == (Status.OPEN, "")


def test_solving_offers_the_last_reply_and_takes_it_when_ticked(
    login: Callable[[User], Client], agent: User, ticket_a: Ticket
) -> None:
    message_append(
        ticket=ticket_a, body="A new parcel is on its way.", author_kind="agent", author_user=agent
    )
    client = login(agent)
    page = client.get(reverse("desk:ticket", args=[ticket_a.pk])).content.decode()
    assert 'name="use_last_reply"' in page

    response = _status(client, ticket_a, {"status": "solved", "use_last_reply": "on"}, **HX)

    assert response.status_code == 200
    ticket_a.refresh_from_db()
    assert (ticket_a.status, ticket_a.resolution) == (Status.SOLVED, "A new parcel is on its way.")


def test_service_solving_without_resolution_is_refused_despite_a_reply(
    ticket_a: Ticket, agent: User
) -> None:
    message_append(
        ticket=ticket_a, body="A new parcel is on its way.", author_kind="agent", author_user=agent
    )

    with pytest.raises(DomainError) as err:
        ticket_change_status(ticket=ticket_a, status="solved", by=agent)

    assert err.value.field == "resolution"
    ticket_a.refresh_from_db()
    assert (ticket_a.status, ticket_a.resolution) == (Status.OPEN, "")
