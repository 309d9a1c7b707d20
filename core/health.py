"""Health checks: the web tier's, for load balancers, and the workers', for monitoring.

`/health/` answers 200 as long as the process serves requests (liveness). `/health/ready/`
checks what this web process needs to serve pages, the database and the cache, and answers 503
naming the failing one (readiness): the only answer a load balancer should act on.

`/health/copilot/` (desk/health.py) is the state of the work behind the pages; the checks of
it that need no app live here: the broker, and each queue's workers (by the age of their last
heartbeat) and backlog.

None of them needs a login, and none reveals more than states, ages, counts of waiting tasks
and the index generation: nothing about customers or users. Each check is one small function
returning a dict with "ok"; add a check by adding a function to a table below.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from celery import current_app
from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

# Beat sends a heartbeat every 30 s; a queue silent for longer than this has no live worker.
HEARTBEAT_STALE_SECONDS = 120

Check = Callable[[], dict[str, Any]]


# --- the web tier ------------------------------------------------------------------------


def _database() -> dict[str, Any]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return {"ok": True}


def _cache() -> dict[str, Any]:
    """Sessions' lockout counters and throttles live in the cache: a round trip must work."""
    key, token = "health:ready", uuid.uuid4().hex
    cache.set(key, token, timeout=10)
    return {"ok": cache.get(key) == token}


WEB_CHECKS: dict[str, Check] = {"database": _database, "cache": _cache}


# --- the copilot -------------------------------------------------------------------------


def _broker() -> dict[str, Any]:
    with current_app.connection_for_write() as conn:
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


def _backlog() -> dict[str, Any]:
    """Tasks waiting in each queue (None: no worker has declared it yet). A backlog is shown,
    not failed: the workers' heartbeats say whether anyone consumes it."""
    from kombu.exceptions import ChannelError

    waiting: dict[str, int | None] = {}
    with current_app.connection_for_read() as conn:
        channel: Any = conn.default_channel  # kombu types it as the abstract channel
        for queue in settings.CELERY_WORKER_QUEUES:
            try:
                declared = channel.queue_declare(queue=queue, passive=True)
                waiting[queue] = int(declared.message_count)
            except ChannelError:
                waiting[queue] = None
    return {"ok": True, "waiting": waiting}


# The checks every app's work depends on; desk.health adds the copilot's index and the recovery
# executions (core imports no app above it).
WORKER_CHECKS: dict[str, Check] = {
    "broker": _broker,
    "workers": _workers,
    "backlog": _backlog,
}


# --- running them ------------------------------------------------------------------------


def checks_run(checks: dict[str, Check]) -> tuple[bool, dict[str, Any]]:
    """Run every check; one that cannot even run is a failed check, named by its error type."""
    results: dict[str, Any] = {}
    for name, check in checks.items():
        try:
            results[name] = check()
        except Exception as exc:
            results[name] = {"ok": False, "error": type(exc).__name__}
    return all(r["ok"] for r in results.values()), results


def health_answer(healthy: bool, results: dict[str, Any]) -> JsonResponse:
    return JsonResponse(
        {"status": "ok" if healthy else "failing", "checks": results},
        status=200 if healthy else 503,
    )


@require_GET
@never_cache
@login_not_required
def live(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


@require_GET
@never_cache
@login_not_required
def ready(request: HttpRequest) -> JsonResponse:
    return health_answer(*checks_run(WEB_CHECKS))
