"""Ticket events as a person reads them: one sentence per event, from its kind.

The events store ids and states (`tickets.events`); this turns them into text for the admin and
any other history. Plain strings: templates escape them as usual. (The privacy log's events:
privacy/history.py.)
"""

from collections.abc import Mapping

from tickets.models import Status, TicketEvent, TicketEventKind


def humanise(key: str) -> str:
    """A stored key in words: "draft_decisions" is "draft decisions"."""
    return key.replace("_", " ")


def _status(value: object) -> str:
    try:
        return str(Status(str(value)).label)
    except ValueError:
        return humanise(str(value))


def _ticket_sentence(event: TicketEvent) -> str:
    data = event.data or {}
    if event.kind == TicketEventKind.CREATED:
        return f"Created via {data.get('channel') or 'an unknown channel'}."
    if event.kind == TicketEventKind.IMPORTED:
        return f"Imported from {data.get('source') or 'an unknown source'}."
    if event.kind == TicketEventKind.STATUS_CHANGED:
        return f"Status changed from {_status(data.get('from'))} to {_status(data.get('to'))}."
    if event.kind == TicketEventKind.ASSIGNED:
        old, new = data.get("from") or "nobody", data.get("to") or "nobody"
        return f"Assignee changed from {old} to {new}."
    return fallback_sentence(data)


def fallback_sentence(data: Mapping[str, object]) -> str:
    """An event of a kind without a sentence of its own: its fields, named in words."""
    if not data:
        return ""
    return "; ".join(f"{humanise(str(k)).capitalize()}: {v}" for k, v in data.items()) + "."


def event_sentence(event: TicketEvent) -> str:
    """The event's details as one sentence."""
    return _ticket_sentence(event)
