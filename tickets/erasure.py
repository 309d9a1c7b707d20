"""Erasure of a customer: their personal data removed everywhere the system keeps it.

What is kept, and why: the customer row (pseudonymised, so tickets, figures and executed
refunds still add up), tickets and messages as empty shells (status, times, channel, team),
analyses' headline signals (sentiment, intent; no text), recommendations and executions
(action, amount, currency, status: a refund that was paid must stay on the books), and the
audit trail of who decided what (its texts redacted). Everything that identifies the person or
says what they wrote is removed: name, e-mail, the shop's customer id, every message body and
author name, subjects and resolutions, drafted replies and decisions' texts, explanations and
reasons, customer signals, similar-case vectors (in the database and in every index generation
on disk), and any export package made for them.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from tickets.events import privacy_event
from tickets.models import (
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
    from copilot.cases import case_index_sync

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
    counts["messages"] = Message.objects.filter(ticket__in=tickets).update(
        body=ERASED, author_name="", external_id=""
    )
    counts["tickets"] = tickets.update(subject=ERASED, resolution=ERASED, external_id=None)
    counts["analyses"] = analyses.update(
        draft_reply="", draft_reasons=[], intent_candidates=[], error=""
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
    locked.name = "Erased customer"
    locked.email = ""
    locked.external_id = _pseudonym(locked)
    locked.signup_date = None
    locked.lifetime_spend = 0
    locked.order_count = 0
    locked.save()
    privacy_event(kind=PrivacyEventKind.ERASED, customer=locked, actor=by, data=dict(counts))
    return receipt


def _exports_delete(customer: Customer) -> int:
    exports = list(DataExport.objects.filter(customer=customer))
    for export in exports:
        if export.file:
            Path(settings.PRIVACY_EXPORT_DIR, Path(export.file).name).unlink(missing_ok=True)
    DataExport.objects.filter(customer=customer).delete()
    return len(exports)


@dataclass
class VerificationReport:
    checked: list[str] = field(default_factory=list)
    found: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.found


# Our apps: every text column of their models is searched.
_APPS = ("accounts", "tickets", "copilot", "recovery")


def erasure_verify(*, customer_id: int, terms: list[str]) -> VerificationReport:
    """Search everything the system stores for the erased customer's identifiers (their name,
    e-mail, the shop's id: given by the admin, since the system no longer knows them)."""
    terms = [t for t in (t.strip() for t in terms) if len(t) >= 3]
    report = VerificationReport()
    _verify_database(terms, report)
    _verify_index(customer_id, report)
    _verify_redis(terms, report)
    _verify_exports(customer_id, terms, report)
    return report


def _verify_database(terms: list[str], report: VerificationReport) -> None:
    from django.apps import apps
    from django.db import models
    from django.db.models.functions import Cast

    text_fields = (models.CharField, models.TextField, models.JSONField)
    for app in _APPS:
        for model in apps.get_app_config(app).get_models():
            for fld in model._meta.concrete_fields:
                if not isinstance(fld, text_fields) or fld.choices:
                    continue
                label = f"{model._meta.db_table}.{fld.column}"
                report.checked.append(f"database column {label}")
                for term in terms:
                    qs = model._default_manager.all()
                    if isinstance(fld, models.JSONField):
                        qs = qs.annotate(_text=Cast(fld.name, models.TextField()))
                        hits = qs.filter(_text__icontains=term).count()
                    else:
                        hits = qs.filter(**{f"{fld.name}__icontains": term}).count()
                    if hits:
                        report.found.append(f"{label}: {hits} row(s) contain {term!r}")


def _verify_index(customer_id: int, report: VerificationReport) -> None:
    from copilot.engine import index_store
    from copilot.models import SolvedCase

    ticket_ids = set(Ticket.objects.filter(customer_id=customer_id).values_list("pk", flat=True))
    if SolvedCase.objects.filter(ticket_id__in=ticket_ids).exists():
        report.found.append("copilot_solvedcase: case vectors of the customer's tickets")
    store = index_store()
    for generation in store.generations():
        report.checked.append(f"similar-case index generation {generation} in {store.root}")
        try:
            ids = store.load_generation(generation).index.ids()
        except Exception as exc:  # an unreadable generation cannot be vouched for
            report.found.append(f"index generation {generation} unreadable: {exc}")
            continue
        inside = ticket_ids & ids
        if inside:
            report.found.append(
                f"index generation {generation}: vectors of tickets {sorted(inside)}"
            )


def _verify_redis(terms: list[str], report: VerificationReport) -> None:
    urls = {
        url
        for url in (settings.CELERY_BROKER_URL, settings.CACHES["default"].get("LOCATION", ""))
        if isinstance(url, str) and url.startswith("redis")
    }
    for url in sorted(urls):
        import redis

        client = redis.Redis.from_url(url)
        keys = 0
        for key in client.scan_iter(count=500):
            keys += 1
            for blob in _redis_values(client, key):
                for term in terms:
                    if term.lower().encode() in blob.lower():
                        report.found.append(f"redis {url} key {key!r} contains {term!r}")
        report.checked.append(f"redis {url}: {keys} keys, names and values")


def _redis_values(client: object, key: bytes) -> list[bytes]:
    kind = client.type(key)  # type: ignore[attr-defined]
    values: list[bytes] = [key]
    if kind == b"string":
        values.append(client.get(key) or b"")  # type: ignore[attr-defined]
    elif kind == b"list":
        values.extend(client.lrange(key, 0, -1))  # type: ignore[attr-defined]
    elif kind == b"hash":
        for k, v in client.hgetall(key).items():  # type: ignore[attr-defined]
            values += [k, v]
    elif kind == b"set":
        values.extend(client.smembers(key))  # type: ignore[attr-defined]
    elif kind == b"zset":
        values.extend(client.zrange(key, 0, -1))  # type: ignore[attr-defined]
    return values


def _verify_exports(customer_id: int, terms: list[str], report: VerificationReport) -> None:
    import zipfile

    if DataExport.objects.filter(customer_id=customer_id).exists():
        report.found.append("tickets_dataexport: export records of the customer")
    root = Path(settings.PRIVACY_EXPORT_DIR)
    files = sorted(root.glob("*")) if root.is_dir() else []
    for path in files:
        try:
            with zipfile.ZipFile(path) as package:
                blob = b"".join(package.read(name) for name in package.namelist())
        except (zipfile.BadZipFile, OSError):
            blob = path.read_bytes()
        for term in terms:
            if term.lower().encode() in blob.lower():
                report.found.append(f"export file {path.name} contains {term!r}")
    report.checked.append(f"export packages in {root}: {len(files)} file(s)")
