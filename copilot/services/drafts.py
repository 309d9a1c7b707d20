"""The agent's decisions on drafted replies: sent (as is or edited) or discarded."""

from django.db import transaction

from accounts.models import User
from copilot.models import (
    DraftDecision,
    DraftDecisionEvent,
    MessageAnalysis,
)
from copilot.selectors import (
    draft_text_for_agent,
    suggestion_texts_for_agent,
)
from copilot.services.intake import agent_reply_send
from copilot.signals import draft_decided
from core.errors import Conflict, DomainError


def _draft_lock(*, analysis: MessageAnalysis) -> MessageAnalysis:
    """Lock the analysis and make sure its draft is still open for a decision."""
    locked = MessageAnalysis.objects.select_for_update().get(pk=analysis.pk)
    if not locked.draft_reply and not locked.suggestions:
        raise DomainError("This analysis has no drafted reply.", field="draft", code="no_draft")
    if DraftDecisionEvent.objects.filter(analysis=locked).exists():
        raise Conflict(
            "Someone already decided on this draft.", field="draft", code="already_decided"
        )
    return locked


@transaction.atomic
def draft_reply_send(
    *, analysis: MessageAnalysis, agent: User, body: str, suggestion: int | None = None
) -> DraftDecisionEvent:
    """Send a reply that started from the draft, or from suggestion number `suggestion` (0 the
    best): recorded as used as is, or edited with its text, and which library entry it was.

    "Use" only puts the draft, signed by this agent, into the reply box; this is the one place
    a draft is sent. What was proposed is the draft as this agent was offered it (signed with
    the agent's name, slots filled from this ticket), so one sent unchanged counts as used.
    """
    locked = _draft_lock(analysis=analysis)
    entry_id: int | None = None
    if suggestion is not None and 0 <= suggestion < len(locked.suggestions):
        proposed = suggestion_texts_for_agent(analysis=locked, agent=agent)[suggestion]
        entry_id = int(locked.suggestions[suggestion]["entry_id"])
        originals = {proposed.strip()}
    elif locked.draft_reply:
        proposed = draft_text_for_agent(analysis=locked, agent=agent)
        originals = {proposed.strip(), locked.draft_reply.strip()}
    else:
        raise DomainError("This analysis has no drafted reply.", field="draft", code="no_draft")
    message = agent_reply_send(ticket=locked.ticket, body=body, agent=agent)
    unchanged = message.body.strip() in originals
    event = DraftDecisionEvent.objects.create(
        analysis=locked,
        agent=agent,
        decision=DraftDecision.ACCEPTED if unchanged else DraftDecision.EDITED,
        proposed_text=proposed,
        final_text=message.body,
        message=message,
        suggestion_entry_id=entry_id,
    )
    draft_decided.send(sender=DraftDecisionEvent, decision=event)
    return event


@transaction.atomic
def draft_discard(*, analysis: MessageAnalysis, agent: User) -> DraftDecisionEvent:
    locked = _draft_lock(analysis=analysis)
    event = DraftDecisionEvent.objects.create(
        analysis=locked,
        agent=agent,
        decision=DraftDecision.DISCARDED,
        proposed_text=locked.draft_reply,
    )
    draft_decided.send(sender=DraftDecisionEvent, decision=event)
    return event


# An analysis not picked up this long after it was requested (or last picked up by a worker that
# then died) has lost its task: beat sends it again. Each further re-send waits twice as long
# for the one before to be picked up (4, 8, 16 minutes), and when the last of REQUEUE_LIMIT
# re-sends is not picked up within 32 minutes the analysis fails with the reason: sent at 2, 6,
# 14 and 30 minutes, failed at 62. A backlog is not a loss: re-sending every stale analysis every
# minute grew a backlogged queue to 711 tasks under load.
