"""Hostile text in every text field the pages show, rendered escaped in every page and
fragment that shows it."""

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import Team, User
from privacy.services import consent_record
from recovery.catalogue import action_catalogue_ensure
from recovery.models import RecoveryAction
from recovery.services import recommendation_add
from tests.factories import CustomerFactory, MessageAnalysisFactory, TicketFactory
from tickets.consent import ConsentPurpose

pytestmark = pytest.mark.django_db
XSS = '"><script>alert(1)</script><img src=x onerror=alert(2)>'
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"


def test_hostile_text_is_escaped_in_every_page_and_fragment(
    client: Client, team_a: Team, admin_user: User, agent: User, supervisor: User
) -> None:
    action_catalogue_ensure()
    customer = CustomerFactory(name=f"Eve {XSS}", email="eve@example.com")
    ticket = TicketFactory(team=team_a, customer=customer, subject=f"Help {XSS}", first_message=XSS)
    MessageAnalysisFactory(
        ticket=ticket,
        finished_at=timezone.now(),
        sentiment="negative",
        sentiment_score=-0.9,
        sentiment_confidence=0.9,
        intent=f"intent {XSS}",
        intent_confidence=0.9,
        draft_reply=f"Hi {XSS}",
        draft_reasons=[f"because {XSS}"],
        duration_ms=5,
    )
    recommendation_add(
        ticket=ticket,
        user=agent,
        action=RecoveryAction.objects.get(key="callback"),
        reason=f"asked {XSS}",
    )
    consent_record(
        customer=customer,
        purpose=ConsentPurpose.TRAINING,
        granted=False,
        source="phone",
        note=f"note {XSS}",
        by=admin_user,
    )
    pages = {
        agent: [
            reverse("desk:inbox"),
            reverse("desk:ticket", args=[ticket.pk]),
            reverse("desk:ticket-transcript", args=[ticket.pk]),
            reverse("desk:copilot-panel", args=[ticket.pk]),
            reverse("desk:recovery-panel", args=[ticket.pk]),
        ],
        supervisor: [reverse("supervision:overrides")],
        admin_user: [
            reverse("privacy:customers") + "?q=Eve",
            reverse("privacy:customer", args=[customer.pk]),
        ],
    }

    for user, urls in pages.items():
        client.force_login(user)
        for url in urls:
            for headers in ({}, {"HTTP_HX_REQUEST": "true"}):
                html = client.get(url, **headers).content.decode()
                assert "<script>alert(1)" not in html, url
                assert "<img src=x onerror" not in html, url
                assert ESCAPED in html, url
    # The privacy log holds no free text at all (ids, purposes, states).
    assert "alert(" not in client.get(reverse("privacy:log")).content.decode()
