import socket

from celery import shared_task
from django.utils import timezone

from core.models import Heartbeat


@shared_task(ignore_result=True)
def heartbeat(*, queue: str) -> None:
    """Scheduled on every queue by beat; the health endpoint reads how long ago it last ran."""
    Heartbeat.objects.update_or_create(
        queue=queue, defaults={"at": timezone.now(), "worker": socket.gethostname()}
    )
