"""What recovery does when the copilot announces something (copilot.signals), connected in
`RecoveryConfig.ready()`. Receivers only queue a task or write the one event row the moment
calls for; the work itself is in services."""

import logging
from typing import Any

from django.db import transaction
from django.db.models.signals import post_save

from copilot.models import DraftDecisionEvent
from copilot.signals import analysis_completed, draft_decided
from recovery.events import audit_draft_decided
from recovery.tasks import proactive_after_solve, propose_recommendations
from tickets.models import Status, TicketEvent, TicketEventKind

logger = logging.getLogger(__name__)


def analysis_completed_propose(*, analysis_id: int, **kwargs: Any) -> None:
    """Sent after the analysis committed: its proposals are computed by their own task. If it
    cannot be queued (the broker down), the error is logged by `send_robust` and beat sends it
    later: the analysis has no recorded proposal run (`requeue_missing_proposals`)."""
    propose_recommendations.delay(analysis_id=analysis_id)


def draft_decided_audit(*, decision: DraftDecisionEvent, **kwargs: Any) -> None:
    """Sent inside the decision's transaction: the audit row commits or rolls back with it."""
    audit_draft_decided(decision=decision)


def ticket_solved_score(*, instance: TicketEvent, created: bool, **kwargs: Any) -> None:
    """A ticket solved: once the solve commits, the queue is refreshed with it scored. A
    broker that is down is logged; the nightly run scores the solve anyway."""
    if not created or instance.kind != TicketEventKind.STATUS_CHANGED:
        return
    if instance.data.get("to") != Status.SOLVED.value:
        return
    ticket_id = instance.ticket_id

    def queue() -> None:
        try:
            proactive_after_solve.delay(ticket_id=ticket_id)
        except Exception:
            logger.exception("Could not queue the proactive scoring of ticket %s", ticket_id)

    transaction.on_commit(queue)


def receivers_connect() -> None:
    # dispatch_uid: connected once however often ready() runs (tests may re-run it).
    analysis_completed.connect(
        analysis_completed_propose, dispatch_uid="recovery.analysis_completed_propose"
    )
    draft_decided.connect(draft_decided_audit, dispatch_uid="recovery.draft_decided_audit")
    post_save.connect(
        ticket_solved_score, sender=TicketEvent, dispatch_uid="recovery.ticket_solved_score"
    )
