"""The privacy log's events as a person reads them: one sentence per event, from its kind.

The events store ids, states and counts (`privacy.events`); this turns them into text for the
privacy log. Plain strings: templates escape them as usual.
"""

from collections.abc import Callable, Mapping

from privacy.models import PrivacyEvent, PrivacyEventKind
from tickets.consent import ConsentPurpose
from tickets.history import fallback_sentence, humanise

# What each count of an erasure, export or retention run is of: (one, several).
COUNT_NOUNS: dict[str, tuple[str, str]] = {
    "tickets": ("ticket", "tickets"),
    "messages": ("message", "messages"),
    "analyses": ("copilot analysis", "copilot analyses"),
    "decisions": ("draft decision", "draft decisions"),
    "draft_decisions": ("draft decision", "draft decisions"),
    "recommendations": ("recovery recommendation", "recovery recommendations"),
    "audit_events": ("audit event", "audit events"),
    "solved_cases": ("similar-case example", "similar-case examples"),
    "signals": ("set of customer signals", "sets of customer signals"),
    "exports": ("data package", "data packages"),
    "copied_elsewhere": ("copy in other records", "copies in other records"),
    "admin_log": ("admin log entry", "admin log entries"),
    "index_generations_removed": ("old index generation", "old index generations"),
}


def counts_sentence(counts: Mapping[str, object], *, none: str = "nothing") -> str:
    """'3 tickets, 12 messages and 1 copilot analysis' (zero counts left out), in the order of
    COUNT_NOUNS whatever the stored order (PostgreSQL's jsonb keeps keys sorted its own way)."""
    order = {key: i for i, key in enumerate(COUNT_NOUNS)}
    parts = []
    for key, value in sorted(counts.items(), key=lambda kv: (order.get(kv[0], len(order)), kv[0])):
        if not isinstance(value, int) or isinstance(value, bool) or value == 0:
            continue
        one, several = COUNT_NOUNS.get(key, (humanise(key), humanise(key)))
        parts.append(f"{value:,} {one if value == 1 else several}")
    if not parts:
        return none
    if len(parts) == 1:
        return parts[0]
    return f"{', '.join(parts[:-1])} and {parts[-1]}"


def _purpose(value: object) -> str:
    try:
        return str(ConsentPurpose(str(value)).label)
    except ValueError:
        return humanise(str(value))


def _consent(data: Mapping[str, object]) -> str:
    purpose = _purpose(data.get("purpose", ""))
    granted, was = data.get("granted"), data.get("was")
    if granted == was:
        state = "opted in to" if granted else "opted out of"
        text = f"Confirmed: {state} {purpose} (no change)"
    elif granted:
        text = f"Opted in to {purpose} (was opted out)"
    else:
        text = f"Opted out of {purpose} (was opted in)"
    source = data.get("source")
    return f"{text}, recorded via {source}." if source else f"{text}."


def _export(verb: str) -> Callable[[Mapping[str, object]], str]:
    def sentence(data: Mapping[str, object]) -> str:
        rest = {k: v for k, v in data.items() if k != "export_id"}
        text = f"Data package #{data.get('export_id', '?')} {verb}"
        if rest:
            return f"{text}: {counts_sentence(rest, none='no records')}."
        return f"{text}."

    return sentence


def _erased(data: Mapping[str, object]) -> str:
    return f"Removed or redacted {counts_sentence(data)}."


def _retention(data: Mapping[str, object]) -> str:
    return f"Past their retention period: {counts_sentence(data)} redacted or cleared."


PRIVACY_SENTENCES: dict[str, Callable[[Mapping[str, object]], str]] = {
    PrivacyEventKind.CONSENT_CHANGED: _consent,
    PrivacyEventKind.EXPORT_REQUESTED: _export("requested"),
    PrivacyEventKind.EXPORT_READY: _export("ready"),
    PrivacyEventKind.EXPORT_DOWNLOADED: _export("downloaded"),
    PrivacyEventKind.ERASED: _erased,
    PrivacyEventKind.RETENTION: _retention,
}


def privacy_event_sentence(event: PrivacyEvent) -> str:
    """The event's details as one sentence."""
    data = event.data or {}
    sentence = PRIVACY_SENTENCES.get(event.kind)
    return sentence(data) if sentence is not None else fallback_sentence(data)
