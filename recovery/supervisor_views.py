"""Supervisor pages: the queue of overrides to review, override rates, the fairness report.

Each view parses input, calls one selector or service, and renders. Every page works as plain
links and forms; with htmx the period filter swaps only the queue, and a review swaps only its row.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from accounts.decorators import role_required
from accounts.http import AuthedHttpRequest
from accounts.models import Role
from core.errors import Conflict, DomainError, Forbidden, NotFound
from recovery.charts import bar_chart
from recovery.fairness import fairness_report_for_user
from recovery.override_rates import override_rates_for_user
from recovery.overrides import (
    REVIEW_NOTE_MAX_CHARS,
    override_get_for_user,
    override_queue_for_user,
    override_review,
)
from recovery.proactive.selectors import proactive_reach_for_user
from recovery.selectors import execution_stuck_for_user

QUEUE = "recovery/supervisor/override_queue.html"
RATES = "recovery/supervisor/override_rates.html"
FAIRNESS = "recovery/supervisor/fairness.html"
QUEUE_PAGE_SIZE = 50

PERIODS = [
    ("7", "Last 7 days"),
    ("30", "Last 30 days"),
    ("90", "Last 90 days"),
    ("all", "All time"),
]


class PeriodForm(forms.Form):
    period = forms.ChoiceField(choices=PERIODS, required=False, label="Period")

    def __init__(self, data: QueryDict, *, default: str) -> None:
        # Unbound without the parameter, so the select shows the default as chosen.
        super().__init__(data if "period" in data else None, initial={"period": default})
        self.default = default

    @property
    def value(self) -> str:
        """The chosen period; a missing or unknown one (a stale bookmark) is the default."""
        if self.is_bound and self.is_valid() and self.cleaned_data["period"]:
            return str(self.cleaned_data["period"])
        return self.default

    def since(self) -> datetime | None:
        return None if self.value == "all" else timezone.now() - timedelta(days=int(self.value))


def _queue_url(data: QueryDict) -> str:
    """Back to the queue as the supervisor left it: only known parameters, never a URL."""
    params = {}
    if data.get("period") in dict(PERIODS):
        params["period"] = data["period"]
    if data.get("page", "").isdigit():
        params["page"] = data["page"]
    url = reverse("supervision:overrides")
    return f"{url}?{urlencode(params)}" if params else url


@require_GET
@role_required(Role.SUPERVISOR)
def override_queue(request: AuthedHttpRequest) -> HttpResponse:
    # Unreviewed overrides stay in the queue however old they are: all time by default.
    period = PeriodForm(request.GET, default="all")
    events = override_queue_for_user(user=request.user, since=period.since())
    page = Paginator(events, QUEUE_PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "period_form": period,
        "period": period.value,
        "page": page,
        "waiting": page.paginator.count,
    }
    if request.htmx and not request.htmx.history_restore_request:
        return render(request, f"{QUEUE}#queue-results", context)
    # Approved actions not carried out in time, above the queue of the supervisors' start page.
    context["stuck"] = execution_stuck_for_user(user=request.user)
    return render(request, QUEUE, context)


@require_POST
@role_required(Role.SUPERVISOR)
def override_review_view(request: AuthedHttpRequest, event_id: int) -> HttpResponse:
    # No form class: the service validates verdict and note (after the 404 of an event the
    # supervisor may not see, so a bad input never tells whether an id exists).
    try:
        override_review(
            event_id=event_id,
            supervisor=request.user,
            verdict=request.POST.get("verdict", ""),
            note=request.POST.get("note", ""),
        )
    except NotFound as exc:
        raise Http404(exc.message) from exc
    except Forbidden as exc:
        raise PermissionDenied(exc.message) from exc
    except Conflict as exc:
        # Reviewed by someone else meanwhile: show their review in the row (htmx swaps only
        # 2xx and 422 answers, and the row is not wrong, just stale).
        return _review_answer(request, event_id, error=exc.message, status=200)
    except DomainError as exc:
        return _review_answer(request, event_id, error=exc.message, status=422)
    return _review_answer(request, event_id, error="", status=200)


def _review_answer(
    request: AuthedHttpRequest, event_id: int, *, error: str, status: int
) -> HttpResponse:
    """The row, reviewed or with the error, for htmx, with the queue's count swapped out of
    band so it goes down as reviews are done; otherwise back to the queue (which counts anew)."""
    if not request.htmx:
        if error:
            messages.error(request, error)
        else:
            messages.success(request, "Review recorded.")
        return redirect(_queue_url(request.POST))
    event = override_get_for_user(user=request.user, event_id=event_id)
    if event is None:
        raise Http404("No such override.")
    context = {
        "event": event,
        "review": event.review,  # type: ignore[attr-defined]
        "error": error,
        "note": request.POST.get("note", "")[:REVIEW_NOTE_MAX_CHARS],
        "period": request.POST["period"] if request.POST.get("period") in dict(PERIODS) else "",
    }
    row = render_to_string(f"{QUEUE}#override-row", context, request=request)
    waiting = override_queue_for_user(
        user=request.user, since=PeriodForm(request.POST, default="all").since()
    ).count()
    count = render_to_string(
        f"{QUEUE}#queue-count", {"waiting": waiting, "oob": True}, request=request
    )
    return HttpResponse(row + count, status=status)


@require_GET
@role_required(Role.SUPERVISOR)
def override_rates(request: AuthedHttpRequest) -> HttpResponse:
    period = PeriodForm(request.GET, default="30")
    rates = override_rates_for_user(user=request.user, since=period.since())
    charts = [
        bar_chart(slug="agent", title="By agent", dimension="Agent", rows=rates.by_agent),
        bar_chart(slug="action", title="By action", dimension="Action", rows=rates.by_action),
        bar_chart(slug="intent", title="By intent", dimension="Intent", rows=rates.by_intent),
        bar_chart(slug="week", title="By ISO week", dimension="ISO week", rows=rates.by_week),
    ]
    return render(request, RATES, {"period_form": period, "rates": rates, "charts": charts})


@require_GET
@role_required(Role.SUPERVISOR)
def fairness_report(request: AuthedHttpRequest) -> HttpResponse:
    period = PeriodForm(request.GET, default="90")
    report = fairness_report_for_user(user=request.user, since=period.since())
    reach = proactive_reach_for_user(user=request.user)
    return render(
        request,
        FAIRNESS,
        {"period_form": period, "report": report, "proactive_reach": reach},
    )
