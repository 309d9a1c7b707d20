"""Intents as people read them: one lookup for every screen that shows an intent.

Every inbox row and panel shows one, so the admins' names are read once and kept in the cache
until one of them changes (`intent_labels_forget`, called by the admin on each save).
"""

from __future__ import annotations

from django.core.cache import cache

from copilot.models import IntentLabel

_CACHE_KEY = "copilot:intent-labels"
# Long, because a change clears it: the expiry only bounds how long a cache that missed a
# clear (another cache backend per process) may show an old name.
_CACHE_SECONDS = 10 * 60


def intent_label_default(*, key: str) -> str:
    """`track_order` → "Track order": the key in words, when no admin has named it."""
    words = key.replace("_", " ").replace("-", " ").strip()
    return words[:1].upper() + words[1:]


def intent_labels() -> dict[str, str]:
    """Every label an admin set, by key."""
    labels: dict[str, str] | None = cache.get(_CACHE_KEY)
    if labels is None:
        labels = dict(IntentLabel.objects.values_list("key", "label"))
        cache.set(_CACHE_KEY, labels, _CACHE_SECONDS)
    return labels


def intent_label(*, key: str) -> str:
    """The intent as people read it: the admins' name for it, else its key in words."""
    if not key:
        return ""
    return intent_labels().get(key) or intent_label_default(key=key)


def intent_labels_forget() -> None:
    """After a label changed: the next read takes the new names."""
    cache.delete(_CACHE_KEY)
