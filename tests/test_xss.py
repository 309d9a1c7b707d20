"""Hostile text in every text field the pages show, rendered escaped in every page and
fragment that shows it."""

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import Team, User
from copilot.models import ReplyEntry, ReplySource
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


def test_hostile_reply_text_is_stored_as_written_and_shown_escaped(
    client: Client, team_a: Team, admin_user: User
) -> None:
    # Through the admin's form (stored safely: the text is kept, never run) and as a built entry.
    client.force_login(admin_user)
    client.post(reverse("replies:add"), {"team": team_a.pk, "text": f"Sorry {XSS} {{url}}"})
    added = ReplyEntry.objects.get()
    assert "<script>alert(1)</script>" in added.text
    Team.objects.filter(pk=team_a.pk).update(name=f"Orders {XSS}")
    built = ReplyEntry.objects.create(
        team=team_a, text=XSS, key="k", source=ReplySource.HISTORY, embedding=b"", examples=[1]
    )

    for url in (
        reverse("replies:list"),
        reverse("replies:edit", args=[added.pk]),
        reverse("replies:edit", args=[built.pk]),
    ):
        for headers in ({}, {"HTTP_HX_REQUEST": "true"}):
            html = client.get(url, **headers).content.decode()
            assert "<script>alert(1)" not in html, url
            assert "<img src=x onerror" not in html, url
            assert ESCAPED in html, url
    toggled = client.post(
        reverse("replies:toggle", args=[built.pk]), {"active": "no"}, HTTP_HX_REQUEST="true"
    ).content.decode()
    assert "<script>alert(1)" not in toggled and ESCAPED in toggled
