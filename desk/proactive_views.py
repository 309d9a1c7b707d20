"""The proactive queue page: customers likely to write again, or exposed to a rising issue,
whom an agent may reach first. Agents and supervisors, scoped to their teams; each decision
(send, snooze, dismiss) swaps only its entry with htmx, and works as a plain form too."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from accounts.decorators import role_required
from accounts.http import AuthedHttpRequest
from accounts.models import Role
from core.errors import Conflict, DomainError
from recovery.proactive.models import ProactiveEntry
from recovery.proactive.queue import (
    proactive_entry_dismiss,
    proactive_entry_send,
    proactive_entry_snooze,
    proactive_message_for_agent,
)
from recovery.proactive.selectors import (
    emerging_issues_for_user,
    proactive_entry_get_for_user,
    proactive_hit_rates_for_user,
    proactive_queue_for_user,
    proactive_reach_for_user,
)

PAGE = "desk/proactive.html"
DECISIONS = ("send", "snooze", "dismiss")


def _entry_context(entry: ProactiveEntry, request: AuthedHttpRequest) -> dict[str, object]:
    return {"entry": entry, "message": proactive_message_for_agent(entry=entry, agent=request.user)}


@require_GET
@role_required(Role.AGENT)
def proactive_queue(request: AuthedHttpRequest) -> HttpResponse:
    page = proactive_queue_for_user(user=request.user)
    rows = [_entry_context(e, request) for e in page.entries]
    return render(
        request,
        PAGE,
        {
            "rows": rows,
            "left_out_consent": page.left_out_consent,
            "refreshed_at": page.refreshed_at,
            "hit_rates": proactive_hit_rates_for_user(user=request.user),
            "reach": proactive_reach_for_user(user=request.user),
            "issues": emerging_issues_for_user(user=request.user),
        },
    )


@require_POST
@role_required(Role.AGENT)
def proactive_decide(request: AuthedHttpRequest, proactive_id: int) -> HttpResponse:
    entry = proactive_entry_get_for_user(user=request.user, entry_id=proactive_id)
    decision = request.POST.get("decision", "")
    error, status = "", 200
    try:
        if decision == "send":
            entry = proactive_entry_send(
                entry=entry, agent=request.user, body=request.POST.get("body", "")
            )
        elif decision == "snooze":
            try:
                days = int(request.POST.get("days", ""))
            except ValueError as exc:
                raise DomainError("Snooze for a number of days.", field="days") from exc
            entry = proactive_entry_snooze(entry=entry, agent=request.user, days=days)
        elif decision == "dismiss":
            entry = proactive_entry_dismiss(
                entry=entry, agent=request.user, reason=request.POST.get("reason", "")
            )
        else:
            raise DomainError(f"Choose one of: {', '.join(DECISIONS)}.", field="decision")
    except Conflict as exc:
        error, status = exc.message, 200  # decided by someone else meanwhile: show its state
        entry.refresh_from_db()
    except DomainError as exc:
        error, status = exc.message, 422
    if not request.htmx:
        if error:
            messages.error(request, error)
        else:
            messages.success(request, f"{entry.customer.name}: {entry.get_status_display()}.")
        return redirect("desk:proactive")
    context = {**_entry_context(entry, request), "error": error}
    if error and decision == "send":
        context["message"] = request.POST.get("body", "")
    return render(request, f"{PAGE}#entry", context, status=status)
