"""Role x team x endpoint: who may see and change what, in pages, fragments and the API.

Every denied write also checks that nothing changed.
"""

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import User
from copilot.models import DraftDecisionEvent
from tests.factories import MessageAnalysisFactory
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
    ("get", "desk:ticket", {}, 200),
    ("get", "desk:ticket-transcript", {}, 200),
    ("get", "desk:ticket-transcript", {"HTTP_HX_REQUEST": "true"}, 200),
    ("post", "desk:ticket-reply", {}, 302),
    ("post", "desk:ticket-reply", {"HTTP_HX_REQUEST": "true"}, 200),
    ("post", "desk:ticket-status", {"HTTP_HX_REQUEST": "true"}, 200),
    ("post", "desk:ticket-assignee", {"HTTP_HX_REQUEST": "true"}, 200),
]
POST_DATA = {
    "desk:ticket-reply": {"body": "We are on it"},
    "desk:ticket-status": {"status": "pending"},
    "desk:ticket-assignee": {"assignee": ""},
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

    response = client.get(reverse("desk:inbox"))

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
    ("patch", "api:customer-detail", lambda t: [t.customer_id], {"name": "Kim Renamed"}, 200),
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
    before = (ticket_a.transcript_version, ticket_a.customer.name)

    response = getattr(client, method)(reverse(name, args=args(ticket_a)), payload, format="json")

    expected = _expected(who, allowed=allowed, api=True)
    assert response.status_code == expected
    if expected != allowed:
        ticket_a.refresh_from_db()
        ticket_a.customer.refresh_from_db()
        assert (ticket_a.transcript_version, ticket_a.customer.name) == before


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
    request: pytest.FixtureRequest,
    api: Callable[[User | None], Any],
    team_a: Any,
    ticket_a: Ticket,
    who: str,
) -> None:
    client = api(_user(request, who))
    payload = {
        "customer": {"external_id": ticket_a.customer.external_id},
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


COPILOT_PAGES: list[tuple[str, str, dict[str, str], int]] = [
    # (method, url name, extra headers, status when allowed); args: ticket, analysis
    ("get", "desk:copilot-panel", {"HTTP_HX_REQUEST": "true"}, 200),
    ("get", "desk:draft-edit", {"HTTP_HX_REQUEST": "true"}, 200),
    ("get", "desk:draft-use", {"HTTP_HX_REQUEST": "true"}, 200),
    ("get", "desk:draft-use", {}, 302),
    ("post", "desk:draft-discard", {"HTTP_HX_REQUEST": "true"}, 200),
    ("post", "desk:draft-discard", {}, 302),
]


@pytest.mark.parametrize("who", USERS)
@pytest.mark.parametrize(("method", "name", "headers", "allowed"), COPILOT_PAGES)
def test_copilot_panel_and_draft_decisions(
    request: pytest.FixtureRequest,
    client: Client,
    ticket_a: Ticket,
    who: str,
    method: str,
    name: str,
    headers: dict[str, str],
    allowed: int,
) -> None:
    analysis = MessageAnalysisFactory(
        ticket=ticket_a,
        draft_reply="We re-sent it.",
    )
    user = _user(request, who)
    if user is not None:
        client.force_login(user)
    url = reverse(
        name, args=[ticket_a.pk] if name == "desk:copilot-panel" else [ticket_a.pk, analysis.pk]
    )

    response = getattr(client, method)(url, **headers)

    expected = _expected(who, allowed=allowed, api=False)
    assert response.status_code == expected
    decided = DraftDecisionEvent.objects.filter(analysis=analysis).exists()
    assert decided == (method == "post" and who in SEES_TEAM_A)


COPILOT_API: list[tuple[str, str, dict[str, Any], int]] = [
    ("get", "api:ticket-analysis", {}, 200),
    ("get", "api:ticket-analysis-version", {}, 200),
]


@pytest.mark.parametrize("who", USERS)
@pytest.mark.parametrize(("method", "name", "payload", "allowed"), COPILOT_API)
def test_copilot_api(
    request: pytest.FixtureRequest,
    api: Callable[[User | None], Any],
    ticket_a: Ticket,
    who: str,
    method: str,
    name: str,
    payload: dict[str, Any],
    allowed: int,
) -> None:
    MessageAnalysisFactory(ticket=ticket_a)
    args = [ticket_a.pk] if name == "api:ticket-analysis" else [ticket_a.pk, 1]

    response = getattr(api(_user(request, who)), method)(reverse(name, args=args), payload)

    assert response.status_code == _expected(who, allowed=allowed, api=True)


@pytest.mark.parametrize("who", USERS)
def test_similar_case_search_needs_a_role(
    request: pytest.FixtureRequest, api: Callable[[User | None], Any], who: str
) -> None:
    # Scoping of the results is tested with the search itself (tests/copilot/test_api.py);
    # here: who may call it at all. An empty text is refused before any model runs.
    response = api(_user(request, who)).post(
        reverse("api:similar-case-search"), {"text": ""}, format="json"
    )

    expected = {"anonymous": 401, "no_role_user": 403}.get(who, 400)
    assert response.status_code == expected


@pytest.fixture
def recommendation_a(ticket_a: Ticket) -> Any:
    from recovery.catalogue import action_catalogue_ensure
    from recovery.models import Recommendation, RecoveryAction

    action_catalogue_ensure()
    return Recommendation.objects.create(
        ticket=ticket_a,
        action=RecoveryAction.objects.get(key="refund-partial"),
        amount="15.00",
        currency="EUR",
    )


HX_HEADERS = {"HTTP_HX_REQUEST": "true"}
RECOVERY_PAGES: list[tuple[str, str, dict[str, str], dict[str, str], int]] = [
    # (method, url name, post data, headers, status when allowed for an agent of team A)
    ("get", "desk:recovery-panel", {}, {"HTTP_HX_REQUEST": "true"}, 200),
    ("post", "desk:recommendation-decide", {"decision": "reject", "reason": "no"}, {}, 302),
    ("post", "desk:recommendation-decide", {"decision": "reject", "reason": "no"}, HX_HEADERS, 200),
    ("post", "desk:recommendation-add", {"action": "callback", "reason": "asked"}, HX_HEADERS, 200),
]


@pytest.mark.parametrize("who", USERS)
@pytest.mark.parametrize(("method", "name", "data", "headers", "allowed"), RECOVERY_PAGES)
def test_recovery_pages_and_fragments(
    request: pytest.FixtureRequest,
    client: Client,
    ticket_a: Ticket,
    recommendation_a: Any,
    who: str,
    method: str,
    name: str,
    data: dict[str, str],
    headers: dict[str, str],
    allowed: int,
) -> None:
    from recovery.models import AuditEvent, Recommendation

    user = _user(request, who)
    if user is not None:
        client.force_login(user)
    args = (
        [ticket_a.pk]
        if name in ("desk:recovery-panel", "desk:recommendation-add")
        else [
            ticket_a.pk,
            recommendation_a.pk,
        ]
    )

    response = getattr(client, method)(reverse(name, args=args), data, **headers)

    expected = _expected(who, allowed=allowed, api=False)
    assert response.status_code == expected
    changed = AuditEvent.objects.exists() or Recommendation.objects.count() > 1
    assert changed == (method == "post" and who in SEES_TEAM_A)


@pytest.mark.parametrize("who", USERS)
def test_coapproval_page_is_for_supervisors_of_the_team(
    request: pytest.FixtureRequest,
    client: Client,
    ticket_a: Ticket,
    recommendation_a: Any,
    who: str,
) -> None:
    from recovery.models import RecommendationStatus

    type(recommendation_a).objects.filter(pk=recommendation_a.pk).update(
        status=RecommendationStatus.AWAITING_COAPPROVAL, final_amount="90.00"
    )
    user = _user(request, who)
    if user is not None:
        client.force_login(user)

    response = client.post(
        reverse("desk:recommendation-coapprove", args=[ticket_a.pk, recommendation_a.pk]),
        {"approve": "no", "reason": "too much"},
    )

    expected = {
        "anonymous": 302,
        "no_role_user": 403,
        "agent": 403,
        "other_agent": 403,
        "supervisor": 302,
        "admin_user": 302,
    }[who]
    assert response.status_code == expected
    recommendation_a.refresh_from_db()
    refused = recommendation_a.status == RecommendationStatus.REJECTED
    assert refused == (who in ("supervisor", "admin_user"))


RECOVERY_API: list[tuple[str, str, bool, dict[str, Any], int]] = [
    # (method, url name, on the recommendation (else the ticket), payload, allowed status)
    ("get", "api:ticket-recommendations", False, {}, 200),
    ("post", "api:ticket-recommendations", False, {"action": "callback", "reason": "asked"}, 201),
    ("post", "api:recommendation-decision", True, {"decision": "reject", "reason": "no"}, 200),
]


@pytest.mark.parametrize("who", USERS)
@pytest.mark.parametrize(("method", "name", "on_rec", "payload", "allowed"), RECOVERY_API)
def test_recovery_api(
    request: pytest.FixtureRequest,
    api: Callable[[User | None], Any],
    ticket_a: Ticket,
    recommendation_a: Any,
    who: str,
    method: str,
    name: str,
    on_rec: bool,
    payload: dict[str, Any],
    allowed: int,
) -> None:
    from recovery.models import AuditEvent

    args = [recommendation_a.pk] if on_rec else [ticket_a.pk]

    response = getattr(api(_user(request, who)), method)(
        reverse(name, args=args), payload, format="json"
    )

    expected = _expected(who, allowed=allowed, api=True)
    assert response.status_code == expected
    assert AuditEvent.objects.exists() == (method == "post" and expected == allowed)


@pytest.mark.parametrize("who", USERS)
def test_audit_trail_api_is_for_supervisors_and_admins(
    request: pytest.FixtureRequest, api: Callable[[User | None], Any], who: str
) -> None:
    response = api(_user(request, who)).get(reverse("api:audit-event-list"))

    expected = {"anonymous": 401, "supervisor": 200, "admin_user": 200}.get(who, 403)
    assert response.status_code == expected
