"""Fixed-window counters in the shared cache: the API's rate limits and the login limit per address.

One counter per key and window: ``cache.add`` creates it, ``cache.incr`` counts. Both are atomic in
Redis and in the in-process cache, so parallel requests cannot all read the same count and pass
together (DRF's own SimpleRateThrottle reads a list, appends and writes it back, which loses
counts under concurrency). A counter lives a little longer than its window, so it never expires
while it is still counted; the next window starts a new key.

The limits are only as wide as the cache: with the default in-process cache each web process
counts on its own. Production sets CACHE_URL to Redis (docs/operations.md).
"""

from __future__ import annotations

import ipaddress
import math
import time
from dataclasses import dataclass

from django.core.cache import cache


@dataclass(frozen=True)
class WindowCount:
    """How many hits a key has in the current window, and when that window ends."""

    count: int
    retry_after: int  # whole seconds until the window ends (at least 1)


def _window(*, key: str, period: int, now: float | None) -> tuple[str, int]:
    now = time.time() if now is None else now
    window = int(now // period)
    retry_after = max(1, math.ceil((window + 1) * period - now))
    return f"ratelimit:{key}:{period}:{window}", retry_after


def rate_window_hit(*, key: str, period: int, now: float | None = None) -> WindowCount:
    """Count one hit on ``key`` in the current window of ``period`` seconds."""
    cache_key, retry_after = _window(key=key, period=period, now=now)
    cache.add(cache_key, 0, timeout=period + 1)
    try:
        count = cache.incr(cache_key)
    except ValueError:
        # Evicted between add and incr (a full cache): start again from this hit.
        cache.set(cache_key, 1, timeout=period + 1)
        count = 1
    return WindowCount(count=count, retry_after=retry_after)


def rate_window_get(*, key: str, period: int, now: float | None = None) -> WindowCount:
    """The hits on ``key`` so far in the current window, without counting one."""
    cache_key, retry_after = _window(key=key, period=period, now=now)
    return WindowCount(count=int(cache.get(cache_key, 0)), retry_after=retry_after)


def rate_parse(rate: str) -> tuple[int, int]:
    """``"120/min"`` -> (120, 60): DRF's notation (s, min, h, day; only the first letter counts)."""
    number, _, period = rate.partition("/")
    seconds = {"s": 1, "m": 60, "h": 3600, "d": 86400}.get(period.strip()[:1])
    if not number.strip().isdigit() or seconds is None:
        raise ValueError(f"Not a rate: {rate!r} (expected e.g. 120/min)")
    return int(number), seconds


def rate_address_key(ip_address: str) -> str:
    """The unit a client address is counted in: an IPv4 address, or an IPv6 /64 (one machine
    usually holds a whole /64, and could otherwise take a fresh address for every attempt)."""
    try:
        address = ipaddress.ip_address(ip_address)
    except ValueError:
        return ip_address
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is None:
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)
