from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest
from django_htmx.middleware import HtmxDetails

from accounts.models import User


class HtmxHttpRequest(HttpRequest):
    """The request type every view receives: django-htmx's details plus a logged-in user."""

    htmx: HtmxDetails
    user: User | AnonymousUser


class AuthedHttpRequest(HtmxHttpRequest):
    user: User
