"""Deployment checks of our own, run by ``manage.py check --deploy`` beside Django's."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Tags, Warning, register


@register(Tags.security, deploy=True)
def check_rate_limit_cache(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    """The rate limits count in the cache; an in-process cache gives each web process a count of
    its own, so a deployment of N processes allows N times every limit."""
    backend = settings.CACHES["default"]["BACKEND"]
    if backend != "django.core.cache.backends.locmem.LocMemCache":
        return []
    return [
        Warning(
            "The cache is in-process memory: each web process counts API calls and failed "
            "logins on its own.",
            hint="Set CACHE_URL to a Redis shared by every web process (redis://host:6379/1).",
            id="core.W001",
        )
    ]
