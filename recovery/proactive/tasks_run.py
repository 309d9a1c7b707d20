"""The nightly run of predictive support, in the order each step needs the previous one."""

from __future__ import annotations

import logging

from core.errors import DomainError
from recovery.proactive.emerging import emerging_issues_detect
from recovery.proactive.models import WAITING, ProactiveEntry, ProactiveModelRun
from recovery.proactive.queue import proactive_outcomes_update, proactive_queue_refresh
from recovery.proactive.service import proactive_model_train

logger = logging.getLogger(__name__)


def proactive_nightly_run() -> None:
    # Outcomes first: they are the next training's `outreach_after_solve` and hit rate.
    proactive_outcomes_update()
    emerging_issues_detect()
    try:
        proactive_model_train()
    except DomainError as exc:
        # Too little history: the model in use (or the heuristic) stays; the queue still runs.
        logger.warning("Predictive support not retrained: %s", exc.message)
    proactive_queue_refresh()


def proactive_demo_refresh() -> str:
    """The nightly run once, for a freshly seeded demo; a line saying what it did."""
    proactive_nightly_run()
    entries = ProactiveEntry.objects.filter(status__in=WAITING).count()
    run = ProactiveModelRun.objects.order_by("-trained_at", "-id").first()
    model = run.version if run is not None else "the heuristic (too little history to train)"
    return f"{entries} customer(s) to reach out to, scored by {model}."
