"""Health endpoints: liveness without dependencies, readiness naming what fails."""

from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from copilot.cases import case_index_rebuild
from core.models import Heartbeat
from core.tasks import heartbeat
from tests.worker import celery_worker, wait_for

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("copilot_dirs")]


def test_liveness_needs_no_login_and_no_dependency(client: Client) -> None:
    response = client.get(reverse("health-live"))

    assert (response.status_code, response.json()) == (200, {"status": "ok"})
    assert "no-cache" in response["Cache-Control"]


def test_readiness_names_what_fails(client: Client) -> None:
    # No worker has ever beaten, no index is published: both are named; the database and the
    # broker (the real Redis) are fine.
    response = client.get(reverse("health-ready"))

    assert response.status_code == 503
    checks = response.json()["checks"]
    assert (checks["database"]["ok"], checks["broker"]["ok"]) == (True, True)
    assert checks["workers"] == {
        "ok": False,
        "queues": {q: {"last_heartbeat_seconds": None} for q in settings.CELERY_WORKER_QUEUES},
    }
    assert checks["index"] == {"ok": False, "generation": None}


def test_ready_when_workers_beat_and_the_index_is_published(client: Client) -> None:
    for queue in settings.CELERY_WORKER_QUEUES:
        Heartbeat.objects.create(queue=queue, at=timezone.now())
    generation = case_index_rebuild(progress=None).manifest.generation  # type: ignore[union-attr]

    response = client.get(reverse("health-ready"))

    assert response.status_code == 200
    assert response.json()["checks"]["index"] == {"ok": True, "generation": generation}


def test_a_stale_heartbeat_fails_readiness(client: Client) -> None:
    for queue in settings.CELERY_WORKER_QUEUES:
        Heartbeat.objects.create(queue=queue, at=timezone.now() - timezone.timedelta(minutes=5))

    response = client.get(reverse("health-ready"))

    assert response.json()["checks"]["workers"]["ok"] is False


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_answers_the_heartbeat(tmp_path: Path, empty_queue: None) -> None:
    queue = settings.CELERY_WORKER_QUEUES[0]
    with celery_worker(tmp_path / "worker.log"):
        heartbeat.apply_async(kwargs={"queue": queue}, queue=queue)
        wait_for(lambda: Heartbeat.objects.filter(queue=queue).exists(), what="a heartbeat")
