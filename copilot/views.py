"""Admins' reply library pages: list and filter entries, add a saved reply, edit, switch on/off.

Admins see every team, so the entries are fetched without a team scope; the role check is the
scope. Another role gets a 403 before anything is read.
"""

from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.decorators import role_required
from accounts.http import AuthedHttpRequest
from accounts.models import Role
from copilot.forms import ReplyAddForm, ReplyEditForm, ReplyFilterForm, ReplyToggleForm
from copilot.models import ReplyEntry
from copilot.replies_selectors import reply_entry_get, reply_entry_list
from copilot.services.replies import reply_entry_create, reply_entry_update
from core.errors import DomainError

LIST = "copilot/replies/list.html"
FORM = "copilot/replies/form.html"
PAGE_SIZE = 50


def _entry(entry_id: int) -> ReplyEntry:
    try:
        return reply_entry_get(entry_id=entry_id)
    except ReplyEntry.DoesNotExist:
        raise Http404("No such reply.") from None


@require_GET
@role_required(Role.ADMIN)
def reply_list(request: AuthedHttpRequest) -> HttpResponse:
    form = ReplyFilterForm(request.GET)
    # A bad filter (an unknown team id) is named on the form; the list shows every entry.
    filters = form.cleaned_data if form.is_valid() else {}
    active = {"yes": True, "no": False}.get(filters.get("active") or "")
    team = filters.get("team")
    qs = reply_entry_list(
        q=(filters.get("q") or "").strip(),
        team_id=team.pk if team else None,
        source=filters.get("source") or "",
        active=active,
        company=(filters.get("company") or "").strip() or None,
    )
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    template = LIST + ("#reply-results" if request.htmx else "")
    status = 200 if form.is_valid() else 400
    return render(
        request,
        template,
        {"page": page, "form": form, "query": query.urlencode()},
        status=status,
    )


@require_http_methods(["GET", "POST"])
@role_required(Role.ADMIN)
def reply_add(request: AuthedHttpRequest) -> HttpResponse:
    form = ReplyAddForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            entry = reply_entry_create(
                team=form.cleaned_data["team"],
                company=form.cleaned_data["company"],
                text=form.cleaned_data["text"],
                by=request.user,
            )
        except DomainError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            return redirect("replies:edit", entry_id=entry.pk)
    status = 400 if request.method == "POST" else 200
    return render(request, FORM, {"form": form, "entry": None}, status=status)


@require_http_methods(["GET", "POST"])
@role_required(Role.ADMIN)
def reply_edit(request: AuthedHttpRequest, entry_id: int) -> HttpResponse:
    entry = _entry(entry_id)
    initial = {"text": entry.text, "active": entry.active}
    form = ReplyEditForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            reply_entry_update(
                entry=entry,
                by=request.user,
                text=form.cleaned_data["text"],
                active=form.cleaned_data["active"],
            )
        except DomainError as exc:
            entry.refresh_from_db()
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            return redirect("replies:edit", entry_id=entry.pk)
    status = 400 if request.method == "POST" else 200
    return render(request, FORM, {"form": form, "entry": entry}, status=status)


@require_POST
@role_required(Role.ADMIN)
def reply_toggle(request: AuthedHttpRequest, entry_id: int) -> HttpResponse:
    entry = _entry(entry_id)
    form = ReplyToggleForm(request.POST)
    if not form.is_valid():
        return HttpResponse("active: choose yes or no.", status=400, content_type="text/plain")
    reply_entry_update(entry=entry, by=request.user, active=form.cleaned_data["active"] == "yes")
    if not request.htmx:
        return redirect("replies:list")
    return render(request, f"{LIST}#reply-row", {"entry": entry})
