"""Erasure of a customer: their personal data removed everywhere the system keeps it.

What is kept, and why: the customer row (pseudonymised, so tickets, figures and executed
refunds still add up), tickets and messages as empty shells (status, times, channel, team),
analyses' headline signals (sentiment, intent; no text), recommendations and executions
(action, amount, currency, status: a refund that was paid must stay on the books), and the
audit trail of who decided what (its texts redacted). Everything that identifies the person or
says what they wrote is removed: name, e-mail, the shop's customer id, every message body and
author name, subjects and resolutions, drafted replies and decisions' texts, explanations and
reasons, customer signals, similar-case vectors (in the database and in every index generation
on disk), the admin's log of their rows, and any export package made for them. Where their
identifiers (name, e-mail, the shop's ids, handle, order and reference numbers) were copied into
other customers' records (a draft built from their solved case, the reply sent from it, its
decision and audit event, a pasted note), those identifiers are replaced and the rest is kept.

An erasure and an analysis of the customer's message serialise on the customer's row lock
(`tickets.customer_data.customer_lock_for_ticket`): an analysis that finishes after the erasure
writes nothing.

Each app erases its own rows (`tickets_erase_for_customer`, `copilot_erase_for_customer`,
`recovery_erase_for_customer`) and replaces the identifiers in its own free text; this module
collects the identifiers, runs the apps' parts in the order of the locks, and records it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.admin.models import LogEntry
from django.db import transaction

from accounts.models import User
from copilot.customer_data import (
    copilot_analyses_citing,
    copilot_analysis_redact,
    copilot_erase_for_customer,
    copilot_index_after_erasure,
    copilot_redact_copies,
)
from copilot.nlp.draft import find_references
from core.textsearch import rows_containing, rows_redact
from privacy.events import privacy_event
from privacy.models import ConsentRecord, DataExport, PrivacyEventKind
from recovery.customer_data import (
    recovery_audit_redact_for_analysis,
    recovery_erase_for_customer,
    recovery_redact_copies,
)
from tickets.customer_data import (
    ERASED,
    CustomerIdentity,
    customer_lock,
    tickets_erase_for_customer,
    tickets_identity_for_customer,
    tickets_ids_for_customer,
    tickets_messages_redact,
    tickets_redact_copies,
)
from tickets.models import Customer

logger = logging.getLogger(__name__)


@dataclass
class ErasureReceipt:
    customer_id: int
    counts: dict[str, int] = field(default_factory=dict)


def customer_erase(*, customer: Customer, by: User | None) -> ErasureReceipt:
    """Erase a customer's personal data (see the module docstring); the index follows after
    commit, and old index generations that held their vectors are removed from disk."""
    with transaction.atomic():
        receipt = _erase_rows(customer=customer, by=by)
    # Synchronously, not queued: an erasure is done when this returns. Waits for any other
    # writer of the index, then drops every older generation (they held the vectors).
    try:
        receipt.counts["index_generations_removed"] = copilot_index_after_erasure()
    except Exception:  # the rows are erased; a broken index is repaired by a rebuild
        logger.exception("Index not updated after erasing customer %s", customer.pk)
    return receipt


def _erase_rows(*, customer: Customer, by: User | None) -> ErasureReceipt:
    # Lock order: the customer, then their analyses (the copilot's part locks them first), then
    # the rest. An analysis finishing takes the same first two (`customer_lock_for_ticket`),
    # and a draft decision locks its analysis before its ticket, so none of them can deadlock
    # with an erasure.
    locked = customer_lock(customer_id=customer.pk)
    receipt = ErasureReceipt(customer_id=locked.pk)
    counts = receipt.counts
    # Read before they are emptied: what identifies them where their text was copied.
    identifiers = _identifiers_collect(tickets_identity_for_customer(customer_id=locked.pk))
    ticket_ids = tickets_ids_for_customer(customer_id=locked.pk)
    copilot_counts = copilot_erase_for_customer(customer_id=locked.pk)
    counts.update(tickets_erase_for_customer(customer_id=locked.pk))
    counts.update(copilot_counts)
    counts.update(recovery_erase_for_customer(customer_id=locked.pk))
    ConsentRecord.objects.filter(customer=locked).update(note="")
    counts["exports"] = _exports_delete(locked)
    counts["copied_elsewhere"] = _copies_redact(identifiers, erased_ticket_ids=ticket_ids)
    locked.refresh_from_db()
    privacy_event(kind=PrivacyEventKind.ERASED, customer=locked, actor=by, data=dict(counts))
    return receipt


@dataclass(frozen=True)
class _Identifiers:
    """What identifies the erased customer in text: `exact` is replaced wherever it is found
    (their full name, e-mail, the shop's ids, their handle, their order and reference
    numbers); `name_parts` (a first name alone) only in text built from their own cases, where
    it cannot be another person of that name."""

    exact: tuple[str, ...]
    name_parts: tuple[str, ...]


# Shorter than this, a term is too likely to be part of someone else's text.
_MIN_EXACT = 4
_MIN_NAME_PART = 3


def _identifiers_collect(identity: CustomerIdentity) -> _Identifiers:
    exact: set[str] = set()
    parts: set[str] = set()

    def name(value: str) -> None:
        value = " ".join(value.split())
        words = [w for w in re.split(r"[\s,]+", value) if len(w) >= _MIN_NAME_PART]
        if len(words) > 1 and len(value) >= _MIN_EXACT:
            exact.add(value)
        parts.update(words)

    name(identity.name)
    for author in identity.author_names:
        name(author)
    exact.update(v for v in (identity.email, identity.external_id) if v)
    # A social handle is the shop's id without its prefix ("twcs-115818" is "@115818").
    handle = re.split(r"[-:/]", identity.external_id)[-1]
    if len(handle) >= _MIN_EXACT:
        exact.add("@" + handle)
    exact.update(identity.ticket_external_ids)
    for text in identity.texts:
        exact.update(find_references(text))
    exact = {t for t in exact if len(t) >= _MIN_EXACT and t != ERASED}
    return _Identifiers(exact=tuple(sorted(exact)), name_parts=tuple(sorted(parts)))


def _pattern(terms: set[str] | tuple[str, ...]) -> re.Pattern[str] | None:
    if not terms:
        return None
    # Longest first, so a full name is replaced whole rather than word by word.
    alternatives = "|".join(re.escape(t) for t in sorted(terms, key=len, reverse=True))
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)


def _redactor(pattern: re.Pattern[str] | None) -> Callable[[Any], Any]:
    """Replaces every match in a string, or in every string of a JSON value."""

    def redact(value: Any) -> Any:
        if pattern is None:
            return value
        if isinstance(value, str):
            return pattern.sub(ERASED, value)
        if isinstance(value, list):
            return [redact(v) for v in value]
        if isinstance(value, dict):
            return {k: redact(v) for k, v in value.items()}
        return value

    return redact


def _copies_redact(identifiers: _Identifiers, *, erased_ticket_ids: set[int]) -> int:
    """Other customers' records that quote the erased one: drafts built from the erased
    customer's solved cases (found by the similar-case references stored on the analyses),
    the replies sent from them, the decisions on them and their audit events, and, by a plain
    search for the identifiers, any other text where they were copied. Only the identifiers
    are replaced: the rest is another customer's record."""
    exact = _pattern(identifiers.exact)
    changed = 0
    # 1. What was built from their cases: the first name alone counts there too (a draft's
    # greeting copied from their resolution), unless it is also the other customer's own.
    for cited in copilot_analyses_citing(ticket_ids=erased_ticket_ids):
        own = {w.lower() for w in re.split(r"\W+", cited.customer_name)}
        linked = _pattern(
            {*identifiers.exact, *(p for p in identifiers.name_parts if p.lower() not in own)}
        )
        redact = _redactor(linked)
        changed += copilot_analysis_redact(analysis_id=cited.analysis_id, redact=redact)
        changed += tickets_messages_redact(message_ids=cited.sent_message_ids, redact=redact)
        changed += recovery_audit_redact_for_analysis(analysis_id=cited.analysis_id, redact=redact)
    if exact is None:
        return changed
    # 2. Wherever else the identifiers were copied: each app searches its own free text (not
    # authors' names: another customer's own name there is a namesake, not a copy), this app
    # its consent notes and Django's admin log, which no app of ours owns. `verify_erasure`
    # searches every column anyway.
    redact = _redactor(exact)
    terms = identifiers.exact
    changed += tickets_redact_copies(terms=terms, redact=redact)
    changed += copilot_redact_copies(terms=terms, redact=redact)
    changed += recovery_redact_copies(terms=terms, redact=redact)
    for model, fields in (
        (ConsentRecord, ("note",)),
        (LogEntry, ("object_repr", "change_message")),
    ):
        changed += rows_redact(rows_containing(model, fields, terms), fields, redact)
    return changed


def _exports_delete(customer: Customer) -> int:
    exports = list(DataExport.objects.filter(customer=customer))
    for export in exports:
        if export.file:
            Path(settings.PRIVACY_EXPORT_DIR, Path(export.file).name).unlink(missing_ok=True)
    DataExport.objects.filter(customer=customer).delete()
    return len(exports)
