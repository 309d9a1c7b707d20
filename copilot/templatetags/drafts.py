"""The drafted reply as the viewing agent would send it, its unfilled slots marked."""

from django import template
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from accounts.models import User
from copilot.models import MessageAnalysis
from copilot.nlp.deid import marker_spans
from copilot.selectors import draft_text_for_agent, suggestion_texts_for_agent

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


@register.simple_tag
def suggestions_signed(analysis: MessageAnalysis, user: User) -> list[dict[str, object]]:
    """The analysis's suggestions as "Use" puts them into the reply box: slots filled from
    this ticket and `user`, signed with `user`'s name; with their index and score."""
    texts = suggestion_texts_for_agent(analysis=analysis, agent=user)
    return [
        {"index": i, "text": text, "score": s["score"], "entry_id": s["entry_id"]}
        for i, (text, s) in enumerate(zip(texts, analysis.suggestions, strict=True))
    ]
