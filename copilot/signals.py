"""What the copilot publishes for the layers above it (recovery), which it must not import.

Two moments, each with its own timing, because the work they start has different needs:

- `analysis_completed` is sent after the transaction that stored an analysis as done has
  committed (`analysis_completed_publish`). Whatever a receiver starts runs outside that
  transaction and cannot hold it up or roll it back; a receiver queues work, it does none.
- `draft_decided` is sent inside the transaction that records an agent's decision on a draft,
  so a receiver's rows commit or roll back with the decision (the audit trail must never miss
  one, even if the process dies right after the commit).
"""

from django.db import transaction
from django.dispatch import Signal

# kwargs: analysis_id (int). Sent on commit only: the analysis is done and visible to others.
analysis_completed = Signal()
# kwargs: decision (copilot.models.DraftDecisionEvent). Sent inside the decision's transaction.
draft_decided = Signal()


def analysis_completed_publish(*, analysis_id: int) -> None:
    """Announce a done analysis once the current transaction commits (at once outside one).

    `send_robust`: a receiver that fails (the broker down when it queues) is logged by Django
    and does not turn the stored analysis into an error of the task that stored it.
    """
    transaction.on_commit(
        lambda: analysis_completed.send_robust(sender=None, analysis_id=analysis_id)
    )
