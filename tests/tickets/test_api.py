"""API behaviour and validation: malformed payloads get a 400 naming the field, change nothing."""

from collections.abc import Callable
from typing import Any

import pytest
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from accounts.models import Team, User
from copilot.models import MessageAnalysis
from tickets.models import Customer, Ticket

pytestmark = pytest.mark.django_db


def _create_payload(for_team: Team, **overrides: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "customer": {"external_id": "shop-1", "name": "Noor Haddad", "email": "noor@example.com"},
        "team": for_team.slug,
        "subject": "Order 5512 arrived damaged",
        "channel": "email",
        "priority": "high",
        "message": {"body": "The box was crushed and the mug inside is broken."},
    }
    payload.update(overrides)
    return payload


def test_create_ticket_with_first_message(integration_api: APIClient, team_a: Team) -> None:
    response = integration_api.post(
        reverse("api:ticket-list"), _create_payload(team_a), format="json"
    )

    assert response.status_code == 201
    body = response.json()
    assert (body["subject"], body["status"], body["priority"], body["team"]) == (
        "Order 5512 arrived damaged",
        "new",
        "high",
        "orders",
    )
    assert body["customer"]["external_id"] == "shop-1"
    assert [(m["sequence"], m["author_kind"], m["body"]) for m in body["messages"]] == [
        (1, "customer", "The box was crushed and the mug inside is broken.")
    ]
    assert MessageAnalysis.objects.filter(ticket_id=body["id"], transcript_version=1).exists()
    assert body["company"] == ""  # none given: the team's tickets without a company


def test_create_ticket_for_a_company(integration_api: APIClient, team_a: Team) -> None:
    response = integration_api.post(
        reverse("api:ticket-list"),
        _create_payload(team_a, company="  British_Airways "),
        format="json",
    )

    assert response.status_code == 201
    assert response.json()["company"] == "British_Airways"
    assert Ticket.objects.get(pk=response.json()["id"]).company == "British_Airways"


def test_create_ticket_reuses_known_customer(integration_api: APIClient, team_a: Team) -> None:
    client = integration_api
    client.post(reverse("api:ticket-list"), _create_payload(team_a), format="json")
    payload = _create_payload(team_a, customer={"external_id": "shop-1"})

    response = client.post(reverse("api:ticket-list"), payload, format="json")

    assert response.status_code == 201
    assert Customer.objects.filter(external_id="shop-1").count() == 1
    assert Ticket.objects.filter(customer__external_id="shop-1").count() == 2


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"subject": ""}, "subject"),
        ({"subject": "x" * 201}, "subject"),
        ({"company": "x" * 101}, "company"),
        ({"company": ["Delta"]}, "company"),
        ({"channel": "pigeon"}, "channel"),
        ({"priority": "whenever"}, "priority"),
        ({"team": None}, "team"),
        ({"message": {"body": ""}}, "message"),
        ({"message": {"body": "x" * 50_001}}, "message"),
        ({"customer": {"name": "No Id"}}, "customer"),
        ({"customer": {"external_id": "new-9"}}, "customer.name"),
        ({"customer": {"external_id": "e", "name": "E", "email": "not-an-email"}}, "customer"),
        ({"customer": "shop-1"}, "customer"),
    ],
)
def test_create_ticket_invalid_payload_names_the_field(
    integration_api: APIClient,
    team_a: Team,
    override: dict[str, Any],
    field: str,
) -> None:
    response = integration_api.post(
        reverse("api:ticket-list"), _create_payload(team_a, **override), format="json"
    )

    assert response.status_code == 400
    assert field in response.json()
    assert Ticket.objects.count() == 0
    assert Customer.objects.count() == 0


def test_create_ticket_with_whitespace_body_names_body(
    api: Callable[[User], APIClient], agent: User, team_a: Team
) -> None:
    response = api(agent).post(
        reverse("api:ticket-list"),
        _create_payload(team_a, message={"body": "  \n "}),
        format="json",
    )

    assert response.status_code == 400
    assert response.json() == {"message": {"body": ["A message cannot be empty."]}}
    assert Ticket.objects.count() == 0
    assert Customer.objects.count() == 0


def test_malformed_json_is_a_400(api: Callable[[User], APIClient], agent: User) -> None:
    response = api(agent).post(
        reverse("api:ticket-list"), data="{not json", content_type="application/json"
    )

    assert response.status_code == 400
    assert "JSON parse error" in response.json()["detail"]


def test_append_customer_message_queues_analysis(
    api: Callable[[User], APIClient], agent: User, ticket_a: Ticket
) -> None:
    response = api(agent).post(
        reverse("api:message-create", args=[ticket_a.pk]),
        {"body": "Hello? Any update?"},
        format="json",
    )

    assert response.status_code == 201
    assert (response.json()["sequence"], response.json()["author_kind"]) == (2, "customer")
    assert MessageAnalysis.objects.filter(ticket=ticket_a, transcript_version=2).exists()


def test_append_agent_message_records_the_caller(
    api: Callable[[User], APIClient], agent: User, ticket_a: Ticket
) -> None:
    response = api(agent).post(
        reverse("api:message-create", args=[ticket_a.pk]),
        {"body": "Refund sent.", "author_kind": "agent"},
        format="json",
    )

    assert response.status_code == 201
    assert response.json()["author_user"] == "alice"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "body"),
        ({"body": ""}, "body"),
        ({"body": " \n\t"}, "body"),
        ({"body": "x" * 50_001}, "body"),
        ({"body": "hi", "author_kind": "robot"}, "author_kind"),
        ({"body": ["a", "b"]}, "body"),
    ],
)
def test_append_invalid_message_names_the_field(
    api: Callable[[User], APIClient],
    agent: User,
    ticket_a: Ticket,
    payload: dict[str, Any],
    field: str,
) -> None:
    response = api(agent).post(
        reverse("api:message-create", args=[ticket_a.pk]), payload, format="json"
    )

    assert response.status_code == 400
    assert list(response.json()) == [field]
    ticket_a.refresh_from_db()
    assert ticket_a.transcript_version == 1


def test_append_to_other_teams_ticket_is_404(
    api: Callable[[User], APIClient], agent: User, ticket_b: Ticket
) -> None:
    response = api(agent).post(
        reverse("api:message-create", args=[ticket_b.pk]), {"body": "hi"}, format="json"
    )

    assert response.status_code == 404
    assert ticket_b.messages.count() == 1


def test_append_to_closed_ticket_is_409(
    api: Callable[[User], APIClient], agent: User, ticket_a: Ticket
) -> None:
    from tickets.services import ticket_change_status

    ticket_change_status(ticket=ticket_a, status="closed", by=agent)

    response = api(agent).post(
        reverse("api:message-create", args=[ticket_a.pk]), {"body": "hi"}, format="json"
    )

    assert response.status_code == 409
    assert "closed" in response.json()["ticket"][0]


def test_ticket_detail_has_transcript(
    api: Callable[[User], APIClient], agent: User, ticket_a: Ticket
) -> None:
    response = api(agent).get(reverse("api:ticket-detail", args=[ticket_a.pk]))

    assert response.status_code == 200
    assert [m["body"] for m in response.json()["messages"]] == ["My order has not arrived yet."]


def test_ticket_list_filters_and_validates(
    api: Callable[[User], APIClient], agent: User, ticket_a: Ticket
) -> None:
    client = api(agent)

    found = client.get(reverse("api:ticket-list"), {"q": "parcel", "status": "open"})
    empty = client.get(reverse("api:ticket-list"), {"status": "pending"})
    bad = client.get(reverse("api:ticket-list"), {"status": "archived"})

    assert [t["id"] for t in found.json()["results"]] == [ticket_a.pk]
    assert empty.json()["count"] == 0
    assert bad.status_code == 400
    assert list(bad.json()) == ["status"]


def test_ticket_list_is_paginated(
    api: Callable[[User], APIClient], agent: User, team_a: Team
) -> None:
    from tests.factories import TicketFactory

    TicketFactory.create_batch(7, team=team_a)

    response = api(agent).get(reverse("api:ticket-list"), {"page_size": 3, "page": 3})

    assert response.json()["count"] == 7
    assert len(response.json()["results"]) == 1


def test_customer_update_by_shop_integration(integration_api: APIClient, ticket_a: Ticket) -> None:
    url = reverse("api:customer-detail", args=[ticket_a.customer_id])

    response = integration_api.patch(url, {"segment": "vip", "order_count": 12}, format="json")

    assert response.status_code == 200
    assert (response.json()["segment"], response.json()["order_count"]) == ("vip", 12)


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"segment": "platinum"}, "segment"),
        ({"lifetime_spend": "-5"}, "lifetime_spend"),
        ({"order_count": -1}, "order_count"),
        ({"email": "nope"}, "email"),
        ({"external_id": "other"}, "external_id"),
        ({"name": ""}, "name"),
    ],
)
def test_customer_update_invalid_names_field(
    api: Callable[[User], APIClient],
    agent: User,
    ticket_a: Ticket,
    payload: dict[str, Any],
    field: str,
) -> None:
    customer = ticket_a.customer
    before = (customer.segment, customer.lifetime_spend, customer.order_count, customer.email)

    response = api(agent).patch(
        reverse("api:customer-detail", args=[customer.pk]), payload, format="json"
    )

    assert response.status_code == 400
    assert list(response.json()) == [field]
    customer.refresh_from_db()
    assert (
        customer.segment,
        customer.lifetime_spend,
        customer.order_count,
        customer.email,
    ) == before


def test_token_authentication(agent: User, ticket_a: Ticket) -> None:
    token = Token.objects.create(user=agent)
    client = APIClient()

    anonymous = client.get(reverse("api:ticket-list"))
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    authed = client.get(reverse("api:ticket-list"))

    assert anonymous.status_code == 401
    assert authed.status_code == 200
    assert [t["id"] for t in authed.json()["results"]] == [ticket_a.pk]


def test_session_api_write_needs_csrf(agent: User, ticket_a: Ticket) -> None:
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(agent)

    response = client.post(
        reverse("api:message-create", args=[ticket_a.pk]), {"body": "hi"}, format="json"
    )

    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]
    assert ticket_a.messages.count() == 1
