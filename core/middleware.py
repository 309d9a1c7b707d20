from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse, QueryDict


class NoStoreMiddleware:
    """Security headers Django 5.2 does not set itself.

    - Content-Security-Policy (Django gains a built-in CSP only in 6.0).
    - ``Cache-Control: no-store`` on every response to a logged-in user: pages and fragments carry
      customer data, which must not linger in shared or browser caches.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", settings.CONTENT_SECURITY_POLICY)
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            response.headers["Cache-Control"] = "no-store, private"
        return response


NUL_MESSAGE = "Null characters are not allowed."
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


class RejectNulMiddleware:
    """A 400 naming the parameter for any NUL character in the query string or a form body.

    PostgreSQL refuses NUL in text ("A string literal cannot contain NUL (0x00) characters"), so a
    search for "%00" reaching a filter was a 500; SQLite stores it, which is how it went unseen.
    Forms and serializers refuse NUL in the fields they declare; this covers every parameter a
    view reads by hand (searches, the admin's changelists, login names that axes records).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        field = _nul_field(request.GET)
        if field is None and request.content_type in FORM_TYPES:
            # Django parses a form body once and keeps it; DRF reuses that parse.
            field = _nul_field(request.POST)
        if field is None and "\x00" in request.path:
            field = "path"
        if field is None:
            return self.get_response(request)
        if request.path.startswith("/api/"):
            return JsonResponse({field: [NUL_MESSAGE]}, status=400)
        return HttpResponseBadRequest(f"{field}: {NUL_MESSAGE}", content_type="text/plain")


def _nul_field(params: QueryDict) -> str | None:
    """The first parameter whose name or any value holds a NUL (its name, NULs shown as \\0)."""
    for key, values in params.lists():
        if "\x00" in key or any("\x00" in value for value in values):
            return key.replace("\x00", "\\0")
    return None
