"""Hostile input answers 400 naming the field, never 500, on SQLite and on PostgreSQL alike.

SQLite stores a NUL or a 300-character e-mail that PostgreSQL refuses, so each case here is
asserted through the database the suite runs on (run it with DATABASE_URL=postgres://...).
"""

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from accounts.models import Team, User
from core.parsers import JSON_MAX_DEPTH
from desk import apis as desk_apis
from recovery.catalogue import action_catalogue_ensure
from recovery.models import ProactiveEntry, Recommendation, RecoveryAction
from tests.factories import MessageAnalysisFactory
from tickets import apis, importing
from tickets.models import Customer, Message, Ticket

pytestmark = pytest.mark.django_db

# 273 characters: valid to Django's EmailValidator (which stops at 320), longer than the column.
LONG_EMAIL = "a" * 200 + "@" + "b" * 60 + ".example.com"


@pytest.mark.parametrize(
    ("url", "field"),
    [
        ("/api/customers/?q=%00", "q"),
        ("/api/customers/?q=ann%00lee", "q"),
        ("/api/tickets/?q=%00", "q"),
        ("/api/audit-events/?kind=%00", "kind"),
        ("/api/tickets/?page=%00", "page"),
        ("/api/customers/?%00=x", "\\0"),
    ],
)
def test_nul_in_an_api_query_parameter_is_400_naming_it(
    api: Callable[[User], APIClient], admin_user: User, ticket_a: Ticket, url: str, field: str
) -> None:
    response = api(admin_user).get(url)

    assert response.status_code == 400
    assert response.json() == {field: ["Null characters are not allowed."]}


@pytest.mark.parametrize(
    ("url", "field"),
    [
        ("/?q=%00", "q"),
        ("/privacy/customers/?q=%00", "q"),
        ("/admin/tickets/customer/?q=%00", "q"),
        ("/supervision/rates/?period=%00", "period"),
    ],
)
def test_nul_in_a_page_query_parameter_is_400_naming_it(
    client: Client, admin_user: User, ticket_a: Ticket, url: str, field: str
) -> None:
    client.force_login(admin_user)

    response = client.get(url)

    assert response.status_code == 400
    assert response.content.decode() == f"{field}: Null characters are not allowed."
    assert response.headers["Content-Security-Policy"].startswith("default-src 'self'")


def test_nul_in_the_login_username_is_400_and_records_no_attempt(client: Client) -> None:
    from axes.models import AccessAttempt, AccessLog

    response = client.post(reverse("login"), {"username": "ada\x00", "password": "x"})

    assert response.status_code == 400
    assert response.content.decode() == "username: Null characters are not allowed."
    assert (AccessAttempt.objects.count(), AccessLog.objects.count()) == (0, 0)


def test_email_longer_than_the_column_in_customer_update_is_400_naming_it(
    api: Callable[[User], APIClient], admin_user: User, ticket_a: Ticket
) -> None:
    customer = ticket_a.customer
    before = customer.email

    response = api(admin_user).patch(
        reverse("api:customer-detail", args=[customer.pk]), {"email": LONG_EMAIL}, format="json"
    )

    assert response.status_code == 400
    assert response.json() == {"email": ["Ensure this field has no more than 254 characters."]}
    customer.refresh_from_db()
    assert customer.email == before


@pytest.mark.parametrize("length", [255, 320])
def test_email_longer_than_the_column_in_ticket_create_is_400_naming_it(
    api: Callable[[User], APIClient], admin_user: User, team_a: Team, length: int
) -> None:
    email = "a" * (length - len("@example.com")) + "@example.com"
    payload = {
        "customer": {"external_id": "c-long", "name": "Long Mail", "email": email},
        "team": team_a.slug,
        "subject": "Where is my parcel?",
        "message": {"body": "It has not arrived."},
    }

    response = api(admin_user).post(reverse("api:ticket-list"), payload, format="json")

    assert response.status_code == 400
    assert response.json() == {
        "customer": {"email": ["Ensure this field has no more than 254 characters."]}
    }
    assert (Ticket.objects.count(), Customer.objects.count()) == (0, 0)


@pytest.mark.parametrize(
    ("serializer", "model"),
    [
        (desk_apis.TicketListApi.CreateInput.CustomerInput, Customer),
        (apis.CustomerDetailApi.UpdateInput, Customer),
        (importing.CustomerRecord, Customer),
        (importing.TicketRecord, Ticket),
        (importing.MessageRecord, Message),
    ],
)
def test_input_text_fields_never_allow_more_than_their_column(serializer: Any, model: Any) -> None:
    """Every text input that is stored in a column of the same name is held to that column's
    length (or less): a longer value would pass validation and fail in the database."""
    columns = {f.name: f.max_length for f in model._meta.get_fields() if hasattr(f, "max_length")}
    checked = []
    for name, field in serializer().fields.items():
        limit = columns.get(name)
        if limit is None or not hasattr(field, "max_length") or hasattr(field, "choices"):
            continue
        checked.append(name)
        assert field.max_length is not None and field.max_length <= limit, (name, limit)
    assert checked  # the table above names serializers that do map onto the model


def _deep(levels: int) -> str:
    return "[" * levels + "]" * levels


@pytest.fixture
def body_operations(ticket_a: Ticket, tmp_path: Path) -> list[tuple[str, str]]:
    """(method, path) of every API operation that takes a body, with ids of real objects."""
    analysis = MessageAnalysisFactory(ticket=ticket_a, draft_reply="We re-sent it.")
    action_catalogue_ensure()
    refund = RecoveryAction.objects.get(key="refund-partial")
    recommendation = Recommendation.objects.create(
        ticket=ticket_a, action=refund, amount="15.00", currency="EUR"
    )
    entry = ProactiveEntry.objects.create(
        customer=ticket_a.customer,
        team=ticket_a.team,
        ticket=ticket_a,
        probability=0.3,
        model_version="test",
    )
    ids = {
        "ticket_id": ticket_a.pk,
        "customer_id": ticket_a.customer_id,
        "recommendation_id": recommendation.pk,
        "proactive_id": entry.pk,
        "version": analysis.transcript_version,
    }
    schema = SchemaGenerator().get_schema(request=None, public=True)
    operations = [
        (method.upper(), path.format(**ids))
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if "requestBody" in operation
    ]
    assert len(operations) >= 7
    return operations


@pytest.mark.parametrize("levels", [100_000, JSON_MAX_DEPTH + 1])
def test_deeply_nested_json_is_400(
    api: Callable[[User], APIClient],
    admin_user: User,
    body_operations: list[tuple[str, str]],
    levels: int,
) -> None:
    client = api(admin_user)
    body = _deep(levels)
    before = (Ticket.objects.count(), Message.objects.count(), Recommendation.objects.count())

    answers = {
        (method, path): client.generic(method, path, body, content_type="application/json")
        for method, path in body_operations
    }

    assert {key: r.status_code for key, r in answers.items()} == dict.fromkeys(answers, 400)
    assert {r.json()["detail"] for r in answers.values()} == {
        f"JSON parse error - nested deeper than {JSON_MAX_DEPTH} levels"
    }
    assert (Ticket.objects.count(), Message.objects.count(), Recommendation.objects.count()) == (
        before
    )


def test_json_nested_to_the_limit_is_parsed(
    api: Callable[[User], APIClient], admin_user: User, ticket_a: Ticket
) -> None:
    """The limit only refuses depth: a body at the limit reaches the serializer as usual."""
    body = json.dumps({"body": "hello", "author_name": json.loads(_deep(JSON_MAX_DEPTH - 1))})

    response = api(admin_user).post(
        reverse("api:message-create", args=[ticket_a.pk]), body, content_type="application/json"
    )

    assert response.status_code == 400
    assert response.json() == {"author_name": ["Not a valid string."]}
