"""The errors that are worth a retry, and how Celery tasks retry them: one definition for every
task (and for the error page that tells a client to retry)."""

from typing import Any

from django.db import InterfaceError, OperationalError

# The database gone for a moment (a restart, a failover, a dropped connection): the same work
# succeeds once it is back. Anything else is a bug or a refusal, and retrying it only repeats it.
TRANSIENT_ERRORS: tuple[type[Exception], ...] = (OperationalError, InterfaceError)

# Retried through a transient error only, backing off exponentially from `retry_backoff` seconds
# up to `retry_backoff_max` (Celery's own default). That no task is lost when its worker dies
# (acknowledged late, handed on) is the settings' CELERY_TASK_ACKS_LATE and
# CELERY_TASK_REJECT_ON_WORKER_LOST, for every task.
RETRY_TRANSIENT: dict[str, Any] = {
    "autoretry_for": TRANSIENT_ERRORS,
    "retry_backoff": 5,
    "retry_backoff_max": 600,
    "max_retries": 5,
}


def retry_options(**overrides: Any) -> dict[str, Any]:
    """RETRY_TRANSIENT with what one task tunes (its back-off, its number of retries, an error
    of its own that is transient too), for `@shared_task(**retry_options(...))`."""
    unknown = overrides.keys() - RETRY_TRANSIENT.keys()
    if unknown:
        raise TypeError(f"not a retry option: {', '.join(sorted(unknown))}")
    return {**RETRY_TRANSIENT, **overrides}
