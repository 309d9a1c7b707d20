"""Role x team x endpoint: who may see and change what, in pages, fragments and the API.

Every denied write also checks that nothing changed.
"""

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import User
from tickets.models import Ticket

pytestmark = pytest.mark.django_db

USERS = ["anonymous", "no_role_user", "agent", "other_agent", "supervisor", "admin_user"]
# For a ticket of team A: who gets to see it.
SEES_TEAM_A = {"agent", "supervisor", "admin_user"}


def _user(request: pytest.FixtureRequest, name: str) -> User | None:
    return None if name == "anonymous" else request.getfixturevalue(name)


def _expected(name: str, *, allowed: int, api: bool) -> int:
    if name == "anonymous":
        return 401 if api else 302
    if name == "no_role_user":
        return 403
    return allowed if name in SEES_TEAM_A else 404


PAGES: list[tuple[str, str, dict[str, str], int]] = [
    # (method, url name, extra headers, status when allowed)
    ("get", "tickets:detail", {}, 200),
    ("get", "tickets:transcript", {}, 200),
    ("get", "tickets:transcript", {"HTTP_HX_REQUEST": "true"}, 200),
    ("post", "tickets:reply", {}, 302),
    ("post", "tickets:reply", {"HTTP_HX_REQUEST": "true"}, 200),
    ("post", "tickets:status", {"HTTP_HX_REQUEST": "true"}, 200),
    ("post", "tickets:assignee", {"HTTP_HX_REQUEST": "true"}, 200),
]
POST_DATA = {
    "tickets:reply": {"body": "We are on it"},
    "tickets:status": {"status": "pending"},
    "tickets:assignee": {"assignee": ""},
}


@pytest.mark.parametrize("who", USERS)
@pytest.mark.parametrize(("method", "name", "headers", "allowed"), PAGES)
def test_ticket_pages_and_fragments(
    request: pytest.FixtureRequest,
    client: Client,
    ticket_a: Ticket,
    who: str,
    method: str,
    name: str,
    headers: dict[str, str],
    allowed: int,
) -> None:
    user = _user(request, who)
    if user is not None:
        client.force_login(user)
    before = (ticket_a.transcript_version, ticket_a.status)
    url = reverse(name, args=[ticket_a.pk])

    if method == "get":
        response = client.get(url, **headers)
    else:
        response = client.post(url, POST_DATA[name], **headers)

    expected = _expected(who, allowed=allowed, api=False)
    assert response.status_code == expected
    if expected == 302 and user is None:
        assert response["Location"].startswith(reverse("login"))
    ticket_a.refresh_from_db()
    if expected in (302, 401, 403, 404) and not (expected == 302 and user is not None):
        assert (ticket_a.transcript_version, ticket_a.status) == before


@pytest.mark.parametrize("who", USERS)
def test_inbox_lists_only_own_teams_tickets(
    request: pytest.FixtureRequest, client: Client, ticket_a: Ticket, ticket_b: Ticket, who: str
) -> None:
    user = _user(request, who)
    if user is not None:
        client.force_login(user)

    response = client.get(reverse("tickets:inbox"))

    if who == "anonymous":
        assert response.status_code == 302
        return
    if who == "no_role_user":
        assert response.status_code == 403
        return
    assert response.status_code == 200
    shown = {t.pk for t in response.context["page"]}
    expected = {
        "agent": {ticket_a.pk},
        "supervisor": {ticket_a.pk},
        "other_agent": {ticket_b.pk},
        "admin_user": {ticket_a.pk, ticket_b.pk},
    }[who]
    assert shown == expected


API: list[tuple[str, str, Callable[[Ticket], list[Any]], dict[str, Any], int]] = [
    ("get", "api:ticket-detail", lambda t: [t.pk], {}, 200),
    ("post", "api:message-create", lambda t: [t.pk], {"body": "Any news?"}, 201),
    ("get", "api:customer-detail", lambda t: [t.customer_id], {}, 200),
    ("patch", "api:customer-detail", lambda t: [t.customer_id], {"order_count": 9}, 200),
]


@pytest.mark.parametrize("who", USERS)
@pytest.mark.parametrize(("method", "name", "args", "payload", "allowed"), API)
def test_api_object_endpoints(
    request: pytest.FixtureRequest,
    api: Callable[[User | None], Any],
    ticket_a: Ticket,
    who: str,
    method: str,
    name: str,
    args: Callable[[Ticket], list[Any]],
    payload: dict[str, Any],
    allowed: int,
) -> None:
    client = api(_user(request, who))
    before = (ticket_a.transcript_version, ticket_a.customer.order_count)

    response = getattr(client, method)(reverse(name, args=args(ticket_a)), payload, format="json")

    expected = _expected(who, allowed=allowed, api=True)
    assert response.status_code == expected
    if expected != allowed:
        ticket_a.refresh_from_db()
        ticket_a.customer.refresh_from_db()
        assert (ticket_a.transcript_version, ticket_a.customer.order_count) == before


@pytest.mark.parametrize("who", USERS)
def test_api_lists_are_scoped(
    request: pytest.FixtureRequest,
    api: Callable[[User | None], Any],
    ticket_a: Ticket,
    ticket_b: Ticket,
    who: str,
) -> None:
    client = api(_user(request, who))

    tickets = client.get(reverse("api:ticket-list"))
    customers = client.get(reverse("api:customer-list"))

    if who in ("anonymous", "no_role_user"):
        assert tickets.status_code == customers.status_code == (401 if who == "anonymous" else 403)
        return
    visible = {
        "agent": {ticket_a.pk},
        "supervisor": {ticket_a.pk},
        "other_agent": {ticket_b.pk},
        "admin_user": {ticket_a.pk, ticket_b.pk},
    }[who]
    assert {t["id"] for t in tickets.json()["results"]} == visible
    assert {c["id"] for c in customers.json()["results"]} == {
        Ticket.objects.get(pk=pk).customer_id for pk in visible
    }


@pytest.mark.parametrize("who", USERS)
def test_api_create_ticket_only_in_own_team(
    request: pytest.FixtureRequest, api: Callable[[User | None], Any], team_a: Any, who: str
) -> None:
    client = api(_user(request, who))
    payload = {
        "customer": {"external_id": "shop-77", "name": "Kim"},
        "team": team_a.slug,
        "subject": "Broken lid",
        "message": {"body": "The lid arrived cracked."},
    }

    response = client.post(reverse("api:ticket-list"), payload, format="json")

    if who == "anonymous":
        assert response.status_code == 401
    elif who == "no_role_user":
        assert response.status_code == 403
    elif who in SEES_TEAM_A:
        assert response.status_code == 201
    else:
        assert response.status_code == 400
        assert response.json() == {"team": ["No team of yours has this slug."]}
    assert Ticket.objects.filter(subject="Broken lid").count() == (1 if who in SEES_TEAM_A else 0)


@pytest.mark.parametrize("who", USERS)
def test_api_schema_and_docs_need_login(
    request: pytest.FixtureRequest, client: Client, api: Callable[[User | None], Any], who: str
) -> None:
    user = _user(request, who)
    schema = api(user).get(reverse("schema"))
    if user is not None:
        client.force_login(user)
    docs = client.get(reverse("swagger-ui"))

    if who == "anonymous":
        assert schema.status_code == 401
        assert docs.status_code == 302
    elif who == "no_role_user":
        assert schema.status_code == 403
        assert docs.status_code == 403
    else:
        assert schema.status_code == 200
        assert b"/api/tickets/" in schema.content
        assert docs.status_code == 200
