"""The agent's decisions on a drafted reply: used as is, edited, discarded; recorded once."""

import pytest
from django.utils import timezone

from accounts.models import User
from copilot.models import DraftDecision, DraftDecisionEvent, MessageAnalysis
from copilot.services.drafts import draft_discard, draft_reply_send
from core.errors import Conflict
from tests.factories import MessageAnalysisFactory
from tickets.models import Ticket

pytestmark = pytest.mark.django_db
DRAFT = "Hi Ann, I'm sorry about the delay. Your parcel 4411 has been re-sent."


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
        duration_ms=40,
    )


def test_sending_changed_draft_records_edit_with_final_text(
    analysis: MessageAnalysis, agent: User
) -> None:
    event = draft_reply_send(analysis=analysis, agent=agent, body=DRAFT + " Tracking: XY12.")

    assert event.decision == DraftDecision.EDITED
    assert event.final_text == DRAFT + " Tracking: XY12."
    assert event.proposed_text == DRAFT + "\n\n" + agent.first_name  # as offered: signed


def test_sending_unchanged_draft_counts_as_used(analysis: MessageAnalysis, agent: User) -> None:
    event = draft_reply_send(analysis=analysis, agent=agent, body=DRAFT + "\n")

    assert event.decision == DraftDecision.ACCEPTED


def test_discard_records_and_sends_nothing(analysis: MessageAnalysis, agent: User) -> None:
    event = draft_discard(analysis=analysis, agent=agent)

    assert event.decision == DraftDecision.DISCARDED
    assert analysis.ticket.messages.count() == 1


def test_second_decision_is_refused_and_sends_nothing(
    analysis: MessageAnalysis, agent: User, supervisor: User
) -> None:
    draft_discard(analysis=analysis, agent=agent)

    with pytest.raises(Conflict):
        draft_reply_send(analysis=analysis, agent=supervisor, body=DRAFT)

    assert DraftDecisionEvent.objects.count() == 1
    assert analysis.ticket.messages.count() == 1
