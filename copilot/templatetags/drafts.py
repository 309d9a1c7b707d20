"""The drafted reply as the viewing agent would send it, its unfilled slots marked."""

from django import template
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from accounts.models import User
from copilot.models import MessageAnalysis
from copilot.nlp.deid import marker_spans
from copilot.selectors import draft_text_for_agent

register = template.Library()


@register.filter
def slots_marked(text: str) -> SafeString:
    """`text` escaped, with each unfilled-slot marker (`[order number]`) in a <mark>."""
    return format_html_join(
        "",
        "{}",
        (
            (format_html('<mark class="slot">{}</mark>', piece) if is_marker else piece,)
            for piece, is_marker in marker_spans(text)
        ),
    )


@register.simple_tag
def draft_signed(analysis: MessageAnalysis, user: User) -> str:
    """The draft signed with `user`'s name, as "Use" puts it into the reply box."""
    return draft_text_for_agent(analysis=analysis, agent=user)
