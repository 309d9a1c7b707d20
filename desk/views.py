"""The agent's screen: the inbox, the ticket page and every fragment of it (transcript, reply box,
header, copilot panel, recovery panel), and the decisions that re-render them.

Each view parses input, calls one service or the selectors of the fragments it answers with,
and renders. Every page also works without JavaScript (plain links and forms); with htmx the same
view answers with just the fragments that changed (partials of desk/ticket.html).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.conf import settings
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from accounts.decorators import role_required
from accounts.http import AuthedHttpRequest
from accounts.models import Role
from accounts.selectors import team_list_for_user
from copilot.models import MessageAnalysis
from copilot.nlp.deid import markers_in
from copilot.selectors import analysis_get_by_id
from copilot.services.drafts import draft_discard, draft_reply_send
from copilot.services.intake import agent_reply_send, ticket_status_change
from core.errors import DomainError
from desk.forms import SavedViewForm, SavedViewRenameForm
from desk.inbox_views import inbox_query_normalise, inbox_views_for_user
from desk.selectors import (
    ReplyBox,
    TicketHeader,
    TicketPage,
    saved_view_get_for_user,
    saved_view_list_for_user,
    ticket_live_versions_for_user,
    ticket_page_copilot_panel,
    ticket_page_get,
    ticket_page_header,
    ticket_page_recovery_panel,
    ticket_page_reply_box,
    ticket_page_transcript,
)
from desk.services import (
    SAVED_VIEWS_MAX,
    saved_view_create,
    saved_view_delete,
    saved_view_rename,
)
from recovery.forms import AddActionForm, CoapprovalForm, DecisionForm
from recovery.models import Recommendation, RecoveryAction
from recovery.selectors import recommendation_get_for_user
from recovery.services import (
    recommendation_add,
    recommendation_approve,
    recommendation_coapprove,
    recommendation_reject,
)
from tickets.customer_data import ERASED_NOTHING_SENT
from tickets.forms import AssignForm, InboxFilterForm, ReplyForm, StatusForm
from tickets.models import Ticket
from tickets.selectors import (
    ticket_count_new_for_user,
    ticket_get_for_user,
    ticket_list_for_user,
)
from tickets.services import ticket_assign

INBOX = "desk/inbox.html"
PAGE = "desk/ticket.html"

Context = dict[str, Any]


# --- the inbox ---------------------------------------------------------------------------


def _inbox_context(
    request: AuthedHttpRequest, params: QueryDict, *, save_form: SavedViewForm | None = None
) -> Context:
    """The inbox for these filters (`params`: a query string's), with the agent's views."""
    teams = [(t.slug, t.name) for t in team_list_for_user(user=request.user)]
    form = InboxFilterForm(params or None, teams=teams)
    tickets = ticket_list_for_user(user=request.user, filters=form.to_filters())
    page = Paginator(tickets, settings.COPILOT_INBOX_PAGE_SIZE).get_page(params.get("page"))
    query = params.copy()
    query.pop("page", None)
    current = inbox_query_normalise(params=params)
    # New tickets are counted from this moment on (the page's poll sends it back).
    since = {"since": str(int(timezone.now().timestamp() * 1000))}
    return {
        "form": form,
        "page": page,
        "query": query.urlencode(),
        "new_query": f"{current}&{urlencode(since)}" if current else urlencode(since),
        "views": inbox_views_for_user(saved=saved_view_list_for_user(user=request.user)),
        "current_view": current,
        "save_form": save_form or SavedViewForm(initial={"query": current}),
        "saved_views_max": SAVED_VIEWS_MAX,
    }


@require_GET
@role_required(Role.AGENT)
def inbox(request: AuthedHttpRequest) -> HttpResponse:
    context = _inbox_context(request, request.GET)
    # A filter change from htmx swaps only the results (and marks the view it now shows);
    # a history restore needs the whole page.
    if request.htmx and not request.htmx.history_restore_request:
        return render(request, f"{INBOX}#inbox-update", context)
    return render(request, INBOX, context)


def _since(value: str) -> datetime:
    """The page's load time, as it sent it (milliseconds since the epoch); now if unreadable,
    so a bad value counts nothing rather than everything."""
    if value.isdigit() and len(value) <= 15:
        return datetime.fromtimestamp(int(value) / 1000, tz=UTC)
    return timezone.now()


@require_GET
@role_required(Role.AGENT)
def inbox_new_count(request: AuthedHttpRequest) -> HttpResponse:
    """How many tickets the inbox's filters would gain since the page loaded (htmx polls it)."""
    params = request.GET.copy()
    since = params.pop("since", [""])[-1]
    if not request.htmx:
        return redirect(f"{reverse('desk:inbox')}?{inbox_query_normalise(params=params)}")
    teams = [(t.slug, t.name) for t in team_list_for_user(user=request.user)]
    filters = InboxFilterForm(params or None, teams=teams).to_filters()
    current = inbox_query_normalise(params=params)
    context = {
        "new_count": ticket_count_new_for_user(
            user=request.user, filters=filters, since=_since(since)
        ),
        "query": current,
        "new_query": request.GET.urlencode(),
    }
    return render(request, f"{INBOX}#inbox-new", context)


def _views_answer(
    request: AuthedHttpRequest,
    query: str,
    *,
    form: SavedViewForm | None = None,
    error: str = "",
) -> HttpResponse:
    """After a change to the agent's views: with htmx the views list in place (422 with the
    errors); without, the inbox showing `query` (the whole page, 422, on errors)."""
    status = 422 if error or (form is not None and form.errors) else 200
    if not request.htmx and status == 200:
        return redirect(f"{reverse('desk:inbox')}?{query}" if query else reverse("desk:inbox"))
    params = QueryDict(query)
    context = {**_inbox_context(request, params, save_form=form), "views_error": error}
    template = f"{INBOX}#inbox-views" if request.htmx else INBOX
    return render(request, template, context, status=status)


@require_POST
@role_required(Role.AGENT)
def saved_view_create_view(request: AuthedHttpRequest) -> HttpResponse:
    """Save the inbox's current filters as a view of the agent's own."""
    form = SavedViewForm(request.POST)
    query = inbox_query_normalise(params=QueryDict(request.POST.get("query", "")))
    if form.is_valid():
        try:
            saved_view_create(owner=request.user, name=form.cleaned_data["name"], query=query)
        except DomainError as exc:
            form.add_error(exc.field or None, exc.message)
    return _views_answer(request, query, form=form if form.errors else None)


@require_POST
@role_required(Role.AGENT)
def saved_view_rename_view(request: AuthedHttpRequest, view_id: int) -> HttpResponse:
    view = saved_view_get_for_user(user=request.user, view_id=view_id)
    form = SavedViewRenameForm(request.POST)
    if form.is_valid():
        try:
            saved_view_rename(view=view, name=form.cleaned_data["name"])
        except DomainError as exc:
            form.add_error(exc.field or None, exc.message)
    if form.errors:
        error = f"Renaming “{view.name}”: {_form_errors(form)}"
        return _views_answer(request, view.query, error=error)
    return _views_answer(request, view.query)


@require_POST
@role_required(Role.AGENT)
def saved_view_delete_view(request: AuthedHttpRequest, view_id: int) -> HttpResponse:
    view = saved_view_get_for_user(user=request.user, view_id=view_id)
    saved_view_delete(view=view)
    return _views_answer(request, "")


def _form_errors(form: forms.Form) -> str:
    """Every error of a form, each after the label of its field ("New name: ...")."""
    return "; ".join(
        f"{form.fields[name].label if name in form.fields else 'Form'}: {error}"
        for name, errors in form.errors.items()
        for error in errors
    )


# --- each fragment's context, from its selector -------------------------------------------


def _header(header: TicketHeader, *, error: str = "", form: StatusForm | None = None) -> Context:
    ticket = header.ticket
    return {
        "header": header,
        "status_error": error,
        "status_form": form or StatusForm(initial={"status": ticket.status}),
        "assign_form": AssignForm(
            initial={"assignee": ticket.assignee_id},
            choices=[(u.pk, u.get_full_name() or u.get_username()) for u in header.assignable],
        ),
    }


def _reply(box: ReplyBox, *, form: ReplyForm | None = None, focus: str = "") -> Context:
    if form is None:
        initial = (
            {"body": box.draft_text, "draft": box.draft.pk, "suggestion": box.suggestion}
            if box.draft
            else {}
        )
        form = ReplyForm(initial=initial)
        if box.draft:
            # Without JavaScript too, the filled box takes the cursor on arrival.
            form.fields["body"].widget.attrs["autofocus"] = True
    return {
        "reply_form": form,
        # Slots still to fill in the reply box ("[order number]"): listed under it.
        "reply_markers": markers_in(form["body"].value() or ""),
        "draft_filled": box.draft is not None,
        "reply_focus": focus,
        "reply_erased_note": ERASED_NOTHING_SENT if box.erased else "",
    }


def _page(
    page: TicketPage,
    *,
    reply_form: ReplyForm | None = None,
    status_form: StatusForm | None = None,
    status_error: str = "",
    recovery_error: str = "",
) -> Context:
    return {
        "ticket": page.ticket,
        "transcript": page.transcript,
        "panel": page.copilot,
        "recovery": page.recovery,
        "recovery_error": recovery_error,
        "customer_card": page.customer,
        **_header(page.header, error=status_error, form=status_form),
        **_reply(page.reply, form=reply_form),
    }


def _page_response(
    request: AuthedHttpRequest, ticket: Ticket, *, status: int = 200, **context: Any
) -> HttpResponse:
    """The whole ticket page (without JavaScript: a form with errors comes back in it)."""
    page = ticket_page_get(ticket=ticket, user=request.user)
    live = ticket_live_versions_for_user(user=request.user, ticket_id=ticket.pk)
    return render(request, PAGE, {**_page(page, **context), "live": live}, status=status)


# --- the ticket page and its own fragments ----------------------------------------------------


@require_GET
@role_required(Role.AGENT)
def ticket_detail(request: AuthedHttpRequest, ticket_id: int) -> HttpResponse:
    ticket = ticket_get_for_user(user=request.user, ticket_id=ticket_id)
    # ?draft=<analysis id>: "Edit" without JavaScript, the reply box filled with the draft.
    draft_id = request.GET.get("draft", "")
    draft = (
        analysis_get_by_id(ticket=ticket, analysis_id=int(draft_id)) if draft_id.isdigit() else None
    )
    page = ticket_page_get(
        ticket=ticket, user=request.user, draft=draft, suggestion=_suggestion_index(request)
    )
    # Read before the page, so a change made while it renders is sent by the first live poll.
    live = ticket_live_versions_for_user(user=request.user, ticket_id=ticket.pk)
    return render(request, PAGE, {**_page(page), "live": live})


# The fragments the open page refreshes by itself, as the live poll names them.
LIVE_FRAGMENTS = ("header", "transcript", "copilot", "recovery")


@require_GET
@role_required(Role.AGENT)
def ticket_live(request: AuthedHttpRequest, ticket_id: int) -> HttpResponse:
    """The open ticket page asks every few seconds, with the stamp of each live fragment it
    shows (``?header=…&transcript=…``), whether any moved: 204 and one query when none did;
    else the fragments that moved, out of band. Never the reply box: only the agent changes it.
    """
    live = ticket_live_versions_for_user(user=request.user, ticket_id=ticket_id)
    current = live.as_dict()
    changed = {name for name in LIVE_FRAGMENTS if request.GET.get(name) != current[name]}
    if request.htmx and not changed:
        return HttpResponse(status=204)
    ticket = ticket_get_for_user(user=request.user, ticket_id=ticket_id)
    if not request.htmx:
        return _page_response(request, ticket)
    context: Context = {"ticket": ticket, "live": live, "changed": changed, "oob": True}
    if "header" in changed:
        context.update(_header(ticket_page_header(ticket=ticket)))
    if "transcript" in changed:
        context["transcript"] = ticket_page_transcript(ticket=ticket)
    if "copilot" in changed:
        context["panel"] = ticket_page_copilot_panel(ticket=ticket, user=request.user)
    if "recovery" in changed:
        context["recovery"] = ticket_page_recovery_panel(ticket=ticket)
    return render(request, f"{PAGE}#live-refresh", context)


@require_GET
@role_required(Role.AGENT)
def ticket_transcript(request: AuthedHttpRequest, ticket_id: int) -> HttpResponse:
    """The transcript alone, for a refresh after a message arrived from elsewhere."""
    ticket = ticket_get_for_user(user=request.user, ticket_id=ticket_id)
    if not request.htmx:
        return _page_response(request, ticket)
    context = {"ticket": ticket, "transcript": ticket_page_transcript(ticket=ticket)}
    return render(request, f"{PAGE}#transcript", context)


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
                draft_reply_send(
                    analysis=draft,
                    agent=request.user,
                    body=form.cleaned_data["body"],
                    suggestion=form.cleaned_data["suggestion"],
                )
            else:
                agent_reply_send(ticket=ticket, body=form.cleaned_data["body"], agent=request.user)
        except DomainError as exc:
            form.add_error("body", exc.message)
    if not form.is_valid():
        if request.htmx:
            box = ticket_page_reply_box(ticket=ticket, user=request.user)
            context = {"ticket": ticket, **_reply(box, form=form)}
            return render(request, f"{PAGE}#reply-form", context, status=422)
        return _page_response(request, ticket, reply_form=form, status=422)
    if not request.htmx:
        return redirect("desk:ticket", ticket_id=ticket.pk)
    # The transcript in place, plus a fresh reply box and header (status may have moved) and
    # the copilot panel (the reply may answer the analysed request, or use its draft). Read
    # again: a draft's reply is written through the analysis's own copy of the ticket.
    ticket = ticket_get_for_user(user=request.user, ticket_id=ticket_id)
    context = {
        "ticket": ticket,
        "transcript": ticket_page_transcript(ticket=ticket),
        "panel": ticket_page_copilot_panel(ticket=ticket, user=request.user),
        **_header(ticket_page_header(ticket=ticket)),
        **_reply(ticket_page_reply_box(ticket=ticket, user=request.user)),
    }
    return render(request, f"{PAGE}#after-reply", context)


def _header_response(
    request: AuthedHttpRequest,
    ticket_id: int,
    *,
    error: str,
    form: StatusForm | None = None,
) -> HttpResponse:
    """Answer a status or assignee change: the header fragment for htmx, else the page."""
    ticket = ticket_get_for_user(user=request.user, ticket_id=ticket_id)
    status = 422 if error else 200
    if request.htmx:
        context = {
            "ticket": ticket,
            **_header(ticket_page_header(ticket=ticket), error=error, form=form),
        }
        return render(request, f"{PAGE}#ticket-header", context, status=status)
    if error:
        return _page_response(request, ticket, status_error=error, status_form=form, status=status)
    return redirect("desk:ticket", ticket_id=ticket.pk)


@require_POST
@role_required(Role.AGENT)
def ticket_status(request: AuthedHttpRequest, ticket_id: int) -> HttpResponse:
    ticket = ticket_get_for_user(user=request.user, ticket_id=ticket_id)
    form = StatusForm(request.POST)
    if not form.is_valid():
        error = "; ".join(str(e) for errors in form.errors.values() for e in errors)
        return _header_response(request, ticket_id, error=error, form=form)
    try:
        ticket_status_change(
            ticket=ticket,
            status=form.cleaned_data["status"],
            resolution=form.cleaned_data["resolution"],
            resolution_from_last_reply=form.cleaned_data["use_last_reply"],
            by=request.user,
        )
    except DomainError as exc:
        return _header_response(request, ticket_id, error=exc.message, form=form)
    return _header_response(request, ticket_id, error="")


@require_POST
@role_required(Role.AGENT)
def ticket_assignee(request: AuthedHttpRequest, ticket_id: int) -> HttpResponse:
    ticket = ticket_get_for_user(user=request.user, ticket_id=ticket_id)
    assignable = {u.pk: u for u in ticket_page_header(ticket=ticket).assignable}
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


# --- the copilot panel and the drafted reply ------------------------------------------------


@require_GET
@role_required(Role.AGENT)
def copilot_panel(request: AuthedHttpRequest, ticket_id: int) -> HttpResponse:
    """Polled every 2 s while an analysis runs. The recovery proposals follow the analysis
    (their own task, queued when it is stored): they come along out of band, and their section
    keeps polling until they are there."""
    ticket = ticket_get_for_user(user=request.user, ticket_id=ticket_id)
    if not request.htmx:
        return _page_response(request, ticket)
    context = {
        "ticket": ticket,
        "panel": ticket_page_copilot_panel(ticket=ticket, user=request.user),
        "recovery": ticket_page_recovery_panel(ticket=ticket),
    }
    return render(request, f"{PAGE}#copilot-panel-refresh", context)


def _analysis(request: AuthedHttpRequest, ticket_id: int, analysis_id: int) -> MessageAnalysis:
    # Through the scoped ticket: an analysis of another team's ticket is a 404 like the ticket.
    ticket = ticket_get_for_user(user=request.user, ticket_id=ticket_id)
    analysis = analysis_get_by_id(ticket=ticket, analysis_id=analysis_id)
    if analysis is None:
        raise Http404("No such analysis on this ticket.")
    analysis.ticket = ticket
    return analysis


def _after_draft_decision(
    request: AuthedHttpRequest, ticket_id: int, *, error: str = ""
) -> HttpResponse:
    ticket = ticket_get_for_user(user=request.user, ticket_id=ticket_id)
    if not request.htmx:
        return redirect("desk:ticket", ticket_id=ticket.pk)
    # The panel in place; the rest of the page that may have moved, out of band.
    context = {
        "ticket": ticket,
        "panel_error": error,
        "transcript": ticket_page_transcript(ticket=ticket),
        "panel": ticket_page_copilot_panel(ticket=ticket, user=request.user),
        "recovery": ticket_page_recovery_panel(ticket=ticket),
        **_header(ticket_page_header(ticket=ticket)),
        **_reply(ticket_page_reply_box(ticket=ticket, user=request.user)),
    }
    return render(request, f"{PAGE}#after-draft-decision", context, status=422 if error else 200)


@require_POST
@role_required(Role.AGENT)
def draft_discard_view(
    request: AuthedHttpRequest, ticket_id: int, analysis_id: int
) -> HttpResponse:
    analysis = _analysis(request, ticket_id, analysis_id)
    try:
        draft_discard(analysis=analysis, agent=request.user)
    except DomainError as exc:
        return _after_draft_decision(request, ticket_id, error=exc.message)
    return _after_draft_decision(request, ticket_id)


def _suggestion_index(request: AuthedHttpRequest) -> int | None:
    """`?s=<n>`: the reply box starts from the analysis's suggestion n (0 the best)."""
    value = request.GET.get("s", "")
    return int(value) if value.isdigit() else None


def _reply_box_with_draft(
    request: AuthedHttpRequest, ticket_id: int, analysis_id: int, *, focus: str
) -> HttpResponse:
    """The reply box filled with the draft, signed by this agent; nothing is sent or recorded.

    Without JavaScript this is the ticket page (``?draft=``), its reply box filled and focused.
    """
    analysis = _analysis(request, ticket_id, analysis_id)
    ticket = analysis.ticket
    suggestion = _suggestion_index(request)
    if not request.htmx:
        url = reverse("desk:ticket", args=[ticket.pk])
        pick = f"&s={suggestion}" if suggestion is not None else ""
        return redirect(f"{url}?draft={analysis.pk}{pick}#ticket-{ticket.pk}-reply")
    box = ticket_page_reply_box(
        ticket=ticket, user=request.user, draft=analysis, suggestion=suggestion
    )
    context = {"ticket": ticket, **_reply(box, focus=focus)}
    return render(request, f"{PAGE}#reply-form", context)


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


# --- the recovery panel and the decisions on it -----------------------------------------------


@require_GET
@role_required(Role.AGENT)
def recovery_panel(request: AuthedHttpRequest, ticket_id: int) -> HttpResponse:
    """Polled every 2 s while an approved action is carried out."""
    ticket = ticket_get_for_user(user=request.user, ticket_id=ticket_id)
    if not request.htmx:
        return _page_response(request, ticket)
    context = {"ticket": ticket, "recovery": ticket_page_recovery_panel(ticket=ticket)}
    return render(request, f"{PAGE}#recovery-panel", context)


def _after_recovery_decision(
    request: AuthedHttpRequest, ticket_id: int, *, error: str = ""
) -> HttpResponse:
    """The recommendations in place (htmx; 422 with the error), else back to the ticket."""
    ticket = ticket_get_for_user(user=request.user, ticket_id=ticket_id)
    status = 422 if error else 200
    if request.htmx:
        # An execution writes a note in the transcript; a decision may be refused on a ticket
        # closed meanwhile, which the header then shows.
        context = {
            "ticket": ticket,
            "recovery": ticket_page_recovery_panel(ticket=ticket),
            "recovery_error": error,
            "transcript": ticket_page_transcript(ticket=ticket),
            **_header(ticket_page_header(ticket=ticket)),
        }
        return render(request, f"{PAGE}#after-recovery-decision", context, status=status)
    if error:
        return _page_response(request, ticket, recovery_error=error, status=status)
    return redirect("desk:ticket", ticket_id=ticket.pk)


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


def _domain_error(exc: DomainError) -> str:
    """A refusal of the services; the confirmation named as the form's field it is."""
    return f"confirm: {exc.message}" if exc.field == "confirm" else exc.message


def _errors(form: DecisionForm | AddActionForm | CoapprovalForm) -> str:
    return "; ".join(f"{name}: {e}" for name, errors in form.errors.items() for e in errors)


@require_POST
@role_required(Role.AGENT)
def recommendation_decide(
    request: AuthedHttpRequest, ticket_id: int, recommendation_id: int
) -> HttpResponse:
    recommendation = _recommendation_on_ticket(request, ticket_id, recommendation_id)
    if recommendation is None:
        return _after_recovery_decision(
            request, ticket_id, error="That recommendation is not on this ticket."
        )
    form = DecisionForm(request.POST)
    if not form.is_valid():
        return _after_recovery_decision(request, ticket_id, error=_errors(form))
    data = form.cleaned_data
    try:
        if data["decision"] == "approve":
            recommendation_approve(
                recommendation=recommendation,
                user=request.user,
                amount=data["amount"],
                currency=data["currency"],
                reason=data["reason"],
                confirmed=data["confirm"],
            )
        else:
            recommendation_reject(
                recommendation=recommendation, user=request.user, reason=data["reason"]
            )
    except DomainError as exc:
        return _after_recovery_decision(request, ticket_id, error=_domain_error(exc))
    return _after_recovery_decision(request, ticket_id)


@require_POST
@role_required(Role.AGENT)
def recommendation_add_view(request: AuthedHttpRequest, ticket_id: int) -> HttpResponse:
    ticket = ticket_get_for_user(user=request.user, ticket_id=ticket_id)
    form = AddActionForm(request.POST)
    if not form.is_valid():
        return _after_recovery_decision(request, ticket_id, error=_errors(form))
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
            confirmed=data["confirm"],
        )
    except DomainError as exc:
        return _after_recovery_decision(request, ticket_id, error=_domain_error(exc))
    return _after_recovery_decision(request, ticket_id)


@require_POST
@role_required(Role.SUPERVISOR)
def recommendation_coapprove_view(
    request: AuthedHttpRequest, ticket_id: int, recommendation_id: int
) -> HttpResponse:
    recommendation = _recommendation_on_ticket(request, ticket_id, recommendation_id)
    if recommendation is None:
        return _after_recovery_decision(
            request, ticket_id, error="That recommendation is not on this ticket."
        )
    form = CoapprovalForm(request.POST)
    if not form.is_valid():
        return _after_recovery_decision(request, ticket_id, error=_errors(form))
    try:
        recommendation_coapprove(
            recommendation=recommendation,
            supervisor=request.user,
            approve=form.cleaned_data["approve"] == "yes",
            reason=form.cleaned_data["reason"],
        )
    except DomainError as exc:
        return _after_recovery_decision(request, ticket_id, error=_domain_error(exc))
    return _after_recovery_decision(request, ticket_id)
