"""API rate limits: each credential has its own count, each kind of caller its own rate.

- ``user``: a person's session (the browsable API, the API docs), counted per user.
- ``token``: a staff member's API token (their scripts), counted per token.
- ``integration``: the shop's service accounts (``Role.INTEGRATION``), which post every customer
  message and keep customers in step with the shop: a higher rate of their own, counted per token.
- ``anon``: calls without credentials, per client address. DRF checks permissions before
  throttles, so on views that need a login those are answered 401 before they are counted.

Rates come from ``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]`` (environment variables, see
config/settings/base.py) and are read on each request. A throttled call is answered 429 with
``Retry-After``: the seconds until its window ends.
"""

from __future__ import annotations

import hashlib
from typing import Any

from rest_framework.authentication import TokenAuthentication
from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle

from core.ratelimit import rate_address_key, rate_parse, rate_window_hit


def _by_token(request: Request) -> bool:
    return isinstance(request.successful_authenticator, TokenAuthentication)


def _credential(request: Request) -> str:
    """The credential a call came with: its token (as a digest, so no secret lands in the cache's
    keys), otherwise the logged-in user."""
    if _by_token(request):
        return "token-" + hashlib.sha256(request.auth.key.encode()).hexdigest()[:32]
    return f"user-{request.user.pk}"


class _WindowThrottle(BaseThrottle):
    scope: str

    def __init__(self) -> None:
        self._wait: int | None = None

    def ident(self, request: Request) -> str | None:
        """The key this call is counted under, or None when this throttle does not apply."""
        raise NotImplementedError

    def allow_request(self, request: Request, view: Any) -> bool:
        ident = self.ident(request)
        # Read on each call (not at import, as DRF's SimpleRateThrottle does) so that changed
        # settings apply.
        rate = api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)
        if ident is None or rate is None:
            return True
        limit, period = rate_parse(str(rate))
        hits = rate_window_hit(key=f"{self.scope}:{ident}", period=period)
        if hits.count <= limit:
            return True
        self._wait = hits.retry_after
        return False

    def wait(self) -> int | None:
        return self._wait


class AnonThrottle(_WindowThrottle):
    scope = "anon"

    def ident(self, request: Request) -> str | None:
        if request.user and request.user.is_authenticated:
            return None
        # Honours NUM_PROXIES (the same proxy count as the login limit), not a forged
        # X-Forwarded-For.
        return rate_address_key(self.get_ident(request))


class UserThrottle(_WindowThrottle):
    scope = "user"

    def ident(self, request: Request) -> str | None:
        user = request.user
        if not (user and user.is_authenticated) or _by_token(request):
            return None
        if user.is_integration:
            return None
        return _credential(request)


class TokenThrottle(_WindowThrottle):
    scope = "token"

    def ident(self, request: Request) -> str | None:
        if not _by_token(request) or getattr(request.user, "is_integration", False):
            return None
        return _credential(request)


class IntegrationThrottle(_WindowThrottle):
    scope = "integration"

    def ident(self, request: Request) -> str | None:
        user = request.user
        if not (user and user.is_authenticated and user.is_integration):
            return None
        return _credential(request)
