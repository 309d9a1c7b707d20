"""Who may reach which route, for every route of the URL configuration.

One table declares an access rule per route; a route added without a rule, or a rule left behind
by a removed route, fails `test_every_route_has_a_rule`. Each rule is then checked for each kind
of user against real objects of team A. tests/test_permissions.py goes deeper on chosen endpoints
(what a list shows, what an allowed write does); this module makes sure none is forgotten.

A shop integration (the shop's service account) stands outside the ladder of roles: a rule lists
the methods it may use, with its API token, in every team. Customers are also reached through a
new ticket (by the shop's id) and changed through their value fields; the tables at the end
check both for every kind of user.
"""

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from django.apps import apps
from django.http import HttpResponse
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from pytest_django.fixtures import Settings
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from accounts.models import Role, Team, User
from copilot.services.replies import reply_entry_create
from desk.models import SavedView
from privacy.models import DataExport, ExportStatus
from recovery.catalogue import action_catalogue_ensure
from recovery.models import AuditEvent, ProactiveEntry, Recommendation, RecoveryAction
from recovery.services import recommendation_reject
from tests.factories import MessageAnalysisFactory, UserFactory
from tickets.models import Customer, Ticket
from tickets.services import CUSTOMER_NOT_REACHABLE

pytestmark = pytest.mark.django_db

# Roles from the least to the most: each one may do what the ones before it may.
PUBLIC, LOGIN, AGENT, SUPERVISOR, ADMIN = "public", "login", "agent", "supervisor", "admin"
LEVELS = [PUBLIC, LOGIN, AGENT, SUPERVISOR, ADMIN]
# Not on the ladder: signed in, and let in where a rule's `integration` lists the method.
INTEGRATION = "integration"
GET, POST = ("GET",), ("POST",)


@dataclass(frozen=True)
class Rule:
    role: str  # the least role let in
    methods: tuple[str, ...] = GET
    team: bool = False  # the URL names an object of team A: another team's member gets a 404
    kind: str = "page"  # "page", "api" (401/403, never a redirect) or "admin" (Django's admin)
    htmx: bool = False  # a fragment the page asks for with htmx: requested with HX-Request
    integration: tuple[str, ...] = ()  # methods a shop integration may use (with its token)
    owner: bool = False  # the URL names the agent's own object: anyone else gets a 404


RULES: dict[str, Rule] = {
    # Monitoring, signing in and out.
    "health-live": Rule(PUBLIC),
    "health-ready": Rule(PUBLIC),
    "health-copilot": Rule(PUBLIC),  # states, ages and counts only: nothing personal
    "favicon.ico": Rule(PUBLIC),  # unnamed: keyed by its route
    "login": Rule(PUBLIC, ("GET", "POST")),
    "logout": Rule(LOGIN, POST),
    # The agent's pages and fragments.
    "desk:inbox": Rule(AGENT),
    "desk:inbox-new": Rule(AGENT, htmx=True),
    "desk:saved-view-create": Rule(AGENT, POST, htmx=True),
    "desk:saved-view-rename": Rule(AGENT, POST, htmx=True, owner=True),
    "desk:saved-view-delete": Rule(AGENT, POST, htmx=True, owner=True),
    "desk:ticket": Rule(AGENT, team=True),
    "desk:ticket-live": Rule(AGENT, team=True, htmx=True),
    "desk:ticket-transcript": Rule(AGENT, team=True, htmx=True),
    "desk:ticket-reply": Rule(AGENT, POST, team=True, htmx=True),
    "desk:ticket-status": Rule(AGENT, POST, team=True, htmx=True),
    "desk:ticket-assignee": Rule(AGENT, POST, team=True, htmx=True),
    "desk:copilot-panel": Rule(AGENT, team=True, htmx=True),
    "desk:draft-use": Rule(AGENT, team=True, htmx=True),
    "desk:draft-edit": Rule(AGENT, team=True, htmx=True),
    "desk:draft-discard": Rule(AGENT, POST, team=True, htmx=True),
    "desk:recovery-panel": Rule(AGENT, team=True, htmx=True),
    "desk:recommendation-decide": Rule(AGENT, POST, team=True, htmx=True),
    "desk:recommendation-add": Rule(AGENT, POST, team=True, htmx=True),
    "desk:recommendation-coapprove": Rule(SUPERVISOR, POST, team=True, htmx=True),
    # The proactive queue: agents and supervisors, each entry in its team.
    "desk:proactive": Rule(AGENT),
    "desk:proactive-decide": Rule(AGENT, POST, team=True, htmx=True),
    # Supervisors' pages: lists are scoped to their teams, so only the review names an object.
    "supervision:overrides": Rule(SUPERVISOR),
    "supervision:override-review": Rule(SUPERVISOR, POST, team=True, htmx=True),
    "supervision:rates": Rule(SUPERVISOR),
    "supervision:fairness": Rule(SUPERVISOR),
    "desk:copilot-status": Rule(SUPERVISOR),
    # Privacy and exports: admins, who see every team's customers.
    "privacy:customers": Rule(ADMIN),
    "privacy:log": Rule(ADMIN),
    "privacy:customer": Rule(ADMIN),
    "privacy:consent": Rule(ADMIN, POST, htmx=True),
    "privacy:erase": Rule(ADMIN, POST),
    "exports:export-request": Rule(ADMIN, POST, htmx=True),
    "exports:export-status": Rule(ADMIN, htmx=True),
    "exports:export-download": Rule(ADMIN),
    "admin:index": Rule(ADMIN, kind="admin"),
    # The reply library: admins, who see every team's entries.
    "replies:list": Rule(ADMIN),
    "replies:add": Rule(ADMIN, ("GET", "POST")),
    "replies:edit": Rule(ADMIN, ("GET", "POST")),
    "replies:toggle": Rule(ADMIN, POST, htmx=True),
    # The REST API and its schema; the docs page is for people, so it is a page.
    # A shop integration opens tickets and posts customers' messages in every team, and keeps
    # customers and their consent in step with the shop; it reads no transcript or analysis.
    "api:ticket-list": Rule(AGENT, ("GET", "POST"), kind="api", integration=POST),
    "api:ticket-detail": Rule(AGENT, team=True, kind="api"),
    "api:message-create": Rule(AGENT, POST, team=True, kind="api", integration=POST),
    "api:customer-list": Rule(AGENT, kind="api", integration=GET),
    "api:customer-detail": Rule(
        AGENT, ("GET", "PATCH"), team=True, kind="api", integration=("GET", "PATCH")
    ),
    "api:customer-consents": Rule(ADMIN, ("GET", "POST"), kind="api", integration=("GET", "POST")),
    "api:ticket-analysis": Rule(AGENT, team=True, kind="api"),
    "api:ticket-analysis-version": Rule(AGENT, team=True, kind="api"),
    "api:similar-case-search": Rule(AGENT, POST, kind="api"),
    "api:ticket-recommendations": Rule(AGENT, ("GET", "POST"), team=True, kind="api"),
    "api:recommendation-decision": Rule(AGENT, POST, team=True, kind="api"),
    "api:recommendation-coapproval": Rule(SUPERVISOR, POST, team=True, kind="api"),
    "api:audit-event-list": Rule(SUPERVISOR, kind="api"),
    # A shop's own messaging reads the queue (what agents decided to send); staff decide.
    "api:proactive-queue": Rule(AGENT, kind="api", integration=GET),
    "api:proactive-decision": Rule(AGENT, POST, team=True, kind="api"),
    "schema": Rule(AGENT, kind="api"),
    "swagger-ui": Rule(AGENT),
}

# Who asks: (their role, their team). Team A owns every object in the URLs; admins see all teams.
USERS: dict[str, tuple[str, str]] = {
    "anonymous": (PUBLIC, ""),
    "no_role_user": (LOGIN, "A"),
    "agent": (AGENT, "A"),
    "other_agent": (AGENT, "B"),
    "supervisor": (SUPERVISOR, "A"),
    "other_team_supervisor": (SUPERVISOR, "B"),
    "admin_user": (ADMIN, "all"),
    "integration": (INTEGRATION, "all"),
}


def url_patterns() -> list[tuple[str, str]]:
    """(name, route) of every URL pattern: "desk:ticket", "tickets/<id:ticket_id>/"."""
    found: list[tuple[str, str]] = []

    def walk(patterns: list[Any], prefix: str, namespace: str) -> None:
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
                walk(pattern.url_patterns, route, inner)
            elif isinstance(pattern, URLPattern):
                # Every view of Django's admin goes through AdminSite.admin_view (active staff
                # only) and ModelAdmin's permission checks, which Django tests itself; the index
                # proves the site is wired behind them; its model routes would only repeat it.
                if namespace == "admin:" and pattern.name != "index":
                    continue
                found.append((f"{namespace}{pattern.name}" if pattern.name else route, route))

    walk(get_resolver().url_patterns, "", "")
    return found


ROUTES = dict(url_patterns())


def expected_outcome(rule: Rule, who: str, method: str) -> str:
    role, team = USERS[who]
    if role == INTEGRATION:
        if rule.role in (PUBLIC, LOGIN) or method in rule.integration:
            return "allowed"
        return "refused"
    if LEVELS.index(role) < LEVELS.index(rule.role):
        return "login" if who == "anonymous" else "refused"
    if rule.team and team == "B":
        return "not found"
    if rule.owner and who != "agent":
        return "not found"
    return "allowed"


def refusal(outcome: str, rule: Rule, path: str) -> tuple[int, str | None]:
    """(status, Location) of a refused request."""
    if outcome == "not found":
        return 404, None
    if rule.kind == "api":
        return (401 if outcome == "login" else 403), None
    if rule.kind == "admin":
        # The admin checks logins itself (its views are exempt from LoginRequiredMiddleware)
        # and sends anyone who is not active staff to its own login page.
        return 302, f"{reverse('admin:login')}?next={quote(path)}"
    return (302, f"{reverse('login')}?next={quote(path)}") if outcome == "login" else (403, None)


def database_state() -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table: counts alone would miss an update (a status, a customer)."""
    return {
        model._meta.label: list(model._base_manager.order_by("pk").values_list())
        for model in apps.get_models()
        if model._meta.managed and not model._meta.proxy
    }


@pytest.fixture
def other_team_supervisor(team_b: Team) -> User:
    return UserFactory(username="sid", role=Role.SUPERVISOR, teams=[team_b])


@pytest.fixture
def url_kwargs(
    settings: Settings, tmp_path: Path, ticket_a: Ticket, agent: User, admin_user: User
) -> dict[str, int]:
    """Ids of team A's objects, by the name the URL patterns give them."""
    analysis = MessageAnalysisFactory(
        ticket=ticket_a,
        draft_reply="We re-sent it.",
    )
    action_catalogue_ensure()
    refund = RecoveryAction.objects.get(key="refund-partial")
    offer = {"ticket": ticket_a, "action": refund, "amount": "15.00", "currency": "EUR"}
    proposed = Recommendation.objects.create(**offer)
    overridden = Recommendation.objects.create(**offer)
    recommendation_reject(recommendation=overridden, user=agent, reason="Customer declined.")
    settings.PRIVACY_EXPORT_DIR = str(tmp_path)
    (tmp_path / "ready.zip").write_bytes(b"PK\x05\x06" + bytes(18))  # an empty zip
    export = DataExport.objects.create(
        customer=ticket_a.customer, status=ExportStatus.DONE, progress=100, file="ready.zip"
    )
    reply = reply_entry_create(team=ticket_a.team, text="We re-sent it.", by=admin_user)
    entry = ProactiveEntry.objects.create(
        customer=ticket_a.customer,
        team=ticket_a.team,
        ticket=ticket_a,
        probability=0.3,
        model_version="test",
        reasons=["Likely to write again"],
    )
    return {
        "entry_id": reply.pk,
        "ticket_id": ticket_a.pk,
        "customer_id": ticket_a.customer_id,
        "analysis_id": analysis.pk,
        "version": analysis.transcript_version,
        "recommendation_id": proposed.pk,
        "event_id": AuditEvent.objects.get(recommendation=overridden, is_override=True).pk,
        "export_id": export.pk,
        "view_id": SavedView.objects.create(owner=agent, name="Mine", query="mine=on").pk,
        "proactive_id": entry.pk,
    }


def send(client: Client, method: str, path: str, rule: Rule) -> HttpResponse:
    """The request with an empty body: a refusal must come before any validation."""
    headers = {"HTTP_HX_REQUEST": "true"} if rule.htmx else {}
    if rule.kind == "api" and method != "GET":
        response = client.generic(method, path, "{}", content_type="application/json", **headers)
    else:
        response = client.generic(method, path, **headers)
    if response.streaming:
        # Read to the end, so the test client closes the download's file (response.close()
        # here would also close the test's database connection).
        b"".join(response.streaming_content)
    return response


CASES = [
    pytest.param(name, method, who, id=f"{name}-{method}-{who}")
    for name, rule in sorted(RULES.items())
    if name in ROUTES
    for method in rule.methods
    for who in USERS
]


def test_every_route_has_a_rule() -> None:
    names = [name for name, _route in url_patterns()]

    assert sorted(set(names) - RULES.keys()) == []  # a route nobody said who may reach
    assert sorted(RULES.keys() - set(names)) == []  # a rule for a route that is gone
    assert [name for name, count in Counter(names).items() if count > 1] == []


@pytest.mark.parametrize(("name", "method", "who"), CASES)
def test_route_lets_in_exactly_whom_its_rule_says(
    request: pytest.FixtureRequest,
    client: Client,
    url_kwargs: dict[str, int],
    name: str,
    method: str,
    who: str,
) -> None:
    rule = RULES[name]
    if who != "anonymous":
        user = request.getfixturevalue(who)
        if who == "admin_user":
            # As accounts.services.user_create makes every admin: staff, for the Django admin.
            User.objects.filter(pk=user.pk).update(is_staff=True)
            user.refresh_from_db()
        client.force_login(user)
        if who == "integration":
            # Its API token on every request; the session is for the pages, which refuse it.
            token = Token.objects.create(user=user).key
            client.defaults["HTTP_AUTHORIZATION"] = f"Token {token}"
    path = "/" + re.sub(r"<(?:\w+:)?(\w+)>", lambda m: str(url_kwargs[m[1]]), ROUTES[name])
    # Around requests that may write only: taking the state costs more than the request.
    before = database_state() if method != "GET" else None

    response = send(client, method, path, rule)

    outcome = expected_outcome(rule, who, method)
    answer = (response.status_code, response.get("Location"))
    if outcome == "allowed":
        # Past every check; an empty body may still be refused (400, 422) as invalid.
        assert response.status_code not in (401, 403, 404, 405), answer
        assert not (answer[1] or "").startswith(
            (f"{reverse('login')}?next=", reverse("admin:login"))
        ), answer
    else:
        assert answer == refusal(outcome, rule, path)
        if before is not None:
            assert database_state() == before


def _client_for(request: pytest.FixtureRequest, who: str) -> APIClient:
    """An API client signed in as `who` would be: staff by session, an integration by token."""
    client = APIClient()
    if who == "integration":
        user = request.getfixturevalue(who)
        client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    elif who != "anonymous":
        client.force_login(request.getfixturevalue(who))
    return client


# Customers reached through a new ticket. Each user opens a ticket in a team of their own (team A,
# or B for the other team's staff; admins and integrations reach both) naming a customer by the
# shop's id: team A's customer, or an id Copilot has never seen. Whoever may not reach it gets
# the same 400 for both, so ids cannot be probed, and nothing changes.
NOT_REACHABLE = (400, {"customer.external_id": [CUSTOMER_NOT_REACHABLE]})
CUSTOMER_THROUGH_TICKET: dict[str, tuple[Any, Any]] = {
    # who: (answer for team A's customer, answer for an unknown id with a name)
    "anonymous": (401, 401),
    "no_role_user": (403, 403),
    "agent": (201, NOT_REACHABLE),
    "other_agent": (NOT_REACHABLE, NOT_REACHABLE),
    "supervisor": (201, NOT_REACHABLE),
    "other_team_supervisor": (NOT_REACHABLE, NOT_REACHABLE),
    "admin_user": (201, 201),
    "integration": (201, 201),
}


@pytest.mark.parametrize("target", ["team_a_customer", "unknown_id"])
@pytest.mark.parametrize("who", sorted(CUSTOMER_THROUGH_TICKET))
def test_customer_reached_through_new_ticket_only_by_whom_may_see_it(
    request: pytest.FixtureRequest, ticket_a: Ticket, team_b: Team, who: str, target: str
) -> None:
    client = _client_for(request, who)
    own_team = team_b if USERS[who][1] == "B" else ticket_a.team
    customer = (
        {"external_id": ticket_a.customer.external_id}
        if target == "team_a_customer"
        else {"external_id": "shop-never-seen", "name": "Kim Park"}
    )
    payload = {
        "customer": customer,
        "team": own_team.slug,
        "subject": "Where is my parcel?",
        "message": {"body": "It has been two weeks."},
    }
    before = database_state()

    response = client.post(reverse("api:ticket-list"), payload, format="json")

    expected = CUSTOMER_THROUGH_TICKET[who][0 if target == "team_a_customer" else 1]
    if expected == 201:
        assert response.status_code == 201
        assert response.json()["customer"]["external_id"] == customer["external_id"]
    else:
        answer = (response.status_code, response.json() if expected == NOT_REACHABLE else None)
        assert answer == (expected if expected == NOT_REACHABLE else (expected, None))
        assert database_state() == before
    # Reached or not, the customer's own record follows the same rule afterwards.
    if target == "team_a_customer" and expected == NOT_REACHABLE:
        detail = client.get(reverse("api:customer-detail", args=[ticket_a.customer_id]))
        assert detail.status_code == 404


# A customer's value fields come from the shop's systems: who may change them, for team A's
# customer. Staff who see the customer are refused by field; nothing changes on any refusal.
VALUE_FIELDS_PATCH = {"segment": "vip", "lifetime_spend": "5000.00", "order_count": 90}
VALUE_FIELDS: dict[str, int] = {
    "anonymous": 401,
    "no_role_user": 403,
    "agent": 403,
    "other_agent": 404,
    "supervisor": 403,
    "other_team_supervisor": 404,
    "admin_user": 200,
    "integration": 200,
}


@pytest.mark.parametrize("who", sorted(VALUE_FIELDS))
def test_customer_value_fields_changed_only_by_shop_systems_and_admins(
    request: pytest.FixtureRequest, ticket_a: Ticket, team_b: Team, who: str
) -> None:
    client = _client_for(request, who)
    url = reverse("api:customer-detail", args=[ticket_a.customer_id])
    before = database_state()

    response = client.patch(url, VALUE_FIELDS_PATCH, format="json")

    assert response.status_code == VALUE_FIELDS[who]
    customer = Customer.objects.get(pk=ticket_a.customer_id)
    if response.status_code == 200:
        assert (customer.segment, str(customer.lifetime_spend), customer.order_count) == (
            "vip",
            "5000.00",
            90,
        )
    else:
        assert database_state() == before
    if response.status_code == 403 and USERS[who][0] in (AGENT, SUPERVISOR):
        assert sorted(response.json()) == ["lifetime_spend", "order_count", "segment"]
