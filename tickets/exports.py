"""A customer's data package, for their rights of access and portability.

An admin requests it (`export_request`); a worker builds it (`export_build`, queued as
`tickets.tasks.build_customer_export`) into a zip under PRIVACY_EXPORT_DIR; the admin downloads it
(`export_download`). The package holds everything the system keeps about the customer:
`data.json` for machines, CSV files for spreadsheets and `README.txt` for the person.

Every step is a privacy event (requested, ready, downloaded) holding ids and counts only.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import logging
import os
import secrets
import tempfile
import unicodedata
import zipfile
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, BinaryIO

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import DatabaseError, transaction
from django.db.models import QuerySet
from django.http import Http404
from django.utils import timezone

from accounts.models import User
from copilot.models import DraftDecisionEvent, MessageAnalysis
from core.errors import Conflict
from core.retry import TRANSIENT_ERRORS
from recovery.models import CustomerSignals, Recommendation
from tickets.events import privacy_event
from tickets.models import (
    ConsentPurpose,
    ConsentRecord,
    Customer,
    DataExport,
    ExportStatus,
    PrivacyEventKind,
    Ticket,
)
from tickets.selectors import consent_states

logger = logging.getLogger(__name__)

# Characters that make a spreadsheet read a cell as a formula (OWASP "CSV injection").
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
# Spreadsheets also run a formula that follows leading spaces or line breaks, and read the
# full-width and small forms (U+FF1D, U+FF0B, U+FF0D, U+FF20; U+FE66...) as the ASCII ones: NFKC
# folds those onto FORMULA_PREFIXES; the minus sign (U+2212) does not fold, so it is listed.
FORMULA_STARTS = frozenset("=+-@\u2212")

FORMAT_VERSION = 1


# --- Reads --------------------------------------------------------------------------------------


def export_list_for_customer(*, customer: Customer) -> QuerySet[DataExport]:
    """The customer's exports, newest first."""
    return DataExport.objects.filter(customer=customer).order_by("-created_at", "-id")


def export_get_for_user(*, user: User, export_id: int) -> DataExport:
    """One export, for an admin; 404 for anyone else, as for an export that does not exist."""
    if not user.is_admin_role:
        raise Http404("No such export.")
    try:
        return DataExport.objects.select_related("customer").get(pk=export_id)
    except DataExport.DoesNotExist:
        raise Http404("No such export.") from None


def export_path(*, export: DataExport) -> Path:
    """Where the export's zip is (or will be). Only the file name is taken from the row, so a
    stored value can never point outside PRIVACY_EXPORT_DIR."""
    return Path(settings.PRIVACY_EXPORT_DIR) / Path(export.file).name


# --- Writes -------------------------------------------------------------------------------------


def export_request(*, customer: Customer, by: User | None) -> DataExport:
    """Queue a new data package for the customer; a worker builds it after commit."""
    from tickets.tasks import build_customer_export  # tickets.tasks imports this module

    with transaction.atomic():
        export = DataExport.objects.create(customer=customer, requested_by=by)
        privacy_event(
            kind=PrivacyEventKind.EXPORT_REQUESTED,
            customer=customer,
            actor=by,
            data={"export_id": export.pk},
        )
        build_customer_export.delay_on_commit(export_id=export.pk)
    return export


def export_build(*, export_id: int) -> DataExport:
    """Build the export's zip. Safe to run twice: a finished export is left as it is, any other
    state (queued, running on a worker that died, failed) is built again and the file replaced
    in one step, so a download never sees half a package.

    On failure the export is marked failed with the kind of error (never its message: database
    errors quote the row's values). Transient database errors are raised again for the task to
    retry; anything else would fail the same way again.
    """
    export = _export_start(export_id=export_id)
    if export.status == ExportStatus.DONE:
        return export
    try:
        counts = _package_write(export=export)
    except Exception as exc:
        logger.exception("Export %s failed", export_id)
        _export_fail(export=export, exc=exc)
        if isinstance(exc, TRANSIENT_ERRORS):
            raise
        return export
    return _export_finish(export=export, counts=counts)


def export_download(*, export: DataExport, by: User) -> BinaryIO:
    """The finished package, opened for reading, and its download recorded.

    Raises Conflict when the export is not done or its file is gone (removed by hand, or a
    disk that was replaced): the caller answers 404, there is nothing to download.
    """
    if export.status != ExportStatus.DONE or not export.file:
        raise Conflict("This export is not ready.", code="export_not_ready")
    try:
        handle = export_path(export=export).open("rb")
    except FileNotFoundError:
        raise Conflict("This export's file is missing.", code="export_missing") from None
    try:
        privacy_event(
            kind=PrivacyEventKind.EXPORT_DOWNLOADED,
            customer=export.customer,
            actor=by,
            data={"export_id": export.pk},
        )
    except BaseException:
        handle.close()
        raise
    return handle


def _export_start(*, export_id: int) -> DataExport:
    with transaction.atomic():
        export = DataExport.objects.select_for_update().get(pk=export_id)
        if export.status == ExportStatus.DONE:
            return export
        if not export.file:
            # Chosen once and kept by re-runs, so a rebuild replaces the file instead of leaving
            # an older one behind. The token keeps names unguessable in a listing or a log.
            export.file = f"export-{export.pk}-{secrets.token_urlsafe(12)}.zip"
        export.status = ExportStatus.RUNNING
        export.progress = 0
        export.error = ""
        export.finished_at = None
        export.save(update_fields=["file", "status", "progress", "error", "finished_at"])
    return export


def _export_progress(*, export: DataExport, percent: int) -> None:
    # Committed at once (no surrounding transaction), so the admin's status page sees it move.
    export.progress = percent
    DataExport.objects.filter(pk=export.pk).update(progress=percent)


def _export_finish(*, export: DataExport, counts: dict[str, int]) -> DataExport:
    now = timezone.now()
    with transaction.atomic():
        updated = DataExport.objects.filter(pk=export.pk).update(
            status=ExportStatus.DONE, progress=100, finished_at=now, error=""
        )
        if updated:
            privacy_event(
                kind=PrivacyEventKind.EXPORT_READY,
                customer=export.customer,
                actor=None,
                data={"export_id": export.pk, **counts},
            )
    if not updated:
        # The customer was erased while the package was being written (the row went with
        # them): the file must not outlive them.
        export_path(export=export).unlink(missing_ok=True)
        raise DataExport.DoesNotExist(f"Export {export.pk} was deleted while it was built.")
    export.status, export.progress, export.finished_at, export.error = (
        ExportStatus.DONE,
        100,
        now,
        "",
    )
    return export


def _export_fail(*, export: DataExport, exc: BaseException) -> None:
    error = _error_text(exc)
    export.status, export.error, export.finished_at = ExportStatus.FAILED, error, timezone.now()
    try:
        DataExport.objects.filter(pk=export.pk).update(
            status=ExportStatus.FAILED, error=error, finished_at=export.finished_at
        )
    except DatabaseError:
        # The database is what failed: the retry (or the next request) sets the state again.
        logger.warning("Could not mark export %s as failed", export.pk, exc_info=True)


def _error_text(exc: BaseException) -> str:
    """What went wrong, for the admin, without the exception's message: database errors quote
    row values and file errors quote paths. The full error is in the worker's log."""
    if isinstance(exc, OSError) and exc.strerror:
        return f"{type(exc).__name__}: {exc.strerror}"
    return f"{type(exc).__name__} while building the package; see the worker log."


# --- The package --------------------------------------------------------------------------------


def _package_write(*, export: DataExport) -> dict[str, int]:
    """Collect, write to a temporary file beside the target, then move it into place."""
    customer = export.customer
    data = _customer_data(customer=customer, export=export, progress=_progress_for(export))
    target = export_path(export=export)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.stem}-", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as raw:
            with zipfile.ZipFile(raw, "w", compression=zipfile.ZIP_DEFLATED) as package:
                package.writestr("data.json", _json_dump(data))
                _export_progress(export=export, percent=70)
                for name, rows in _csv_tables(data).items():
                    package.writestr(name, csv_write(rows))
                _export_progress(export=export, percent=85)
                package.writestr("README.txt", _readme(data))
            # On disk before the rename, so a crash cannot leave a done export with an empty file.
            raw.flush()
            os.fsync(raw.fileno())
        _export_progress(export=export, percent=95)
        os.replace(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return {
        "tickets": len(data["tickets"]),
        "messages": sum(len(t["messages"]) for t in data["tickets"]),
        "analyses": len(data["copilot_analyses"]),
        "recommendations": len(data["recovery_recommendations"]),
    }


def _progress_for(export: DataExport) -> Callable[[int], None]:
    return lambda percent: _export_progress(export=export, percent=percent)


def _customer_data(
    *, customer: Customer, export: DataExport, progress: Callable[[int], None]
) -> dict[str, Any]:
    """Everything about the customer, as plain JSON-ready values."""
    data: dict[str, Any] = {
        "format": "copilot-customer-export",
        "format_version": FORMAT_VERSION,
        "export_id": export.pk,
        "generated_at": timezone.now(),
        "customer": {
            "id": customer.pk,
            "external_id": customer.external_id,
            "name": customer.name,
            "email": customer.email,
            "segment": customer.segment,
            "signup_date": customer.signup_date,
            "lifetime_spend": customer.lifetime_spend,
            "order_count": customer.order_count,
            "created_at": customer.created_at,
            "updated_at": customer.updated_at,
        },
    }
    data["tickets"] = _tickets(customer=customer)
    progress(25)
    data["consent"] = {
        "current": consent_states(customer=customer),
        "history": [
            {
                "purpose": record.purpose,
                "granted": record.granted,
                "source": record.source,
                "note": record.note,
                "recorded_at": record.recorded_at,
            }
            for record in ConsentRecord.objects.filter(customer=customer).order_by(
                "recorded_at", "id"
            )
        ],
    }
    progress(35)
    data["copilot_analyses"] = _analyses(customer=customer)
    data["draft_decisions"] = _draft_decisions(customer=customer)
    progress(50)
    recommendations = _recommendations(customer=customer)
    data["recovery_recommendations"] = recommendations
    data["recovery_executions"] = [
        {"recommendation_id": r["id"], **r["execution"]} for r in recommendations if r["execution"]
    ]
    data["customer_signals"] = _signals(customer=customer)
    progress(60)
    return data


def _tickets(*, customer: Customer) -> list[dict[str, Any]]:
    tickets = (
        Ticket.objects.filter(customer=customer)
        .select_related("team")
        .prefetch_related("messages")
        .order_by("created_at", "id")
    )
    return [
        {
            "id": ticket.pk,
            "external_id": ticket.external_id,
            "subject": ticket.subject,
            "channel": ticket.channel,
            "status": ticket.status,
            "priority": ticket.priority,
            "team": ticket.team.name,
            "intent": ticket.intent,
            "resolution": ticket.resolution,
            "created_at": ticket.created_at,
            "last_message_at": ticket.last_message_at,
            "solved_at": ticket.solved_at,
            "messages": [
                {
                    "id": message.pk,
                    "sequence": message.sequence,
                    "author_kind": message.author_kind,
                    "author_name": message.author_name,
                    "body": message.body,
                    "created_at": message.created_at,
                }
                for message in sorted(ticket.messages.all(), key=lambda m: m.sequence)
            ],
        }
        for ticket in tickets
    ]


def _analyses(*, customer: Customer) -> list[dict[str, Any]]:
    analyses = MessageAnalysis.objects.filter(ticket__customer=customer).order_by(
        "ticket_id", "transcript_version"
    )
    return [
        {
            "id": analysis.pk,
            "ticket_id": analysis.ticket_id,
            "message_id": analysis.message_id,
            "status": analysis.status,
            "requested_at": analysis.requested_at,
            "finished_at": analysis.finished_at,
            "sentiment": analysis.sentiment,
            "sentiment_score": analysis.sentiment_score,
            "sentiment_confidence": analysis.sentiment_confidence,
            "intent": analysis.intent,
            "intent_confidence": analysis.intent_confidence,
            "intent_candidates": analysis.intent_candidates,
            # Other customers' tickets: their ids only, never their content.
            "similar_case_ids": [
                case["ticket_id"] for case in analysis.similar_cases if "ticket_id" in case
            ],
            "drafted_reply": analysis.draft_reply,
            "draft_reasons": analysis.draft_reasons,
            "model_versions": analysis.model_versions,
        }
        for analysis in analyses
    ]


def _draft_decisions(*, customer: Customer) -> list[dict[str, Any]]:
    decisions = (
        DraftDecisionEvent.objects.filter(analysis__ticket__customer=customer)
        .select_related("analysis")
        .order_by("created_at", "id")
    )
    return [
        {
            "analysis_id": decision.analysis_id,
            "ticket_id": decision.analysis.ticket_id,
            "decision": decision.decision,
            "proposed_text": decision.proposed_text,
            "final_text": decision.final_text,
            "sent_message_id": decision.message_id,
            "decided_at": decision.created_at,
        }
        for decision in decisions
    ]


def _recommendations(*, customer: Customer) -> list[dict[str, Any]]:
    recommendations = (
        Recommendation.objects.filter(ticket__customer=customer)
        .select_related("action", "execution")
        .order_by("created_at", "id")
    )
    rows = []
    for rec in recommendations:
        execution = getattr(rec, "execution", None)
        rows.append(
            {
                "id": rec.pk,
                "ticket_id": rec.ticket_id,
                "analysis_id": rec.analysis_id,
                "action": rec.action.name,
                "action_kind": rec.action.kind,
                "amount": rec.amount,
                "currency": rec.currency,
                "explanation": rec.explanation,
                "personalised": rec.personalised,
                "added_by_agent": rec.added_by_id is not None,
                "status": rec.status,
                "decided_at": rec.decided_at,
                "decision_reason": rec.decision_reason,
                "final_amount": rec.final_amount,
                "proposed_at": rec.created_at,
                "execution": {
                    "status": execution.status,
                    "amount": execution.amount,
                    "currency": execution.currency,
                    "approved_at": execution.created_at,
                    "executed_at": execution.executed_at,
                }
                if execution is not None
                else None,
            }
        )
    return rows


def _signals(*, customer: Customer) -> dict[str, Any] | None:
    signals = CustomerSignals.objects.filter(customer=customer).first()
    if signals is None:
        return None
    return {
        "segment": signals.segment,
        "lifetime_value": signals.lifetime_value,
        "churn_risk": signals.churn_risk,
        "churn_model_version": signals.churn_model_version,
        "contacts_30d": signals.contacts_30d,
        "repeat_issue": signals.repeat_issue,
        "recoveries_count": signals.recoveries_count,
        "recoveries_positive": signals.recoveries_positive,
        "computed_at": signals.computed_at,
    }


def _json_dump(data: dict[str, Any]) -> str:
    # The original text, unescaped: a JSON reader never evaluates a string.
    return json.dumps(data, cls=DjangoJSONEncoder, ensure_ascii=False, indent=2) + "\n"


# --- CSV ----------------------------------------------------------------------------------------


def csv_cell(value: object) -> str | int | float | Decimal:
    """One CSV cell that a spreadsheet shows as text, never runs as a formula.

    Text starting with = + - @ (after any leading spaces or line breaks, and in their full-width
    forms too), a tab or a carriage return gets a leading single quote (OWASP's
    advice against CSV injection), so `=HYPERLINK(...)` in a message is shown, not followed.
    Numbers are left as numbers (a -0.8 sentiment must stay -0.8): the system formats them
    itself, and a formula cannot hide in one. None is an empty cell, times are ISO 8601, lists
    are joined with "; ".
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float | Decimal):
        return value
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        value = "; ".join(str(item) for item in value)
    elif isinstance(value, dict):
        value = "; ".join(f"{key}={item}" for key, item in value.items())
    text = str(value)
    return "'" + text if _formula_like(text) else text


def _formula_like(text: str) -> bool:
    """Whether a spreadsheet might read `text` as a formula: it starts with a tab or CR, or its
    first visible character (past spaces, line breaks and invisible format characters such as a
    zero-width space) is a formula starter in any width."""
    if text.startswith(FORMULA_PREFIXES):
        return True
    for char in text:
        if char.isspace() or unicodedata.category(char) in ("Cc", "Cf"):
            continue
        return unicodedata.normalize("NFKC", char)[:1] in FORMULA_STARTS or char in FORMULA_STARTS
    return False


def csv_write(rows: Sequence[Sequence[object]]) -> bytes:
    """A CSV file (header first) with every cell made safe by `csv_cell`. UTF-8 with a byte
    order mark: without it, Excel reads the file as the machine's legacy code page."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerows([csv_cell(cell) for cell in row] for row in rows)
    return out.getvalue().encode("utf-8-sig")


def _csv_tables(data: dict[str, Any]) -> dict[str, list[list[object]]]:
    tickets = data["tickets"]
    decisions = {d["analysis_id"]: d for d in data["draft_decisions"]}
    return {
        "tickets.csv": _table(
            [
                "ticket_id",
                "external_id",
                "subject",
                "channel",
                "status",
                "priority",
                "team",
                "intent",
                "resolution",
                "created_at",
                "last_message_at",
                "solved_at",
                "messages",
            ],
            (
                [
                    t["id"],
                    t["external_id"],
                    t["subject"],
                    t["channel"],
                    t["status"],
                    t["priority"],
                    t["team"],
                    t["intent"],
                    t["resolution"],
                    t["created_at"],
                    t["last_message_at"],
                    t["solved_at"],
                    len(t["messages"]),
                ]
                for t in tickets
            ),
        ),
        "messages.csv": _table(
            [
                "ticket_id",
                "message_id",
                "sequence",
                "author_kind",
                "author_name",
                "body",
                "created_at",
            ],
            (
                [
                    t["id"],
                    m["id"],
                    m["sequence"],
                    m["author_kind"],
                    m["author_name"],
                    m["body"],
                    m["created_at"],
                ]
                for t in tickets
                for m in t["messages"]
            ),
        ),
        "consents.csv": _table(
            ["purpose", "granted", "source", "note", "recorded_at"],
            (
                [c["purpose"], c["granted"], c["source"], c["note"], c["recorded_at"]]
                for c in data["consent"]["history"]
            ),
        ),
        "analyses.csv": _table(
            [
                "analysis_id",
                "ticket_id",
                "message_id",
                "status",
                "sentiment",
                "sentiment_score",
                "intent",
                "intent_confidence",
                "similar_case_ids",
                "drafted_reply",
                "draft_reasons",
                "model_versions",
                "requested_at",
                "draft_decision",
                "sent_text",
            ],
            (
                [
                    a["id"],
                    a["ticket_id"],
                    a["message_id"],
                    a["status"],
                    a["sentiment"],
                    a["sentiment_score"],
                    a["intent"],
                    a["intent_confidence"],
                    a["similar_case_ids"],
                    a["drafted_reply"],
                    a["draft_reasons"],
                    a["model_versions"],
                    a["requested_at"],
                    decisions.get(a["id"], {}).get("decision"),
                    decisions.get(a["id"], {}).get("final_text"),
                ]
                for a in data["copilot_analyses"]
            ),
        ),
        "recommendations.csv": _table(
            [
                "recommendation_id",
                "ticket_id",
                "action",
                "amount",
                "currency",
                "explanation",
                "personalised",
                "status",
                "decided_at",
                "decision_reason",
                "final_amount",
                "executed_amount",
                "executed_currency",
                "executed_at",
            ],
            (
                [
                    r["id"],
                    r["ticket_id"],
                    r["action"],
                    r["amount"],
                    r["currency"],
                    r["explanation"],
                    r["personalised"],
                    r["status"],
                    r["decided_at"],
                    r["decision_reason"],
                    r["final_amount"],
                    *(
                        [
                            r["execution"]["amount"],
                            r["execution"]["currency"],
                            r["execution"]["executed_at"],
                        ]
                        if r["execution"]
                        else [None, None, None]
                    ),
                ]
                for r in data["recovery_recommendations"]
            ),
        ),
    }


def _table(header: list[str], rows: Iterable[list[object]]) -> list[list[object]]:
    return [list(header), *rows]


# --- README -------------------------------------------------------------------------------------

_PURPOSE_TEXT = {
    ConsentPurpose.PERSONALISATION: (
        "Personalised recommendations: when we suggest a way to make up for a problem (a refund,"
        " a discount, a callback...), the suggestion may take into account how long you have"
        " been a customer, what you have spent, your past contacts and recoveries, and an"
        " estimate of how likely you are to stop buying from us."
    ),
    ConsentPurpose.TRAINING: (
        "Model training: your tickets may be used as examples to train the models that read"
        " the intent of a message and estimate the risk of a customer leaving."
    ),
    ConsentPurpose.SIMILAR_CASES: (
        "Similar-case examples: once solved, your tickets may be shown to our agents as examples"
        " when another customer has a similar problem."
    ),
}

_README = """\
YOUR DATA IN OUR CUSTOMER SUPPORT
=================================

This package holds everything our support copilot keeps about you, as of {generated}.
It was prepared because you asked for a copy of your data (export number {export_id}).

WHAT IS IN THIS PACKAGE

  data.json            Everything below in one machine-readable file (JSON), for moving
                       your data to another service.
  tickets.csv          Your support requests ("tickets"): subject, status, how each was solved.
  messages.csv         Every message of those tickets: yours, our agents' and automatic ones.
  consents.csv         Every change of your choices (see "Your choices" below).
  analyses.csv         What the copilot read in your messages and the replies it drafted.
  recommendations.csv  Gestures the copilot suggested to our agents (refunds, discounts...),
                       what our agents decided, and what was carried out.

The CSV files open in any spreadsheet. A cell that begins with = + - or @ (also after spaces,
or in their full-width forms) is shown with a leading ' so that the spreadsheet displays your
text instead of running it as a formula;
data.json has the text exactly as written.

WHAT THE COPILOT STORES ABOUT YOU AND HOW IT USES IT

Our support agents work with a "copilot", software that helps them answer you. It does not
decide anything on its own: a person reads every suggestion and chooses what to do.

  * Your profile: your name, e-mail address, our shop's customer number, when you joined, how
    many orders you placed and what you spent.
  * Your messages and our replies, for as long as our retention rules allow.
  * For each of your messages, the copilot estimates its tone (sentiment: negative, neutral or
    positive) and what you need (intent, such as "where is my order" or "refund").
  * It looks for similar problems that the same support team has already solved, so the agent
    can see how they were solved. Only their reference numbers are in this package: they are
    other customers' requests.
  * It may draft a reply. An agent always reviews it, and can send it, change it or discard it;
    what they did is recorded.
  * It may suggest a gesture to make up for a problem. Unless you opted out of personalised
    recommendations, the suggestion takes into account your value as a customer, your history
    with us and an estimate of how likely you are to stop buying from us (your "signals",
    in data.json). Each suggestion is explained, and an agent approves or rejects it.
  * Once solved, your tickets may be used as examples for similar cases and as training data
    for the copilot's models, unless you opted out of these uses.

Nothing leaves the company: the copilot runs on our own systems, and your data is not sent to
any outside service or used to train anyone else's models.

YOUR CHOICES

{consents}

To change any of these, reply to any e-mail from our support team or contact us through the
channel you usually use, and say which use you want to allow or stop. The change applies
from the moment we record it; an opt-out from similar cases also removes your solved tickets
from the examples at once. You can also ask us to erase your data.
"""


def _readme(data: dict[str, Any]) -> str:
    current: dict[str, bool] = data["consent"]["current"]
    consents = "\n\n".join(
        f"  [{'ALLOWED' if current.get(purpose.value, True) else 'STOPPED'}] {text}"
        for purpose, text in _PURPOSE_TEXT.items()
    )
    return _README.format(
        generated=data["generated_at"].strftime("%d %B %Y, %H:%M UTC"),
        export_id=data["export_id"],
        consents=consents,
    )
