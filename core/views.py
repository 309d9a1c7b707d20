"""Error pages that need more than a template."""

import sys

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.views import defaults

from core.retry import TRANSIENT_ERRORS

# How long clients should wait before retrying when the database is away (a restart, a
# failover usually takes seconds).
RETRY_AFTER_SECONDS = 5


def server_error(request: HttpRequest) -> HttpResponse:
    """A 500, unless the database is unreachable: then a 503 saying to retry shortly.

    Django calls this while handling the exception, so it is still in sys.exc_info(). The page
    is rendered without the request context: that would query the database again.
    """
    exc = sys.exc_info()[1]
    if not isinstance(exc, TRANSIENT_ERRORS):
        return defaults.server_error(request)
    response: HttpResponse
    if request.path.startswith("/api/"):
        response = JsonResponse(
            {"detail": "The database is unavailable; retry in a few seconds."}, status=503
        )
    else:
        response = HttpResponse(render_to_string("503.html"), status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response
