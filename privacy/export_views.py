"""Admin pages for customers' data exports: request one, watch it being built, download it.

Each view parses input, calls one selector or service, and renders. The status page works as a
plain page (reload to see progress); with htmx its fragment polls itself while the worker runs.
"""

from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseStopPolling

from accounts.decorators import role_required
from accounts.http import AuthedHttpRequest
from accounts.models import Role
from core.errors import Conflict
from privacy.exports.selectors import export_get_for_user
from privacy.exports.services import export_download, export_request
from tickets.selectors import customer_get_for_user

STATUS = "privacy/exports/export_status.html"


@require_POST
@role_required(Role.ADMIN)
def export_request_view(request: AuthedHttpRequest, customer_id: int) -> HttpResponse:
    customer = customer_get_for_user(user=request.user, customer_id=customer_id)
    export = export_request(customer=customer, by=request.user)
    if request.htmx:
        return render(request, f"{STATUS}#export-status", {"export": export})
    return redirect("exports:export-status", export_id=export.pk)


@require_GET
@role_required(Role.ADMIN)
def export_status(request: AuthedHttpRequest, export_id: int) -> HttpResponse:
    try:
        export = export_get_for_user(user=request.user, export_id=export_id)
    except Http404:
        if request.htmx:
            # Erased meanwhile: a 404 would not be swapped and the poll would go on every 2 s;
            # 286 swaps this notice in and stops it (htmx "stop polling" code).
            html = render(request, f"{STATUS}#export-gone", {"export_id": export_id}).content
            return HttpResponseStopPolling(html)
        raise
    context = {"export": export, "customer": export.customer}
    if request.htmx and not request.htmx.history_restore_request:
        return render(request, f"{STATUS}#export-status", context)
    return render(request, STATUS, context)


@require_GET
@role_required(Role.ADMIN)
def export_download_view(request: AuthedHttpRequest, export_id: int) -> FileResponse:
    export = export_get_for_user(user=request.user, export_id=export_id)
    try:
        handle = export_download(export=export, by=request.user)
    except Conflict:
        raise Http404("This export is not ready.") from None
    return FileResponse(
        handle,
        as_attachment=True,
        # No name in the file name: it ends up in download folders and browser histories.
        filename=f"customer-{export.customer_id}-export-{export.pk}.zip",
        content_type="application/zip",
    )
