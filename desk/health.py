"""The copilot's state, for monitoring (`/health/copilot/`) and the supervisors' status page.

The work behind the pages: the broker, each queue's workers and backlog (core.health), the
similar-case index (its generation, checked against its manifest's checksum) and approved
recovery actions not carried out in time. It answers 503 naming what fails. It never decides
readiness: a backlogged queue or a damaged index degrades the copilot on every web node alike,
and dropping the nodes would only take the pages down with it.

It lives in desk because it reads the copilot and recovery both; like core's checks it needs no
login and reveals only states, ages, counts and the index generation.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from accounts.decorators import role_required
from accounts.http import AuthedHttpRequest
from accounts.models import Role
from copilot.engine import index_state
from core.health import WORKER_CHECKS, Check, checks_run, health_answer
from recovery.selectors import execution_stuck_qs

STATUS = "desk/copilot_status.html"


def _index() -> dict[str, Any]:
    index = index_state()
    return {"ok": index.ok, "state": index.state, "generation": index.generation}


def _recovery_executions() -> dict[str, Any]:
    """Approved recovery actions not carried out in time (their task lost, their worker dead,
    the shop failing): how many, and how long the oldest has waited. Not a readiness check: a
    stuck refund is for a person to look at (supervisors see the list), and taking the web tier
    out of the load balancer would not carry it out."""
    stuck = execution_stuck_qs()
    oldest = stuck.order_by("created_at").values_list("created_at", flat=True).first()
    return {
        "ok": oldest is None,
        "stuck": stuck.count(),
        "oldest_seconds": None
        if oldest is None
        else round((timezone.now() - oldest).total_seconds()),
    }


COPILOT_CHECKS: dict[str, Check] = {
    **WORKER_CHECKS,
    "index": _index,
    "recovery_executions": _recovery_executions,
}


def copilot_status() -> tuple[bool, dict[str, Any]]:
    return checks_run(COPILOT_CHECKS)


@require_GET
@never_cache
@login_not_required
def copilot(request: HttpRequest) -> JsonResponse:
    return health_answer(*copilot_status())


@require_GET
@role_required(Role.SUPERVISOR)
def copilot_status_page(request: AuthedHttpRequest) -> HttpResponse:
    """Whether the copilot is working (workers, queues, index): a page, and the small panel
    every supervision page loads and refreshes with htmx."""
    healthy, checks = copilot_status()
    heartbeats = checks["workers"].get("queues", {})
    waiting = checks["backlog"].get("waiting", {})
    queues = [
        {
            "name": name,
            "heartbeat": heartbeats.get(name, {}).get("last_heartbeat_seconds"),
            "waiting": waiting.get(name),
        }
        for name in sorted(set(heartbeats) | set(waiting))
    ]
    context = {"healthy": healthy, "checks": checks, "queues": queues}
    if request.htmx and not request.htmx.history_restore_request:
        return render(request, f"{STATUS}#status-panel", context)
    return render(request, STATUS, context)
