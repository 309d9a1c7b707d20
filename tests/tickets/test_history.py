"""Histories read as sentences or lists of named values, never as raw Python dicts."""

import pytest
from django.conf import settings
from django.contrib.admin.sites import site
from django.test import Client
from django.urls import reverse

from accounts.models import User
from copilot.models import MessageAnalysis
from core.display import definition_list
from recovery.models import CustomerSignals
from tests.factories import CustomerFactory
from tickets.events import privacy_event, ticket_event_status_changed
from tickets.history import event_sentence
from tickets.models import ConsentPurpose, PrivacyEventKind, Ticket
from tickets.privacy import consent_record

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


def test_ticket_events_read_as_sentences(ticket_a: Ticket, agent: User) -> None:
    event = ticket_event_status_changed(ticket=ticket_a, actor=agent, old="open", new="solved")
    assert event_sentence(event) == "Status changed from Open to Solved."


def test_audit_details_render_as_escaped_definition_list() -> None:
    html = definition_list({"action": "refund", "amount": "10.00", "note": "<script>"})
    assert html == (
        '<dl class="details"><dt>Action</dt><dd>refund</dd><dt>Amount</dt><dd>10.00</dd>'
        "<dt>Note</dt><dd>&lt;script&gt;</dd></dl>"
    )


def test_admin_names_models_in_proper_plural(client: Client, admin_user: User) -> None:
    assert str(MessageAnalysis._meta.verbose_name_plural) == "message analyses"
    assert str(CustomerSignals._meta.verbose_name_plural) == "customer signals"
    superuser = User.objects.create_superuser("root", "root@example.com", "pw-long-enough-1")
    client.force_login(superuser)
    body = client.get(reverse("admin:index")).content.decode()
    assert "Message analyses" in body and "Customer signals" in body
    assert "analysiss" not in body.lower() and "signalss" not in body.lower()
    assert MessageAnalysis in site._registry


def test_erase_button_is_styled_as_dangerous(client: Client, admin_user: User) -> None:
    customer = CustomerFactory()
    client.force_login(admin_user)

    body = client.get(reverse("privacy:customer", args=[customer.pk])).content.decode()

    assert '<section class="card danger-zone">' in body
    assert '<button type="submit" class="danger">Erase customer</button>' in body
    css = (settings.BASE_DIR / "static" / "css" / "app.css").read_text()
    assert "button.danger { background: var(--bad);" in css


def test_admin_ticket_history_reads_as_sentences(
    client: Client, ticket_a: Ticket, agent: User
) -> None:
    ticket_event_status_changed(ticket=ticket_a, actor=agent, old="open", new="pending")
    superuser = User.objects.create_superuser("root", "root@example.com", "pw-long-enough-1")
    client.force_login(superuser)

    body = client.get(reverse("admin:tickets_ticket_change", args=[ticket_a.pk])).content.decode()

    assert "Status changed from Open to Pending customer." in body
    assert "{&quot;from&quot;" not in body and "&#x27;from&#x27;" not in body


def test_erase_without_typed_confirmation_changes_nothing(client: Client, admin_user: User) -> None:
    customer = CustomerFactory(name="Zoe Park")
    client.force_login(admin_user)

    response = client.post(reverse("privacy:erase", args=[customer.pk]), {"confirm": "erase"})

    assert response.status_code == 422
    assert "Type ERASE (in capitals) to confirm." in response.content.decode()
    customer.refresh_from_db()
    assert customer.name == "Zoe Park"
    assert not customer.privacy_events.filter(kind=PrivacyEventKind.ERASED).exists()
