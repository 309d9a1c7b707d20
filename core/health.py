"""Health checks for load balancers and monitoring: the web process, the database, the broker,
each queue's workers (by the age of their last heartbeat) and the similar-case index.

`/health/` answers 200 as long as the process serves requests (liveness). `/health/ready/`
checks the dependencies and answers 503 naming the failing ones (readiness); beside them it
reports status items (recovery actions not carried out in time) that never make it fail.
Neither needs a login, and neither reveals more than states, counts, ages and the index
generation.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

# Beat sends a heartbeat every 30 s; a queue silent for longer than this has no live worker.
HEARTBEAT_STALE_SECONDS = 120


def _database() -> dict[str, Any]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return {"ok": True}


def _broker() -> dict[str, Any]:
    from config.celery import app

    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)
    return {"ok": True}


def _workers() -> dict[str, Any]:
    from core.models import Heartbeat

    now = timezone.now()
    queues: dict[str, Any] = {}
    beats = {h.queue: h for h in Heartbeat.objects.all()}
    for queue in settings.CELERY_WORKER_QUEUES:
        beat = beats.get(queue)
        age = None if beat is None else round((now - beat.at).total_seconds())
        queues[queue] = {"last_heartbeat_seconds": age}
    ok = all(
        q["last_heartbeat_seconds"] is not None
        and q["last_heartbeat_seconds"] <= HEARTBEAT_STALE_SECONDS
        for q in queues.values()
    )
    return {"ok": ok, "queues": queues}


def _index() -> dict[str, Any]:
    from copilot.engine import index_health, index_store

    ok, _message = index_health(verify=False)
    return {"ok": ok, "generation": index_store().current_generation() if ok else None}


CHECKS = {"database": _database, "broker": _broker, "workers": _workers, "index": _index}


def recovery_executions_status() -> dict[str, Any]:
    """Approved recovery actions not carried out in time (their task lost, their worker dead,
    the shop failing): how many, and how long the oldest has waited. A status item, not a
    readiness check: a stuck refund is for a person to look at (supervisors see the list), and
    taking the web tier out of the load balancer would not carry it out."""
    from recovery.selectors import execution_stuck_qs

    stuck = execution_stuck_qs()
    oldest = stuck.order_by("created_at").values_list("created_at", flat=True).first()
    return {
        "ok": oldest is None,
        "stuck": stuck.count(),
        "oldest_seconds": None
        if oldest is None
        else round((timezone.now() - oldest).total_seconds()),
    }


# Reported beside the checks, never a reason to answer 503.
STATUS_ITEMS = {"recovery_executions": recovery_executions_status}


@require_GET
@never_cache
@login_not_required
def live(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


@require_GET
@never_cache
@login_not_required
def ready(request: HttpRequest) -> JsonResponse:
    results: dict[str, Any] = {}
    for name, check in CHECKS.items():
        try:
            results[name] = check()
        except Exception as exc:  # a check that cannot even run is a failed check
            results[name] = {"ok": False, "error": type(exc).__name__}
    healthy = all(r["ok"] for r in results.values())
    status_items: dict[str, Any] = {}
    for name, item in STATUS_ITEMS.items():
        try:
            status_items[name] = item()
        except Exception as exc:
            status_items[name] = {"ok": False, "error": type(exc).__name__}
    return JsonResponse(
        {"status": "ok" if healthy else "failing", "checks": results, "status_items": status_items},
        status=200 if healthy else 503,
    )
