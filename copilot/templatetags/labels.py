"""Labels that read like a product: `{{ ticket.intent|intent_label }}` shows "Track order"."""

from django import template

from copilot.labels import intent_label as _intent_label

register = template.Library()


@register.filter
def intent_label(key: str | None) -> str:
    """An intent key as people read it ("" stays "", for `default`)."""
    return _intent_label(key=key or "")
