"""Celery tasks of the privacy app: retention and customers' data packages."""

from celery import shared_task

from core.retry import retry_options
from privacy.exports import services as export_services
from privacy.services import retention_enforce


@shared_task(**retry_options(retry_backoff=30, max_retries=3))
def enforce_retention() -> None:
    """Nightly (beat): apply the configured retention periods."""
    retention_enforce()


@shared_task(**retry_options())
def build_customer_export(*, export_id: int) -> None:
    """Build a customer's data package (requested by an admin); safe to run twice."""
    export_services.export_build(export_id=export_id)
