"""Stored details (JSON of ids, states, counts and amounts) shown to people, escaped."""

from collections.abc import Mapping

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString


def _value(value: object) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Mapping):
        return ", ".join(f"{str(k).replace('_', ' ')}: {_value(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(_value(v) for v in value)
    return str(value)


def definition_list(data: Mapping[str, object] | None) -> SafeString:
    """`{"amount": "10.00", "personalised": true}` as <dl><dt>Amount</dt><dd>10.00</dd>...;
    every key and value escaped."""
    if not data:
        return format_html("{}", "—")
    rows = format_html_join(
        "",
        "<dt>{}</dt><dd>{}</dd>",
        ((str(k).replace("_", " ").capitalize(), _value(v)) for k, v in data.items()),
    )
    return format_html('<dl class="details">{}</dl>', rows)
