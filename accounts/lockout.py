"""Failed-login limits, wired into django-axes so that every way of logging in is covered (the
login page, the admin's, anything that calls ``authenticate`` with a request).

Axes locks a username at one address after AXES_FAILURE_LIMIT failures. This adds a limit per
address across all usernames (LOGIN_IP_FAILURE_LIMIT within LOGIN_IP_WINDOW), against password
spraying. Either lock refuses the login before the password is checked, and answers 429 with a
page saying for how long, and ``Retry-After``.
"""

from __future__ import annotations

import math
from typing import Any

from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_client_username
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string

from accounts.selectors import login_account_lockout_seconds, login_address_lockout_seconds
from accounts.services import login_failure_record


class LoginLockoutHandler(AxesDatabaseHandler):
    """Axes' database handler, plus the count of failures per address."""

    def is_locked(self, request: Any, credentials: dict[str, Any] | None = None) -> bool:
        if login_address_lockout_seconds(ip_address=request.axes_ip_address) is not None:
            return True
        return bool(super().is_locked(request, credentials))

    def user_login_failed(
        self, sender: Any, credentials: dict[str, Any], request: Any = None, **kwargs: Any
    ) -> None:
        if request is None or self.is_whitelisted(request, credentials):
            super().user_login_failed(sender, credentials, request, **kwargs)
            return
        ip_address = request.axes_ip_address
        if login_address_lockout_seconds(ip_address=ip_address) is not None:
            # The address was locked, so the password was never checked: refuse, and record
            # nothing against the username (a colleague behind the same address would
            # otherwise collect failures of their own while the address is locked).
            self._refuse(request, credentials)
            return
        # Only passwords actually tried count: one refused by the username's own lock was not.
        tried = not super().is_locked(request, credentials)
        super().user_login_failed(sender, credentials, request, **kwargs)
        if not tried:
            return
        if login_failure_record(ip_address=ip_address).count >= settings.LOGIN_IP_FAILURE_LIMIT:
            self._refuse(request, credentials)

    @staticmethod
    def _refuse(request: Any, credentials: dict[str, Any]) -> None:
        # Read by axes' middleware, which answers with lockout_response below.
        request.axes_locked_out = True
        request.axes_credentials = credentials


def lockout_response(
    request: HttpRequest,
    original_response: HttpResponse | None = None,
    credentials: dict[str, Any] | None = None,
) -> HttpResponse:
    """The 429 page of a refused login: which lock, for how long, and a way back to the login."""
    ip_address: str = request.axes_ip_address  # type: ignore[attr-defined]
    by_address = login_address_lockout_seconds(ip_address=ip_address)
    by_account = login_account_lockout_seconds(
        username=get_client_username(request, credentials), ip_address=ip_address
    )
    seconds = max(by_address or 0, by_account or 0) or int(
        settings.AXES_COOLOFF_TIME.total_seconds()
    )
    context = {
        "by_address": by_address is not None and by_address >= (by_account or 0),
        "minutes": math.ceil(seconds / 60),
    }
    response = HttpResponse(
        render_to_string("registration/locked_out.html", context, request=request), status=429
    )
    response["Retry-After"] = str(seconds)
    return response
