"""The copilot panel on the ticket page and the drafted reply's buttons: full page and htmx
fragments; Use and Edit fill the reply box, Discard records, each once."""

from collections.abc import Callable

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from copilot.models import DraftDecision, DraftDecisionEvent, MessageAnalysis
from copilot.selectors import draft_text_for_agent
from tests.factories import MessageAnalysisFactory
from tickets.models import Ticket

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}
DRAFT = "Hi Ann, I'm sorry about the delay. Your parcel 4411 has been re-sent."
SUGGESTED = "We have re-sent your parcel {order_number} by express post."


@pytest.fixture
def analysis(ticket_a: Ticket) -> MessageAnalysis:
    return MessageAnalysisFactory(
        ticket=ticket_a,
        finished_at=timezone.now(),
        sentiment="negative",
        sentiment_score=-0.8,
        sentiment_confidence=0.9,
        intent="track_order",
        intent_confidence=0.82,
        draft_reply=DRAFT,
        draft_reasons=["based on case #1"],
        suggestions=[{"entry_id": 1, "text": SUGGESTED, "score": 0.8}],
        selector_version="cosine",
        duration_ms=40,
    )


def test_ticket_page_shows_panel_with_signals_and_suggestions_not_the_old_draft(
    login: Callable[[User], Client], agent: User, analysis: MessageAnalysis
) -> None:
    response = login(agent).get(reverse("desk:ticket", args=[analysis.ticket_id]))

    content = response.content.decode()
    assert f'id="ticket-{analysis.ticket_id}-analysis"' in content
    assert "Negative" in content and "Track order" in content and "82%" in content
    assert "We have re-sent your parcel" in content
    # The suggestions replaced the single draft on the panel; it stays stored.
    assert "Your parcel 4411 has been re-sent." not in content
    assert "Drafted reply" not in content and "Why this draft" not in content
    assert analysis.draft_reply == DRAFT
    panel_tag = content.split(f'id="ticket-{analysis.ticket_id}-analysis"', 1)[1].split(">", 1)[0]
    assert "every 2s" not in panel_tag  # finished: the copilot panel does not poll


def test_panel_polls_while_analysis_pending(
    login: Callable[[User], Client], agent: User, analysis: MessageAnalysis
) -> None:
    MessageAnalysis.objects.create(
        ticket=analysis.ticket,
        transcript_version=2,
        message=analysis.message,
        requested_at=timezone.now(),
    )

    response = login(agent).get(reverse("desk:copilot-panel", args=[analysis.ticket_id]), **HX)

    content = response.content.decode()
    assert content.lstrip().startswith(f'<section id="ticket-{analysis.ticket_id}-analysis"')
    assert 'hx-trigger="every 2s"' in content
    assert "Analysing the latest message" in content
    assert "We have re-sent your parcel" in content  # the previous analysis stays visible


def test_use_button_with_htmx_fills_the_reply_box_and_records_nothing(
    login: Callable[[User], Client], agent: User, analysis: MessageAnalysis
) -> None:
    url = reverse("desk:draft-use", args=[analysis.ticket_id, analysis.pk])

    response = login(agent).get(url, **HX)

    assert response.status_code == 200
    content = response.content.decode()
    assert content.lstrip().startswith(f'<form id="ticket-{analysis.ticket_id}-reply"')
    assert "Your parcel 4411 has been re-sent." in content
    assert not DraftDecisionEvent.objects.exists()
    assert analysis.ticket.messages.filter(author_kind="agent").count() == 0


def test_use_then_send_twice_sends_once(
    login: Callable[[User], Client], agent: User, analysis: MessageAnalysis
) -> None:
    client = login(agent)
    reply = reverse("desk:ticket-reply", args=[analysis.ticket_id])
    body = draft_text_for_agent(analysis=analysis, agent=agent)
    client.post(reply, {"body": body, "draft": analysis.pk}, **HX)

    second = client.post(reply, {"body": body, "draft": analysis.pk}, **HX)

    assert second.status_code == 422
    assert analysis.ticket.messages.filter(author_kind="agent").count() == 1
    assert DraftDecisionEvent.objects.get().decision == DraftDecision.ACCEPTED


def test_edit_fills_reply_box_and_send_records_edit(
    login: Callable[[User], Client], agent: User, analysis: MessageAnalysis
) -> None:
    client = login(agent)
    edit = client.get(reverse("desk:draft-edit", args=[analysis.ticket_id, analysis.pk]), **HX)
    assert edit.content.lstrip().startswith(
        f'<form id="ticket-{analysis.ticket_id}-reply"'.encode()
    )
    assert DRAFT.replace("'", "&#x27;").encode() in edit.content
    assert f'name="draft" value="{analysis.pk}"'.encode() in edit.content

    client.post(
        reverse("desk:ticket-reply", args=[analysis.ticket_id]),
        {"body": "Hi Ann, re-sent today.", "draft": analysis.pk},
        **HX,
    )

    event = DraftDecisionEvent.objects.get()
    assert (event.decision, event.final_text) == (DraftDecision.EDITED, "Hi Ann, re-sent today.")


def test_edit_without_javascript_prefills_the_page(
    login: Callable[[User], Client], agent: User, analysis: MessageAnalysis
) -> None:
    response = login(agent).get(
        reverse("desk:ticket", args=[analysis.ticket_id]), {"draft": analysis.pk}
    )

    assert f'name="draft" value="{analysis.pk}"'.encode() in response.content


def test_discard_with_htmx(
    login: Callable[[User], Client], agent: User, analysis: MessageAnalysis
) -> None:
    response = login(agent).post(
        reverse("desk:draft-discard", args=[analysis.ticket_id, analysis.pk]), **HX
    )

    assert response.status_code == 200
    assert b"Discarded by alice" in response.content
    assert analysis.ticket.messages.count() == 1


@pytest.mark.parametrize(
    ("method", "name"), [("get", "desk:draft-use"), ("post", "desk:draft-discard")]
)
def test_other_team_cannot_decide(
    login: Callable[[User], Client],
    other_agent: User,
    analysis: MessageAnalysis,
    method: str,
    name: str,
) -> None:
    client = login(other_agent)
    response = getattr(client, method)(reverse(name, args=[analysis.ticket_id, analysis.pk]), **HX)

    assert response.status_code == 404
    assert not DraftDecisionEvent.objects.exists()


def test_analysis_of_another_ticket_cannot_be_used_through_this_one(
    login: Callable[[User], Client], agent: User, analysis: MessageAnalysis, team_a
) -> None:
    from tests.factories import TicketFactory

    other = TicketFactory(team=team_a)

    response = login(agent).get(reverse("desk:draft-use", args=[other.pk, analysis.pk]), **HX)

    assert response.status_code == 404
    assert not DraftDecisionEvent.objects.exists()
