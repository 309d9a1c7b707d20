"""The request types views and API views receive once login is enforced: the project's `User`
as `request.user`, so views need no casts and no `type: ignore`.

Here, not in `core`: they name the project's user model, and `core` sits beneath every app.
"""

from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest
from django_htmx.middleware import HtmxDetails
from rest_framework.request import Request

from accounts.models import User


class HtmxHttpRequest(HttpRequest):
    """The request type every view receives: django-htmx's details plus a logged-in user."""

    htmx: HtmxDetails
    user: User | AnonymousUser


class AuthedHttpRequest(HtmxHttpRequest):
    """A page's request behind the login (LoginRequiredMiddleware): the user is a `User`."""

    user: User


class AuthedRequest(Request):
    """An API view's request once `ApiAuthMixin`'s permissions passed: a `User`, never anonymous
    (DRF types `request.user` as any user model or AnonymousUser)."""

    user: User  # narrows DRF's property to what the permissions let in
