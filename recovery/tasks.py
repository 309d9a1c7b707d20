"""Celery tasks of the recovery app: thin, idempotent, keyed by primary keys."""

from celery import shared_task

from copilot.models import MessageAnalysis
from core.retry import TRANSIENT_ERRORS, retry_options
from recovery import services as services
from recovery.customer_features import (
    customer_signals_compute,
    customer_signals_refresh_all,
    customers_not_erased,
)
from recovery.hooks import HookTemporaryError
from recovery.proactive.queue import proactive_queue_refresh
from recovery.proactive.tasks_run import proactive_nightly_run

# Nightly or per message, and done again the next time: a few retries are enough.
REFRESH = {"max_retries": 3}


@shared_task(**retry_options(autoretry_for=(*TRANSIENT_ERRORS, HookTemporaryError), max_retries=8))
def execute_recovery(*, execution_id: int) -> None:
    """Carry out an approved recovery action (once: see execution_run)."""
    services.execution_run(execution_id=execution_id)


# Quick first retries: the agent is looking at the panel, waiting for its proposals.
@shared_task(**retry_options(retry_backoff=2, retry_backoff_max=60, max_retries=6))
def propose_recommendations(*, analysis_id: int) -> None:
    """Propose recovery actions for an analysis that finished (queued when it committed).

    Safe to run twice or late: a second run finds its run recorded and adds none; an analysis
    gone meanwhile, or a customer erased, gets none (see recommendations_propose). Sent again
    by beat while no run is recorded (requeue_missing_proposals).
    """
    analysis = MessageAnalysis.objects.filter(pk=analysis_id).first()
    if analysis is not None:
        services.recommendations_propose(analysis=analysis)


@shared_task(ignore_result=True)
def requeue_missing_proposals() -> None:
    """Every minute (beat): done analyses whose proposal task was lost are sent again."""
    services.proposal_runs_requeue_missing()


@shared_task(ignore_result=True)
def requeue_stale_executions() -> None:
    """Every minute (beat): approved actions whose task was lost are queued again."""
    services.executions_requeue_stale()


@shared_task(**retry_options(**REFRESH, retry_backoff=30))
def refresh_customer_signals() -> None:
    """Nightly: every customer's signals, and the outcomes of past recoveries."""
    services.recovery_outcomes_update()
    customer_signals_refresh_all()


@shared_task(**retry_options(**REFRESH))
def refresh_customer(*, customer_id: int) -> None:
    """After a customer writes: the outcomes of their past recoveries, then their signals."""
    customer = customers_not_erased().filter(pk=customer_id).first()
    if customer is not None:
        services.recovery_outcomes_update(customer=customer)
        customer_signals_compute(customer=customer)


@shared_task(**retry_options(**REFRESH, retry_backoff=30))
def proactive_nightly() -> None:
    """Nightly: outcomes of past entries, emerging issues, retraining, then the queue."""
    proactive_nightly_run()


@shared_task(**retry_options(**REFRESH))
def proactive_after_solve(*, ticket_id: int) -> None:
    """After a ticket is solved: the queue again, with this solve scored (safe to run twice:
    one waiting entry per customer, upserted)."""
    proactive_queue_refresh()
