"""Health endpoints: liveness, the web tier's readiness (database, cache) and the copilot's
status (broker, workers, backlog, index), each naming what fails; the supervisors' panel."""

from collections.abc import Callable
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from pytest_django.fixtures import Settings

from accounts.models import User
from copilot.services.cases import case_index_rebuild
from core.models import Heartbeat
from core.tasks import heartbeat
from tests.worker import celery_worker, wait_for

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("copilot_dirs")]


def test_liveness_needs_no_login_and_no_dependency(client: Client) -> None:
    response = client.get(reverse("health-live"))

    assert (response.status_code, response.json()) == (200, {"status": "ok"})
    assert "no-cache" in response["Cache-Control"]


def _damage_index(*, truncate: bool) -> Path:
    """Publish an index generation and damage its file: cut short, or bytes changed in place."""
    from copilot.engine import index_store

    store = index_store()
    case_index_rebuild(progress=None)
    path = store.index_path(store.read_manifest())
    data = bytearray(path.read_bytes())
    if truncate:
        path.write_bytes(data[: len(data) // 2])
    else:
        middle = len(data) // 2
        data[middle : middle + 8] = bytes(b ^ 0xFF for b in data[middle : middle + 8])
        path.write_bytes(data)  # same size: only the checksum can tell
    return path


def _backlog(count: int) -> None:
    """Tasks waiting in this run's queue, as under load with the workers behind."""
    queue = settings.CELERY_WORKER_QUEUES[0]
    for _ in range(count):
        heartbeat.apply_async(kwargs={"queue": queue}, queue=queue)


@pytest.mark.usefixtures("empty_queue")
def test_health_ready_is_not_failed_by_a_copilot_backlog_or_a_damaged_index(
    client: Client,
) -> None:
    # The copilot is in trouble: a backlog, no heartbeat for 5 minutes, a truncated index.
    _backlog(3)
    for queue in settings.CELERY_WORKER_QUEUES:
        Heartbeat.objects.create(queue=queue, at=timezone.now() - timezone.timedelta(minutes=5))
    _damage_index(truncate=True)

    response = client.get(reverse("health-ready"))

    # The web tier still serves its pages: a load balancer must keep it.
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "checks": {"database": {"ok": True}, "cache": {"ok": True}},
    }
    # The copilot's own status says what is wrong.
    status = client.get(reverse("health-copilot"))
    assert status.status_code == 503
    checks = status.json()["checks"]
    assert checks["workers"]["ok"] is False
    assert checks["backlog"] == {"ok": True, "waiting": {settings.CELERY_WORKER_QUEUES[0]: 3}}
    assert checks["index"] == {"ok": False, "state": "corrupt", "generation": 1}


def test_health_ready_names_an_unreachable_cache(client: Client, settings: Settings) -> None:
    # A Redis cache nobody listens on (port 1): a real connection refused.
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
        }
    }

    response = client.get(reverse("health-ready"))

    assert response.status_code == 503
    assert response.json()["checks"] == {
        "database": {"ok": True},
        "cache": {"ok": False, "error": "ConnectionError"},
    }


def test_copilot_status_names_what_fails(client: Client) -> None:
    # No worker has ever beaten, no index is published: both are named; the broker (the real
    # Redis) is fine.
    response = client.get(reverse("health-copilot"))

    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["broker"] == {"ok": True}
    assert checks["workers"] == {
        "ok": False,
        "queues": {q: {"last_heartbeat_seconds": None} for q in settings.CELERY_WORKER_QUEUES},
    }
    assert checks["index"] == {"ok": False, "state": "missing", "generation": None}
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.usefixtures("empty_queue")
def test_copilot_status_ok_when_workers_beat_and_the_index_is_whole(client: Client) -> None:
    for queue in settings.CELERY_WORKER_QUEUES:
        Heartbeat.objects.create(queue=queue, at=timezone.now())
    generation = case_index_rebuild(progress=None).manifest.generation  # type: ignore[union-attr]

    response = client.get(reverse("health-copilot"))

    assert response.status_code == 200
    checks = response.json()["checks"]
    assert checks["index"] == {"ok": True, "state": "ok", "generation": generation}
    assert checks["backlog"]["ok"] is True


def test_health_copilot_finds_an_index_corrupted_in_place(client: Client) -> None:
    for queue in settings.CELERY_WORKER_QUEUES:
        Heartbeat.objects.create(queue=queue, at=timezone.now())
    case_index_rebuild(progress=None)
    assert client.get(reverse("health-copilot")).json()["checks"]["index"]["ok"] is True

    # Same generation, same size, some bytes changed: the checksum no longer matches.
    _damage_index(truncate=False)

    response = client.get(reverse("health-copilot"))
    assert response.status_code == 503
    assert response.json()["checks"]["index"] == {
        "ok": False,
        "state": "corrupt",
        "generation": 2,
    }


def test_a_stale_heartbeat_fails_the_copilot_status(client: Client) -> None:
    for queue in settings.CELERY_WORKER_QUEUES:
        Heartbeat.objects.create(queue=queue, at=timezone.now() - timezone.timedelta(minutes=5))

    response = client.get(reverse("health-copilot"))

    assert response.json()["checks"]["workers"]["ok"] is False


def test_supervisors_see_the_copilot_status_as_a_page_and_a_panel(
    login: Callable[[User], Client], supervisor: User
) -> None:
    client = login(supervisor)

    page = client.get(reverse("desk:copilot-status"))
    panel = client.get(reverse("desk:copilot-status"), headers={"HX-Request": "true"})
    queue_page = client.get(reverse("supervision:overrides"))

    assert page.status_code == panel.status_code == 200
    assert "<html" in page.content.decode() and "<html" not in panel.content.decode()
    for response in (page, panel):
        body = response.content.decode()
        assert "Copilot</a>: needs attention" in body
        assert f"<td>{settings.CELERY_WORKER_QUEUES[0]}</td>" in body
        assert "Index: failing" in body and "· missing" in body
    # Every supervision page loads the panel.
    assert f'hx-get="{reverse("desk:copilot-status")}" hx-trigger="load"' in (
        queue_page.content.decode()
    )


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_answers_the_heartbeat(tmp_path: Path, empty_queue: None) -> None:
    queue = settings.CELERY_WORKER_QUEUES[0]
    with celery_worker(tmp_path / "worker.log"):
        heartbeat.apply_async(kwargs={"queue": queue}, queue=queue)
        wait_for(lambda: Heartbeat.objects.filter(queue=queue).exists(), what="a heartbeat")
