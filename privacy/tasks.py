"""Celery tasks of the privacy app: retention and customers' data packages."""

from celery import shared_task
from django.db import InterfaceError, OperationalError

from privacy.exports.services import export_build
from privacy.services import retention_enforce

TRANSIENT = (OperationalError, InterfaceError)


@shared_task(acks_late=True, autoretry_for=TRANSIENT, retry_backoff=30, max_retries=3)
def enforce_retention() -> None:
    """Nightly (beat): apply the configured retention periods."""
    retention_enforce()


@shared_task(
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=TRANSIENT,
    retry_backoff=5,
    max_retries=5,
)
def build_customer_export(*, export_id: int) -> None:
    """Build a customer's data package (requested by an admin); safe to run twice."""
    export_build(export_id=export_id)
