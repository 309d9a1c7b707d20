"""The copilot panel on the ticket page, and the agent's decisions on drafted replies."""

from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from accounts.decorators import role_required
from accounts.models import Role
from copilot.models import MessageAnalysis
from copilot.services.drafts import draft_discard
from core.errors import DomainError
from core.http import AuthedHttpRequest
from tickets.selectors import ticket_get_for_user
from tickets.views import ticket_context

PANEL = "copilot/partials/_analysis.html"


def _analysis(request: AuthedHttpRequest, ticket_id: int, analysis_id: int) -> MessageAnalysis:
    # Through the scoped ticket: an analysis of another team's ticket is a 404 like the ticket.
    ticket = ticket_get_for_user(user=request.user, ticket_id=ticket_id)
    return get_object_or_404(
        MessageAnalysis.objects.select_related("ticket"), pk=analysis_id, ticket=ticket
    )


def _after_decision(request: AuthedHttpRequest, ticket_id: int, *, error: str = "") -> HttpResponse:
    ticket = ticket_get_for_user(user=request.user, ticket_id=ticket_id)
    if not request.htmx:
        return redirect("tickets:detail", ticket_id=ticket.pk)
    context = ticket_context(request, ticket, panel_error=error)
    return render(request, "copilot/after_decision.html", context, status=422 if error else 200)


@require_GET
@role_required(Role.AGENT)
def panel(request: AuthedHttpRequest, ticket_id: int) -> HttpResponse:
    ticket = ticket_get_for_user(user=request.user, ticket_id=ticket_id)
    # The recovery proposals follow the analysis (their own task, queued when it is stored):
    # refresh them alongside; their section keeps polling until they are there.
    return render(request, "copilot/panel_refresh.html", ticket_context(request, ticket))


@require_POST
@role_required(Role.AGENT)
def draft_discard_view(
    request: AuthedHttpRequest, ticket_id: int, analysis_id: int
) -> HttpResponse:
    analysis = _analysis(request, ticket_id, analysis_id)
    try:
        draft_discard(analysis=analysis, agent=request.user)
    except DomainError as exc:
        return _after_decision(request, ticket_id, error=exc.message)
    return _after_decision(request, ticket_id)


def _reply_box_with_draft(
    request: AuthedHttpRequest, ticket_id: int, analysis_id: int, *, focus: str
) -> HttpResponse:
    """The reply box filled with the draft, signed by this agent; nothing is sent or recorded.

    Without JavaScript this is the ticket page (``?draft=``), its reply box filled and focused.
    """
    analysis = _analysis(request, ticket_id, analysis_id)
    if not request.htmx:
        url = reverse("tickets:detail", args=[analysis.ticket_id])
        return redirect(f"{url}?draft={analysis.pk}#ticket-{analysis.ticket_id}-reply")
    context = ticket_context(request, analysis.ticket, draft=analysis, reply_focus=focus)
    return render(request, "tickets/ticket_detail.html#reply-form", context)


@require_GET
@role_required(Role.AGENT)
def draft_use_view(request: AuthedHttpRequest, ticket_id: int, analysis_id: int) -> HttpResponse:
    """Use: the draft goes into the reply box for the agent to check and send. It never sends."""
    return _reply_box_with_draft(request, ticket_id, analysis_id, focus="use")


@require_GET
@role_required(Role.AGENT)
def draft_edit_view(request: AuthedHttpRequest, ticket_id: int, analysis_id: int) -> HttpResponse:
    """Edit: the reply box, filled with the draft for the agent to change before sending."""
    return _reply_box_with_draft(request, ticket_id, analysis_id, focus="edit")
