"""The agent stays in control of a drafted reply: Use fills the reply box and never sends, the
agent's own name signs it, and a slot nothing filled ("[order number]") cannot be sent."""

from collections.abc import Callable

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import User
from copilot.models import DraftDecision, DraftDecisionEvent, MessageAnalysis
from copilot.nlp.deid import draft_sign, markers_in
from copilot.services.drafts import draft_reply_send
from core.errors import DomainError
from tests.factories import MessageAnalysisFactory
from tickets.models import Ticket

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}
DRAFT = "Hi Ann, your parcel [order number] has been re-sent.\n\nBest,\n[agent name]"
SUGGESTED = "Hi {customer_first_name}, your parcel {order_number} has been re-sent."


@pytest.fixture
def analysis(ticket_a: Ticket) -> MessageAnalysis:
    return MessageAnalysisFactory(
        ticket=ticket_a,
        finished_at=timezone.now(),
        sentiment="neutral",
        intent="track_order",
        draft_reply=DRAFT,
        draft_reasons=["based on case #1"],
        # The panel shows suggestions (the single draft is no longer shown there).
        suggestions=[{"entry_id": 1, "text": SUGGESTED, "score": 0.9}],
        selector_version="cosine",
        duration_ms=40,
    )


def _use_url(analysis: MessageAnalysis) -> str:
    return reverse("desk:draft-use", args=[analysis.ticket_id, analysis.pk])


def test_use_never_sends_it_fills_the_reply_box(
    login: Callable[[User], Client], agent: User, analysis: MessageAnalysis
) -> None:
    messages_before = analysis.ticket.messages.count()

    response = login(agent).get(_use_url(analysis), **HX)

    assert response.status_code == 200
    content = response.content.decode()
    assert content.lstrip().startswith(f'<form id="ticket-{analysis.ticket_id}-reply"')
    assert f'name="draft" value="{analysis.pk}"' in content
    assert "autofocus" in content and 'data-focus="use"' in content
    assert analysis.ticket.messages.count() == messages_before
    assert not DraftDecisionEvent.objects.exists()


def test_use_by_post_sends_nothing(
    login: Callable[[User], Client], agent: User, analysis: MessageAnalysis
) -> None:
    response = login(agent).post(_use_url(analysis), **HX)

    assert response.status_code == 405
    assert analysis.ticket.messages.count() == 1
    assert not DraftDecisionEvent.objects.exists()


def test_use_without_javascript_opens_the_page_with_the_reply_box_filled(
    login: Callable[[User], Client], agent: User, analysis: MessageAnalysis
) -> None:
    client = login(agent)

    response = client.get(_use_url(analysis))

    url = reverse("desk:ticket", args=[analysis.ticket_id])
    assert response.status_code == 302
    assert response["Location"] == f"{url}?draft={analysis.pk}#ticket-{analysis.ticket_id}-reply"
    page = client.get(response["Location"]).content.decode()
    assert f'name="draft" value="{analysis.pk}"' in page
    assert "your parcel [order number] has been re-sent." in page
    assert analysis.ticket.messages.count() == 1


def test_use_signs_the_draft_with_the_agents_own_name(
    login: Callable[[User], Client], agent: User, analysis: MessageAnalysis
) -> None:
    agent.first_name = "Alice"
    agent.save(update_fields=["first_name"])

    content = login(agent).get(_use_url(analysis), **HX).content.decode()

    assert "Best,\nAlice</textarea>" in content
    assert "[agent name]" not in content


def test_draft_sign_adds_a_sign_off_and_replaces_the_assignees() -> None:
    assert draft_sign("Re-sent today.", agent_name="Alice") == "Re-sent today.\n\nAlice"
    assert draft_sign("Re-sent.\nBest, Bob", agent_name="Alice", filled_name="Bob") == (
        "Re-sent.\nBest, Alice"
    )
    assert draft_sign("Re-sent.\n[agent name]", agent_name="Alice") == "Re-sent.\nAlice"


def test_unfilled_slots_are_highlighted_in_panel_and_under_the_reply_box(
    login: Callable[[User], Client], agent: User, analysis: MessageAnalysis
) -> None:
    client = login(agent)

    page = client.get(reverse("desk:ticket", args=[analysis.ticket_id])).content.decode()
    box = client.get(_use_url(analysis), **HX).content.decode()

    assert '<mark class="slot">[order number]</mark>' in page
    assert "Still to fill in before sending" in box
    assert '<mark class="slot">[order number]</mark>' in box


def test_reply_with_unfilled_slot_marker_is_refused_and_nothing_stored(
    login: Callable[[User], Client], agent: User, analysis: MessageAnalysis
) -> None:
    response = login(agent).post(
        reverse("desk:ticket-reply", args=[analysis.ticket_id]),
        {"body": "Hi Ann, your parcel [order number] is on its way.", "draft": analysis.pk},
        **HX,
    )

    assert response.status_code == 422
    content = response.content.decode()
    assert "Fill in [order number] before sending" in content
    assert analysis.ticket.messages.count() == 1
    assert not DraftDecisionEvent.objects.exists()


def test_draft_sent_with_unfilled_slot_marker_is_refused_by_the_service(
    agent: User, analysis: MessageAnalysis
) -> None:
    with pytest.raises(DomainError) as err:
        draft_reply_send(analysis=analysis, agent=agent, body=DRAFT)

    assert (err.value.field, err.value.code) == ("body", "unfilled_slot")
    assert "[order number], [agent name]" in err.value.message
    assert analysis.ticket.messages.count() == 1
    assert not DraftDecisionEvent.objects.exists()


def test_api_reply_with_unfilled_slot_marker_is_refused(
    api: Callable[[User], APIClient], agent: User, ticket_a: Ticket
) -> None:
    response = api(agent).post(
        reverse("api:message-create", args=[ticket_a.pk]),
        {"body": "See [url] for the label.", "author_kind": "agent"},
        format="json",
    )

    assert response.status_code == 400
    assert "[url]" in response.json()["body"][0]
    assert ticket_a.messages.count() == 1


def test_used_draft_sent_after_filling_the_slot_counts_as_edited(
    agent: User, analysis: MessageAnalysis
) -> None:
    agent.first_name = "Alice"
    agent.save(update_fields=["first_name"])
    final = "Hi Ann, your parcel 4411 has been re-sent.\n\nBest,\nAlice"

    event = draft_reply_send(analysis=analysis, agent=agent, body=final)

    assert (event.decision, event.final_text) == (DraftDecision.EDITED, final)
    assert (
        event.proposed_text
        == "Hi Ann, your parcel [order number] has been re-sent.\n\nBest,\nAlice"
    )
    assert analysis.ticket.messages.last().body == final


def test_used_draft_sent_unchanged_counts_as_used_as_is(agent: User, ticket_a: Ticket) -> None:
    agent.first_name = "Alice"
    agent.save(update_fields=["first_name"])
    analysis = MessageAnalysisFactory(
        ticket=ticket_a, finished_at=timezone.now(), draft_reply="Re-sent today.\n[agent name]"
    )

    event = draft_reply_send(analysis=analysis, agent=agent, body="Re-sent today.\nAlice")

    assert event.decision == DraftDecision.ACCEPTED


def test_markers_are_only_the_known_slots() -> None:
    assert markers_in("[order number] and [url], [see above], [order number]") == (
        "[order number]",
        "[url]",
    )
