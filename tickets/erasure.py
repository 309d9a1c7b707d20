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
(`customer_lock_for_ticket`): an analysis that finishes after the erasure writes nothing.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.apps import apps
from django.conf import settings
from django.db import connection, transaction
from django.db.models import JSONField, Model, Q, QuerySet, TextField
from django.db.models.functions import Cast
from django.utils import timezone

from accounts.models import User
from tickets.events import privacy_event
from tickets.models import (
    AuthorKind,
    ConsentRecord,
    Customer,
    DataExport,
    Message,
    PrivacyEvent,
    PrivacyEventKind,
    Ticket,
)

logger = logging.getLogger(__name__)

ERASED = "[erased]"
# Why an analysis of an erased customer's message holds no result (shown on the ticket).
ERASED_BEFORE_ANALYSIS = "the customer's personal data was erased before it was analysed"


def customer_lock_for_ticket(*, ticket_id: int) -> Customer:
    """Lock the customer of a ticket: the first lock of any write that may store their personal
    data, taken in the same order as `customer_erase` takes it (customer, then analyses...), so
    such a write and an erasure serialise instead of deadlocking."""
    customer_id = Ticket.objects.filter(pk=ticket_id).values_list("customer_id", flat=True).get()
    return Customer.objects.select_for_update().get(pk=customer_id)


def customer_is_erased(*, customer: Customer) -> bool:
    """Whether the customer was erased; read under `customer_lock_for_ticket` it stays true or
    false until the caller commits."""
    return PrivacyEvent.objects.filter(customer=customer, kind=PrivacyEventKind.ERASED).exists()


@dataclass
class ErasureReceipt:
    customer_id: int
    counts: dict[str, int] = field(default_factory=dict)


def _pseudonym(customer: Customer) -> str:
    # Stable for the row, unrelated to the erased data: shows up in finance exports of refunds.
    return "erased-" + hashlib.sha256(f"customer-{customer.pk}".encode()).hexdigest()[:16]


def customer_erase(*, customer: Customer, by: User | None) -> ErasureReceipt:
    """Erase a customer's personal data (see the module docstring); the index follows after
    commit, and old index generations that held their vectors are removed from disk."""
    from copilot.services.cases import case_index_sync

    with transaction.atomic():
        receipt = _erase_rows(customer=customer, by=by)
    # Synchronously, not queued: an erasure is done when this returns. Waits for any other
    # writer of the index, then drops every older generation (they held the vectors).
    try:
        case_index_sync(wait=True)
        from copilot.engine import index_store

        receipt.counts["index_generations_removed"] = index_store().prune_all_but_current()
    except Exception:  # the rows are erased; a broken index is repaired by a rebuild
        logger.exception("Index not updated after erasing customer %s", customer.pk)
    return receipt


def _erase_rows(*, customer: Customer, by: User | None) -> ErasureReceipt:
    from copilot.models import AnalysisStatus, DraftDecisionEvent, MessageAnalysis, SolvedCase
    from recovery.models import AuditEvent, CustomerSignals, Recommendation

    # Lock order: the customer, then their analyses, then the rest. An analysis finishing takes
    # the same first two (`customer_lock_for_ticket`), and a draft decision locks its analysis
    # before its ticket, so none of them can deadlock with an erasure.
    locked = Customer.objects.select_for_update().get(pk=customer.pk)
    tickets = Ticket.objects.filter(customer=locked)
    analyses = MessageAnalysis.objects.filter(ticket__in=tickets)
    list(analyses.select_for_update(of=("self",)).values_list("pk", flat=True))
    receipt = ErasureReceipt(customer_id=locked.pk)
    counts = receipt.counts
    # Read before they are emptied: what identifies them where their text was copied.
    identifiers = _identifiers_collect(locked)
    ticket_ids = set(tickets.values_list("pk", flat=True))
    counts["admin_log"] = _admin_log_erase(locked, ticket_ids=ticket_ids)
    counts["messages"] = Message.objects.filter(ticket__in=tickets).update(
        body=ERASED, author_name="", external_id=""
    )
    counts["tickets"] = tickets.update(subject=ERASED, resolution=ERASED, external_id=None)
    counts["analyses"] = analyses.update(
        draft_reply="",
        draft_reasons=[],
        intent_candidates=[],
        error="",
        conversation_reasons=[],  # quotes the customer's words
    )
    # A worker that read a message before this erasure must not write what it computed: the
    # analyses still awaiting their result get none (analysis_run re-checks under the lock).
    analyses.filter(status=AnalysisStatus.PENDING).update(
        status=AnalysisStatus.NOT_ANALYSABLE,
        error=ERASED_BEFORE_ANALYSIS,
        finished_at=timezone.now(),
    )
    counts["draft_decisions"] = DraftDecisionEvent.objects.filter(analysis__in=analyses).update(
        proposed_text=ERASED, final_text=ERASED
    )
    counts["recommendations"] = Recommendation.objects.filter(ticket__in=tickets).update(
        explanation=ERASED, evidence={}, decision_reason=""
    )
    counts["audit_events"] = AuditEvent.objects.filter(ticket__in=tickets).redact_for_erasure()
    counts["solved_cases"], _ = SolvedCase.objects.filter(ticket__in=tickets).delete()
    counts["signals"], _ = CustomerSignals.objects.filter(customer=locked).delete()
    ConsentRecord.objects.filter(customer=locked).update(note="")
    counts["exports"] = _exports_delete(locked)
    counts["copied_elsewhere"] = _copies_redact(identifiers, erased_ticket_ids=ticket_ids)
    locked.name = "Erased customer"
    locked.email = ""
    locked.external_id = _pseudonym(locked)
    locked.signup_date = None
    locked.lifetime_spend = 0
    locked.order_count = 0
    locked.save()
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


def _identifiers_collect(customer: Customer) -> _Identifiers:
    from copilot.nlp.draft import find_references

    exact: set[str] = set()
    parts: set[str] = set()

    def name(value: str) -> None:
        value = " ".join(value.split())
        words = [w for w in re.split(r"[\s,]+", value) if len(w) >= _MIN_NAME_PART]
        if len(words) > 1 and len(value) >= _MIN_EXACT:
            exact.add(value)
        parts.update(words)

    name(customer.name)
    for author in (
        Message.objects.filter(ticket__customer=customer, author_kind=AuthorKind.CUSTOMER)
        .values_list("author_name", flat=True)
        .distinct()
    ):
        name(author)
    exact.update(v for v in (customer.email, customer.external_id) if v)
    # A social handle is the shop's id without its prefix ("twcs-115818" is "@115818").
    handle = re.split(r"[-:/]", customer.external_id)[-1]
    if len(handle) >= _MIN_EXACT:
        exact.add("@" + handle)
    tickets = Ticket.objects.filter(customer=customer)
    exact.update(t for t in tickets.values_list("external_id", flat=True) if t)
    texts = [
        *Message.objects.filter(ticket__in=tickets).values_list("body", flat=True),
        *(
            f"{subject}\n{resolution}"
            for subject, resolution in tickets.values_list("subject", "resolution")
        ),
    ]
    for text in texts:
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


def _admin_log_erase(customer: Customer, *, ticket_ids: set[int]) -> int:
    """The admin's history of the customer's own rows names them (a customer's and a ticket's
    text is what the admin shows as the object); the entries stay, without the text."""
    from django.contrib.admin.models import LogEntry
    from django.contrib.contenttypes.models import ContentType

    rows = Q(content_type=ContentType.objects.get_for_model(Customer), object_id=str(customer.pk))
    if ticket_ids:
        rows |= Q(
            content_type=ContentType.objects.get_for_model(Ticket),
            object_id__in=[str(pk) for pk in ticket_ids],
        )
    return LogEntry.objects.filter(rows).update(object_repr=ERASED, change_message="")


def _copies_redact(identifiers: _Identifiers, *, erased_ticket_ids: set[int]) -> int:
    """Other customers' records that quote the erased one: drafts built from the erased
    customer's solved cases (found by the similar-case references stored on the analyses),
    the replies sent from them, the decisions on them and their audit events, and, by a plain
    search for the identifiers, any other text where they were copied. Only the identifiers
    are replaced: the rest is another customer's record."""
    from copilot.models import DraftDecisionEvent, MessageAnalysis, SolvedCase
    from recovery.models import AuditEvent

    exact = _pattern(identifiers.exact)
    changed = 0
    # 1. What was built from their cases: the first name alone counts there too (a draft's
    # greeting copied from their resolution), unless it is also the other customer's own.
    for analysis in _analyses_citing(erased_ticket_ids).select_related("ticket__customer"):
        own = {w.lower() for w in re.split(r"\W+", analysis.ticket.customer.name)}
        linked = _pattern(
            {*identifiers.exact, *(p for p in identifiers.name_parts if p.lower() not in own)}
        )
        redact = _redactor(linked)
        changed += _rows_redact(
            MessageAnalysis.objects.filter(pk=analysis.pk), ("draft_reply", "draft_reasons"), redact
        )
        decisions = DraftDecisionEvent.objects.filter(analysis=analysis)
        changed += _rows_redact(decisions, ("proposed_text", "final_text"), redact)
        sent = Message.objects.filter(pk__in=decisions.values("message_id"))
        changed += _rows_redact(sent, ("body",), redact)
        changed += AuditEvent.objects.filter(analysis=analysis).redact_text_for_erasure(redact)
    if exact is None:
        return changed
    # 2. Wherever else the identifiers were copied.
    redact = _redactor(exact)
    terms = identifiers.exact
    for model_label, fields in _FREE_TEXT.items():
        model = apps.get_model(model_label)
        changed += _rows_redact(_rows_containing(model, fields, terms), fields, redact)
    changed += _rows_containing(
        AuditEvent, ("reason", "proposed", "final"), terms
    ).redact_text_for_erasure(redact)
    recased = list(
        _rows_containing(SolvedCase, ("text",), terms).values_list("ticket_id", flat=True)
    )
    if recased:
        changed += _rows_redact(SolvedCase.objects.filter(ticket_id__in=recased), ("text",), redact)
        from copilot.tasks import record_solved_case

        # The vectors follow their text: embedded again after commit.
        for ticket_id in recased:
            record_solved_case.delay_on_commit(ticket_id=ticket_id)
    return changed


# Free text where another customer's identifiers can have been copied (a draft, a reply, a
# note, an explanation), searched for the erased customer's identifiers. The audit trail and
# the similar cases have their own paths above; `verify_erasure` searches every column anyway.
# Not authors' names: another customer's own name there is a namesake, not a copy.
_FREE_TEXT: dict[str, tuple[str, ...]] = {
    "tickets.Message": ("body",),
    "tickets.Ticket": ("subject", "resolution"),
    "tickets.ConsentRecord": ("note",),
    "copilot.MessageAnalysis": ("draft_reply", "draft_reasons", "error"),
    "copilot.DraftDecisionEvent": ("proposed_text", "final_text"),
    "recovery.Recommendation": ("explanation", "decision_reason", "evidence"),
    "recovery.RecoveryExecution": ("error", "result"),
    "admin.LogEntry": ("object_repr", "change_message"),
}


def _analyses_citing(ticket_ids: set[int]) -> QuerySet[Any]:
    """Analyses whose similar cases include one of these tickets."""
    from copilot.models import MessageAnalysis

    others = MessageAnalysis.objects.exclude(ticket_id__in=ticket_ids).exclude(similar_cases=[])
    if not ticket_ids:
        return others.none()
    if connection.features.supports_json_field_contains:
        cited = Q()
        for pk in ticket_ids:
            cited |= Q(similar_cases__contains=[{"ticket_id": pk}])
        return others.filter(cited)
    pks = [
        pk
        for pk, cases in others.values_list("pk", "similar_cases").iterator()
        if any(c.get("ticket_id") in ticket_ids for c in cases if isinstance(c, dict))
    ]
    return others.filter(pk__in=pks)


def _rows_containing(
    model: type[Model], fields: tuple[str, ...], terms: tuple[str, ...]
) -> QuerySet[Any]:
    """Rows with any of the terms in any of the fields, case-insensitively (JSON as text)."""
    qs = model._default_manager.all()
    match = Q()
    for name in fields:
        column = name
        if isinstance(model._meta.get_field(name), JSONField):
            column = f"_{name}_text"
            qs = qs.annotate(**{column: Cast(name, TextField())})
        for term in terms:
            match |= Q(**{f"{column}__icontains": term})
    return qs.filter(match)


def _rows_redact(qs: QuerySet[Any], fields: tuple[str, ...], redact: Callable[[Any], Any]) -> int:
    """Replace the identifiers in these rows' fields, row by row; returns the rows changed."""
    model = qs.model
    changed = 0
    for row in qs.values("pk", *fields):
        new = {}
        for name in fields:
            value = redact(row[name])
            limit = getattr(model._meta.get_field(name), "max_length", None)
            if isinstance(value, str) and limit:
                value = value[:limit]
            if value != row[name]:
                new[name] = value
        if new:
            changed += model._default_manager.filter(pk=row["pk"]).update(**new)
    return changed


def _exports_delete(customer: Customer) -> int:
    exports = list(DataExport.objects.filter(customer=customer))
    for export in exports:
        if export.file:
            Path(settings.PRIVACY_EXPORT_DIR, Path(export.file).name).unlink(missing_ok=True)
    DataExport.objects.filter(customer=customer).delete()
    return len(exports)
