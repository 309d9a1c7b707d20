"""A library entry's text with its slots highlighted."""

from django import template
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from copilot.replies_selectors import reply_text_pieces

register = template.Library()


@register.filter
def reply_slots_marked(text: str) -> SafeString:
    """`text` escaped, with each `{slot}` in a <mark>."""
    return format_html_join(
        "",
        "{}",
        (
            (format_html('<mark class="slot">{}</mark>', piece) if is_slot else piece,)
            for piece, is_slot in reply_text_pieces(text=text)
        ),
    )
