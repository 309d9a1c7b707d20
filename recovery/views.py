"""Recovery actions on the ticket page: approve, change, reject, add, co-approve."""

from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from accounts.decorators import role_required
from accounts.models import Role
from core.errors import DomainError
from core.http import AuthedHttpRequest
from recovery.forms import AddActionForm, CoapprovalForm, DecisionForm
from recovery.models import Recommendation, RecoveryAction
from recovery.selectors import recommendation_get_for_user
from recovery.services import (
    recommendation_add,
    recommendation_approve,
    recommendation_coapprove,
    recommendation_reject,
)
from tickets.selectors import ticket_get_for_user
from tickets.views import ticket_context

FRAGMENT = "recovery/partials/_recommendations.html"


def _answer(request: AuthedHttpRequest, ticket_id: int, *, error: str = "") -> HttpResponse:
    """The recommendations in place (htmx; 422 with the error), else back to the ticket."""
    ticket = ticket_get_for_user(user=request.user, ticket_id=ticket_id)
    status = 422 if error else 200
    if request.htmx:
        context = ticket_context(request, ticket, recovery_error=error)
        return render(request, "recovery/after_decision.html", context, status=status)
    if error:
        context = ticket_context(request, ticket, recovery_error=error)
        return render(request, "tickets/ticket_detail.html", context, status=status)
    return redirect("tickets:detail", ticket_id=ticket.pk)


def _recommendation_on_ticket(
    request: AuthedHttpRequest, ticket_id: int, recommendation_id: int
) -> Recommendation | None:
    """The recommendation named in the URL, if the user may see both it and the ticket (else
    404); None when it belongs to another ticket than the one in the URL."""
    ticket_get_for_user(user=request.user, ticket_id=ticket_id)
    recommendation = recommendation_get_for_user(
        user=request.user, recommendation_id=recommendation_id
    )
    return recommendation if recommendation.ticket_id == ticket_id else None


def _errors(form: DecisionForm | AddActionForm | CoapprovalForm) -> str:
    return "; ".join(f"{name}: {e}" for name, errors in form.errors.items() for e in errors)


@require_GET
@role_required(Role.AGENT)
def recommendations_panel(request: AuthedHttpRequest, ticket_id: int) -> HttpResponse:
    ticket = ticket_get_for_user(user=request.user, ticket_id=ticket_id)
    return render(request, FRAGMENT, ticket_context(request, ticket))


@require_POST
@role_required(Role.AGENT)
def recommendation_decide(
    request: AuthedHttpRequest, ticket_id: int, recommendation_id: int
) -> HttpResponse:
    recommendation = _recommendation_on_ticket(request, ticket_id, recommendation_id)
    if recommendation is None:
        return _answer(request, ticket_id, error="That recommendation is not on this ticket.")
    form = DecisionForm(request.POST)
    if not form.is_valid():
        return _answer(request, ticket_id, error=_errors(form))
    data = form.cleaned_data
    try:
        if data["decision"] == "approve":
            recommendation_approve(
                recommendation=recommendation,
                user=request.user,
                amount=data["amount"],
                currency=data["currency"],
                reason=data["reason"],
            )
        else:
            recommendation_reject(
                recommendation=recommendation, user=request.user, reason=data["reason"]
            )
    except DomainError as exc:
        return _answer(request, ticket_id, error=exc.message)
    return _answer(request, ticket_id)


@require_POST
@role_required(Role.AGENT)
def recommendation_add_view(request: AuthedHttpRequest, ticket_id: int) -> HttpResponse:
    ticket = ticket_get_for_user(user=request.user, ticket_id=ticket_id)
    form = AddActionForm(request.POST)
    if not form.is_valid():
        return _answer(request, ticket_id, error=_errors(form))
    data = form.cleaned_data
    action = get_object_or_404(RecoveryAction, key=data["action"], active=True)
    try:
        recommendation_add(
            ticket=ticket,
            user=request.user,
            action=action,
            amount=data["amount"],
            currency=data["currency"],
            reason=data["reason"],
        )
    except DomainError as exc:
        return _answer(request, ticket_id, error=exc.message)
    return _answer(request, ticket_id)


@require_POST
@role_required(Role.SUPERVISOR)
def recommendation_coapprove_view(
    request: AuthedHttpRequest, ticket_id: int, recommendation_id: int
) -> HttpResponse:
    recommendation = _recommendation_on_ticket(request, ticket_id, recommendation_id)
    if recommendation is None:
        return _answer(request, ticket_id, error="That recommendation is not on this ticket.")
    form = CoapprovalForm(request.POST)
    if not form.is_valid():
        return _answer(request, ticket_id, error=_errors(form))
    try:
        recommendation_coapprove(
            recommendation=recommendation,
            supervisor=request.user,
            approve=form.cleaned_data["approve"] == "yes",
            reason=form.cleaned_data["reason"],
        )
    except DomainError as exc:
        return _answer(request, ticket_id, error=exc.message)
    return _answer(request, ticket_id)
