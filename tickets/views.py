"""Agent pages. Each view parses input, calls one selector or service, and renders.

Every page also works without JavaScript (plain links and forms); with htmx the same view answers
with just the fragment that changed (a partial of the same template).
"""

from django.conf import settings
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from accounts.decorators import role_required
from accounts.models import Role
from accounts.selectors import team_list_for_user, user_list_assignable
from copilot.models import MessageAnalysis
from copilot.nlp.deid import markers_in
from copilot.selectors import analysis_get_by_id, analysis_panel_for_ticket, draft_text_for_agent
from copilot.services.drafts import draft_reply_send
from copilot.services.intake import agent_reply_send, ticket_status_change
from core.errors import DomainError
from core.http import AuthedHttpRequest
from recovery.selectors import recovery_panel_for_ticket
from tickets.consent import ConsentPurpose, consent_states
from tickets.forms import AssignForm, InboxFilterForm, ReplyForm, StatusForm
from tickets.models import AuthorKind, Ticket
from tickets.selectors import (
    customer_recent_tickets,
    message_list_for_ticket,
    ticket_get_for_user,
    ticket_list_for_user,
)
from tickets.services import ticket_assign


@require_GET
@role_required(Role.AGENT)
def inbox(request: AuthedHttpRequest) -> HttpResponse:
    teams = [(t.slug, t.name) for t in team_list_for_user(user=request.user)]
    form = InboxFilterForm(request.GET or None, teams=teams)
    tickets = ticket_list_for_user(user=request.user, filters=form.to_filters())
    page = Paginator(tickets, settings.COPILOT_INBOX_PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {"form": form, "page": page, "query": query.urlencode()}
    # A filter change from htmx swaps only the results; a history restore needs the whole page.
    if request.htmx and not request.htmx.history_restore_request:
        return render(request, "tickets/inbox.html#inbox-results", context)
    return render(request, "tickets/inbox.html", context)


def ticket_context(
    request: AuthedHttpRequest,
    ticket: Ticket,
    *,
    draft: MessageAnalysis | None = None,
    reply_form: ReplyForm | None = None,
    **extra: object,
) -> dict[str, object]:
    """Everything the ticket page and its fragments render from."""
    assignable = user_list_assignable(team_ids={ticket.team_id})
    if reply_form is None:
        initial = (
            {"body": draft_text_for_agent(analysis=draft, agent=request.user), "draft": draft.pk}
            if draft
            else {}
        )
        reply_form = ReplyForm(initial=initial)
        if draft:
            # Without JavaScript too, the filled box takes the cursor on arrival.
            reply_form.fields["body"].widget.attrs["autofocus"] = True
    consent = consent_states(customer=ticket.customer)
    transcript = message_list_for_ticket(ticket=ticket)
    body = reply_form["body"].value() or ""
    return {
        "ticket": ticket,
        "transcript": transcript,
        # The latest agent reply, offered (not taken silently) as the resolution when solving.
        "last_reply": next(
            (m for m in reversed(list(transcript)) if m.author_kind == AuthorKind.AGENT), None
        ),
        # Slots still to fill in the reply box ("[order number]"): listed under it.
        "reply_markers": markers_in(body),
        "draft_filled": draft is not None,
        "customer_tickets": customer_recent_tickets(customer=ticket.customer, user=request.user),
        "panel": analysis_panel_for_ticket(ticket=ticket, user=request.user),
        "recovery": recovery_panel_for_ticket(ticket=ticket, consent=consent),
        # Which purposes, nothing more (no dates, sources or notes): agents need to know what
        # the copilot will not do for this customer, not why.
        "opted_out": [
            ConsentPurpose(purpose).label.lower()
            for purpose, granted in consent.items()
            if not granted
        ],
        "reply_form": reply_form,
        "status_form": StatusForm(initial={"status": ticket.status}),
        "assign_form": AssignForm(
            initial={"assignee": ticket.assignee_id},
            choices=[(u.pk, u.get_full_name() or u.get_username()) for u in assignable],
        ),
        **extra,
    }


@require_GET
@role_required(Role.AGENT)
def ticket_detail(request: AuthedHttpRequest, ticket_id: int) -> HttpResponse:
    ticket = ticket_get_for_user(user=request.user, ticket_id=ticket_id)
    # ?draft=<analysis id>: "Edit" without JavaScript, the reply box filled with the draft.
    draft_id = request.GET.get("draft", "")
    draft = (
        analysis_get_by_id(ticket=ticket, analysis_id=int(draft_id)) if draft_id.isdigit() else None
    )
    context = ticket_context(request, ticket, draft=draft)
    return render(request, "tickets/ticket_detail.html", context)


@require_GET
@role_required(Role.AGENT)
def ticket_transcript(request: AuthedHttpRequest, ticket_id: int) -> HttpResponse:
    """The transcript alone, for a refresh after a message arrived from elsewhere."""
    ticket = ticket_get_for_user(user=request.user, ticket_id=ticket_id)
    return render(request, "tickets/ticket_detail.html#transcript", ticket_context(request, ticket))


@require_POST
@role_required(Role.AGENT)
def ticket_reply(request: AuthedHttpRequest, ticket_id: int) -> HttpResponse:
    ticket = ticket_get_for_user(user=request.user, ticket_id=ticket_id)
    form = ReplyForm(request.POST)
    if form.is_valid():
        draft_id = form.cleaned_data["draft"]
        draft = analysis_get_by_id(ticket=ticket, analysis_id=draft_id) if draft_id else None
        try:
            if draft is not None:
                # Started from the copilot's draft: the service records used-as-is or edited.
                draft_reply_send(analysis=draft, agent=request.user, body=form.cleaned_data["body"])
            else:
                agent_reply_send(ticket=ticket, body=form.cleaned_data["body"], agent=request.user)
        except DomainError as exc:
            form.add_error("body", exc.message)
    if not form.is_valid():
        context = ticket_context(request, ticket, reply_form=form)
        if request.htmx:
            response = render(request, "tickets/ticket_detail.html#reply-form", context)
            response.status_code = 422
            return response
        return render(request, "tickets/ticket_detail.html", context, status=422)
    if request.htmx:
        # The transcript in place, plus a fresh reply box and header (status may have moved).
        return render(
            request, "tickets/ticket_detail.html#after-reply", ticket_context(request, ticket)
        )
    return redirect("tickets:detail", ticket_id=ticket.pk)


def _header_response(
    request: AuthedHttpRequest, ticket_id: int, *, error: str, **extra: object
) -> HttpResponse:
    """Answer a status or assignee change: the header fragment for htmx, else the page."""
    ticket = ticket_get_for_user(user=request.user, ticket_id=ticket_id)
    context = ticket_context(request, ticket, status_error=error, **extra)
    status_code = 422 if error else 200
    if request.htmx:
        template = "tickets/ticket_detail.html#ticket-header"
        return render(request, template, context, status=status_code)
    if error:
        return render(request, "tickets/ticket_detail.html", context, status=status_code)
    return redirect("tickets:detail", ticket_id=ticket.pk)


@require_POST
@role_required(Role.AGENT)
def ticket_status(request: AuthedHttpRequest, ticket_id: int) -> HttpResponse:
    ticket = ticket_get_for_user(user=request.user, ticket_id=ticket_id)
    form = StatusForm(request.POST)
    if not form.is_valid():
        error = "; ".join(e for errors in form.errors.values() for e in errors)
        return _header_response(request, ticket_id, error=error, status_form=form)
    try:
        ticket_status_change(
            ticket=ticket,
            status=form.cleaned_data["status"],
            resolution=form.cleaned_data["resolution"],
            resolution_from_last_reply=form.cleaned_data["use_last_reply"],
            by=request.user,
        )
    except DomainError as exc:
        return _header_response(request, ticket_id, error=exc.message, status_form=form)
    return _header_response(request, ticket_id, error="")


@require_POST
@role_required(Role.AGENT)
def ticket_assignee(request: AuthedHttpRequest, ticket_id: int) -> HttpResponse:
    ticket = ticket_get_for_user(user=request.user, ticket_id=ticket_id)
    assignable = {u.pk: u for u in user_list_assignable(team_ids={ticket.team_id})}
    form = AssignForm(request.POST, choices=[(pk, str(u)) for pk, u in assignable.items()])
    if not form.is_valid():
        return _header_response(request, ticket_id, error="Choose a member of the ticket's team.")
    try:
        ticket_assign(
            ticket=ticket, assignee=assignable.get(form.cleaned_data["assignee"]), by=request.user
        )
    except DomainError as exc:
        return _header_response(request, ticket_id, error=exc.message)
    return _header_response(request, ticket_id, error="")
