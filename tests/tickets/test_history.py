"""Histories read as sentences or lists of named values, never as raw Python dicts."""

import pytest
from django.contrib.admin.sites import site
from django.test import Client
from django.urls import reverse

from accounts.models import User
from copilot.models import MessageAnalysis
from core.display import definition_list
from recovery.models import CustomerSignals
from tickets.events import ticket_event_status_changed
from tickets.history import event_sentence
from tickets.models import Ticket

pytestmark = pytest.mark.django_db


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


def test_admin_ticket_history_reads_as_sentences(
    client: Client, ticket_a: Ticket, agent: User
) -> None:
    ticket_event_status_changed(ticket=ticket_a, actor=agent, old="open", new="pending")
    superuser = User.objects.create_superuser("root", "root@example.com", "pw-long-enough-1")
    client.force_login(superuser)

    body = client.get(reverse("admin:tickets_ticket_change", args=[ticket_a.pk])).content.decode()

    assert "Status changed from Open to Pending customer." in body
    assert "{&quot;from&quot;" not in body and "&#x27;from&#x27;" not in body
