"""The privacy log and pages read as sentences, never as raw Python dicts."""

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from accounts.models import User
from privacy.events import privacy_event
from privacy.models import PrivacyEventKind
from privacy.services import consent_record
from tests.factories import CustomerFactory
from tickets.consent import ConsentPurpose

pytestmark = pytest.mark.django_db


def test_privacy_log_details_read_as_sentences(client: Client, admin_user: User) -> None:
    customer = CustomerFactory()
    consent_record(
        customer=customer,
        purpose=ConsentPurpose.SIMILAR_CASES,
        granted=False,
        source="email",
        note="",
        by=admin_user,
    )
    privacy_event(
        kind=PrivacyEventKind.ERASED,
        customer=customer,
        actor=admin_user,
        data={"messages": 12, "tickets": 3, "analyses": 1, "exports": 0},
    )
    privacy_event(
        kind=PrivacyEventKind.EXPORT_READY,
        customer=customer,
        actor=None,
        data={"export_id": 7, "tickets": 1, "messages": 4},
    )
    client.force_login(admin_user)

    body = client.get(reverse("privacy:log")).content.decode()

    assert "Opted out of Similar-case examples (was opted in), recorded via email." in body
    assert "Removed or redacted 3 tickets, 12 messages and 1 copilot analysis." in body
    assert "Data package #7 ready: 1 ticket and 4 messages." in body
    assert "{&#x27;" not in body and "{'" not in body  # no dict printed
    customer_page = client.get(reverse("privacy:customer", args=[customer.pk])).content.decode()
    assert "Removed or redacted 3 tickets, 12 messages and 1 copilot analysis." in customer_page


def test_privacy_log_details_are_escaped(client: Client, admin_user: User) -> None:
    privacy_event(
        kind=PrivacyEventKind.CONSENT_CHANGED,
        customer=None,
        actor=admin_user,
        data={"purpose": "training", "granted": True, "was": False, "source": "<b>api</b>"},
    )
    client.force_login(admin_user)

    body = client.get(reverse("privacy:log")).content.decode()

    assert (
        "Opted in to Model training (was opted out), recorded via &lt;b&gt;api&lt;/b&gt;."
    ) in body
    assert "<b>api</b>" not in body


def test_erase_button_is_styled_as_dangerous(client: Client, admin_user: User) -> None:
    customer = CustomerFactory()
    client.force_login(admin_user)

    body = client.get(reverse("privacy:customer", args=[customer.pk])).content.decode()

    assert '<section class="card danger-zone">' in body
    assert '<button type="submit" class="danger">Erase customer</button>' in body
    css = (settings.BASE_DIR / "static" / "css" / "app.css").read_text()
    assert "button.danger { background: var(--bad);" in css


def test_erase_without_typed_confirmation_changes_nothing(client: Client, admin_user: User) -> None:
    customer = CustomerFactory(name="Zoe Park")
    client.force_login(admin_user)

    response = client.post(reverse("privacy:erase", args=[customer.pk]), {"confirm": "erase"})

    assert response.status_code == 422
    assert "Type ERASE (in capitals) to confirm." in response.content.decode()
    customer.refresh_from_db()
    assert customer.name == "Zoe Park"
    assert not customer.privacy_events.filter(kind=PrivacyEventKind.ERASED).exists()
