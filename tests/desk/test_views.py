"""Agent pages as full pages and as htmx fragments."""

from collections.abc import Callable

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import Team, User
from tests.factories import CustomerFactory, TicketFactory
from tickets.models import Priority, Status, Ticket

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}
XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def test_inbox_full_page_and_fragment(
    login: Callable[[User], Client], agent: User, ticket_a: Ticket
) -> None:
    client = login(agent)

    page = client.get(reverse("desk:inbox"))
    fragment = client.get(reverse("desk:inbox"), **HX)

    assert page.status_code == fragment.status_code == 200
    assert b"<html" in page.content and b'id="inbox-results"' in page.content
    assert b"{#" not in page.content and b"{%" not in page.content  # no template syntax leaks
    assert b"<html" not in fragment.content
    assert fragment.content.lstrip().startswith(b'<div id="inbox-results">')
    assert b"Parcel never arrived" in fragment.content


def test_inbox_filters(login: Callable[[User], Client], agent: User, team_a: Team) -> None:
    urgent = TicketFactory(team=team_a, priority=Priority.URGENT, subject="Fridge on fire")
    TicketFactory(team=team_a, priority=Priority.LOW, subject="Question about colours")
    solved = TicketFactory(
        team=team_a,
        status=Status.SOLVED,
        resolution="Done",
        subject="Old thing",
        solved_at=urgent.created_at,
    )
    mine = TicketFactory(team=team_a, assignee=agent, subject="Assigned to me")
    named = TicketFactory(team=team_a, customer=CustomerFactory(name="Zelda Quince"), subject="Hi")
    client = login(agent)

    def shown(**params: str) -> set[int]:
        response = client.get(reverse("desk:inbox"), params)
        return {t.pk for t in response.context["page"]}

    assert shown(priority="urgent") == {urgent.pk}
    assert solved.pk not in shown()  # active tickets by default
    assert shown(status="solved") == {solved.pk}
    assert solved.pk in shown(status="all")
    assert shown(mine="on") == {mine.pk}
    assert shown(q="fridge") == {urgent.pk}
    assert shown(q="zelda") == {named.pk}
    assert shown(q=f"#{named.pk}") == {named.pk}


def test_inbox_query_count_does_not_grow_with_tickets(
    login: Callable[[User], Client], agent: User, team_a: Team, django_assert_max_num_queries
) -> None:
    TicketFactory.create_batch(30, team=team_a, assignee=agent)
    client = login(agent)

    # session + user + groups + teams + count + page (with customer, team, assignee joined)
    with django_assert_max_num_queries(8):
        response = client.get(reverse("desk:inbox"), **HX)

    assert response.content.count(b'<tr id="ticket-') == 30


def test_inbox_paginates(
    login: Callable[[User], Client], agent: User, team_a: Team, settings
) -> None:
    settings.COPILOT_INBOX_PAGE_SIZE = 5
    TicketFactory.create_batch(12, team=team_a)
    client = login(agent)

    response = client.get(reverse("desk:inbox"), {"page": 3})

    assert len(response.context["page"]) == 2
    assert b"Page 3 of 3" in response.content


def test_ticket_page_shows_transcript_and_customer_card(
    login: Callable[[User], Client], agent: User, ticket_a: Ticket
) -> None:
    response = login(agent).get(reverse("desk:ticket", args=[ticket_a.pk]))

    assert response.status_code == 200
    assert f'id="ticket-{ticket_a.pk}-transcript"'.encode() in response.content
    assert b"My order has not arrived yet." in response.content
    assert ticket_a.customer.name.encode() in response.content


def test_transcript_fragment(
    login: Callable[[User], Client], agent: User, ticket_a: Ticket
) -> None:
    response = login(agent).get(reverse("desk:ticket-transcript", args=[ticket_a.pk]), **HX)

    assert response.content.lstrip().startswith(
        f'<ol id="ticket-{ticket_a.pk}-transcript"'.encode()
    )
    assert b"<html" not in response.content


def test_reply_with_htmx_updates_transcript_in_place(
    login: Callable[[User], Client], agent: User, ticket_a: Ticket
) -> None:
    response = login(agent).post(
        reverse("desk:ticket-reply", args=[ticket_a.pk]), {"body": "A courier is on the way."}, **HX
    )

    assert response.status_code == 200
    assert b"<html" not in response.content
    assert b'hx-swap-oob="true"' in response.content
    assert b"A courier is on the way." in response.content
    ticket_a.refresh_from_db()
    assert ticket_a.transcript_version == 2
    last = ticket_a.messages.last()
    assert (last.author_kind, last.author_user, last.body) == (
        "agent",
        agent,
        "A courier is on the way.",
    )


def test_reply_without_htmx_redirects_to_ticket(
    login: Callable[[User], Client], agent: User, ticket_a: Ticket
) -> None:
    response = login(agent).post(
        reverse("desk:ticket-reply", args=[ticket_a.pk]), {"body": "Hello"}
    )

    assert response.status_code == 302
    assert response["Location"] == reverse("desk:ticket", args=[ticket_a.pk])


@pytest.mark.parametrize("headers", [{}, HX])
def test_empty_reply_is_refused_and_nothing_changes(
    login: Callable[[User], Client], agent: User, ticket_a: Ticket, headers: dict[str, str]
) -> None:
    response = login(agent).post(
        reverse("desk:ticket-reply", args=[ticket_a.pk]), {"body": "   "}, **headers
    )

    assert response.status_code == 422
    assert (
        b"A message cannot be empty." in response.content
        or b"This field is required." in response.content
    )
    ticket_a.refresh_from_db()
    assert ticket_a.transcript_version == 1


def test_oversized_reply_is_refused(
    login: Callable[[User], Client], agent: User, ticket_a: Ticket, settings
) -> None:
    response = login(agent).post(
        reverse("desk:ticket-reply", args=[ticket_a.pk]),
        {"body": "x" * (settings.COPILOT_MESSAGE_MAX_CHARS + 1)},
        **HX,
    )

    assert response.status_code == 422
    assert b"Ensure this value has at most 50000 characters" in response.content
    assert ticket_a.messages.count() == 1


def test_status_change_in_place(
    login: Callable[[User], Client], agent: User, ticket_a: Ticket
) -> None:
    response = login(agent).post(
        reverse("desk:ticket-status", args=[ticket_a.pk]), {"status": "pending"}, **HX
    )

    assert response.status_code == 200
    assert response.content.lstrip().startswith(f'<div id="ticket-{ticket_a.pk}-header"'.encode())
    assert b"Pending customer" in response.content
    ticket_a.refresh_from_db()
    assert ticket_a.status == Status.PENDING


def test_forbidden_status_change_shows_error_and_changes_nothing(
    login: Callable[[User], Client], agent: User, ticket_a: Ticket
) -> None:
    response = login(agent).post(
        reverse("desk:ticket-status", args=[ticket_a.pk]), {"status": "new"}, **HX
    )

    assert response.status_code == 422
    assert b"The ticket is open; it cannot become new." in response.content
    ticket_a.refresh_from_db()
    assert ticket_a.status == Status.OPEN


def test_unknown_status_value_is_refused(
    login: Callable[[User], Client], agent: User, ticket_a: Ticket
) -> None:
    response = login(agent).post(
        reverse("desk:ticket-status", args=[ticket_a.pk]), {"status": "archived"}, **HX
    )

    assert response.status_code == 422
    assert b"Select a valid choice" in response.content
    ticket_a.refresh_from_db()
    assert ticket_a.status == Status.OPEN


def test_assign_in_place(login: Callable[[User], Client], agent: User, ticket_a: Ticket) -> None:
    response = login(agent).post(
        reverse("desk:ticket-assignee", args=[ticket_a.pk]), {"assignee": agent.pk}, **HX
    )

    assert response.status_code == 200
    ticket_a.refresh_from_db()
    assert ticket_a.assignee == agent


def test_assign_to_non_member_is_refused(
    login: Callable[[User], Client], agent: User, other_agent: User, ticket_a: Ticket
) -> None:
    response = login(agent).post(
        reverse("desk:ticket-assignee", args=[ticket_a.pk]), {"assignee": other_agent.pk}, **HX
    )

    assert response.status_code == 422
    ticket_a.refresh_from_db()
    assert ticket_a.assignee is None


def test_hostile_text_is_rendered_escaped_everywhere(
    login: Callable[[User], Client], agent: User, team_a: Team
) -> None:
    ticket = TicketFactory(
        team=team_a, subject=XSS[:100], customer=CustomerFactory(name=XSS[:100]), first_message=XSS
    )
    client = login(agent)

    pages = [
        client.get(reverse("desk:inbox")),
        client.get(reverse("desk:inbox"), **HX),
        client.get(reverse("desk:ticket", args=[ticket.pk])),
        client.get(reverse("desk:ticket-transcript", args=[ticket.pk]), **HX),
        client.post(reverse("desk:ticket-reply", args=[ticket.pk]), {"body": XSS}, **HX),
    ]

    for response in pages:
        assert response.status_code == 200
        assert b"<script>alert" not in response.content
        assert b"<img src=x" not in response.content
        assert b"&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in response.content


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("desk:ticket-transcript", '<ol id="ticket-{pk}-transcript"'),
        ("desk:copilot-panel", '<section id="ticket-{pk}-analysis"'),
        ("desk:recovery-panel", '<section id="ticket-{pk}-recovery"'),
    ],
)
def test_each_fragment_is_the_whole_page_without_htmx(
    login: Callable[[User], Client], agent: User, ticket_a: Ticket, name: str, fragment: str
) -> None:
    client = login(agent)
    url = reverse(name, args=[ticket_a.pk])

    page = client.get(url)
    part = client.get(url, **HX)

    start = fragment.format(pk=ticket_a.pk).encode()
    assert page.status_code == part.status_code == 200
    assert b"<html" in page.content and start in page.content
    assert f'id="ticket-{ticket_a.pk}-reply"'.encode() in page.content
    assert b"<html" not in part.content
    assert part.content.lstrip().startswith(start)


def test_status_change_without_htmx_redirects_to_the_ticket(
    login: Callable[[User], Client], agent: User, ticket_a: Ticket
) -> None:
    response = login(agent).post(
        reverse("desk:ticket-status", args=[ticket_a.pk]), {"status": "pending"}
    )

    assert response.status_code == 302
    assert response["Location"] == reverse("desk:ticket", args=[ticket_a.pk])
    ticket_a.refresh_from_db()
    assert ticket_a.status == Status.PENDING


def test_refused_status_change_without_htmx_shows_the_page_with_the_error(
    login: Callable[[User], Client], agent: User, ticket_a: Ticket
) -> None:
    response = login(agent).post(
        reverse("desk:ticket-status", args=[ticket_a.pk]), {"status": "new"}
    )

    assert response.status_code == 422
    assert b"<html" in response.content
    assert b"The ticket is open; it cannot become new." in response.content
    ticket_a.refresh_from_db()
    assert ticket_a.status == Status.OPEN


def test_closed_ticket_shows_no_reply_box(
    login: Callable[[User], Client], agent: User, team_a: Team
) -> None:
    closed = TicketFactory(
        team=team_a, status=Status.CLOSED, resolution="Done", solved_at=timezone.now()
    )

    response = login(agent).get(reverse("desk:ticket", args=[closed.pk]))

    assert b"This ticket is closed" in response.content
    assert b'name="body"' not in response.content
