"""What recovery does when the copilot announces something (copilot.signals), connected in
`RecoveryConfig.ready()`. Receivers only queue a task or write the one event row the moment
calls for; the work itself is in services."""

from typing import Any

from copilot.models import DraftDecisionEvent
from copilot.signals import analysis_completed, draft_decided
from recovery.events import audit_draft_decided
from recovery.tasks import propose_recommendations


def analysis_completed_propose(*, analysis_id: int, **kwargs: Any) -> None:
    """Sent after the analysis committed: its proposals are computed by their own task. If it
    cannot be queued (the broker down), the error is logged by `send_robust` and beat sends it
    later: the analysis has no recorded proposal run (`requeue_missing_proposals`)."""
    propose_recommendations.delay(analysis_id=analysis_id)


def draft_decided_audit(*, decision: DraftDecisionEvent, **kwargs: Any) -> None:
    """Sent inside the decision's transaction: the audit row commits or rolls back with it."""
    audit_draft_decided(decision=decision)


def receivers_connect() -> None:
    # dispatch_uid: connected once however often ready() runs (tests may re-run it).
    analysis_completed.connect(
        analysis_completed_propose, dispatch_uid="recovery.analysis_completed_propose"
    )
    draft_decided.connect(draft_decided_audit, dispatch_uid="recovery.draft_decided_audit")
