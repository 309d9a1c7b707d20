"""A customer's data package, for their rights of access and portability.

An admin requests it (`export_request`); a worker builds it (`export_build`, queued as
`privacy.tasks.build_customer_export`) into a zip under PRIVACY_EXPORT_DIR; the admin downloads it
(`export_download`). The package holds everything the system keeps about the customer:
`data.json` for machines, CSV files for spreadsheets and `README.txt` for the person.

Every step is a privacy event (requested, ready, downloaded) holding ids and counts only.

Each app gives its part of the customer's data through its export entry point
(`tickets_export_for_customer`, `copilot_export_for_customer`, `recovery_export_for_customer`);
this module puts them together and writes the package (`tables.py`: the CSV files,
`csv_format.py`: their cells, `readme.py`: the README).
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from django.core.serializers.json import DjangoJSONEncoder
from django.db import DatabaseError, transaction
from django.utils import timezone

from accounts.models import User
from copilot.customer_data import copilot_export_for_customer
from core.errors import Conflict
from core.retry import TRANSIENT_ERRORS
from privacy import tasks as privacy_tasks
from privacy.events import privacy_event
from privacy.exports.csv_format import csv_write
from privacy.exports.readme import readme_text
from privacy.exports.selectors import export_path
from privacy.exports.tables import csv_tables
from privacy.models import ConsentRecord, DataExport, ExportStatus, PrivacyEventKind
from privacy.selectors import ConsentRecordReader
from recovery.customer_data import recovery_export_for_customer
from tickets.customer_data import tickets_export_for_customer
from tickets.models import Customer

logger = logging.getLogger(__name__)


FORMAT_VERSION = 1


# --- Writes -------------------------------------------------------------------------------------


def export_request(*, customer: Customer, by: User | None) -> DataExport:
    """Queue a new data package for the customer; a worker builds it after commit."""
    # Within this app: the task module imports this one to run the build.
    with transaction.atomic():
        export = DataExport.objects.create(customer=customer, requested_by=by)
        privacy_event(
            kind=PrivacyEventKind.EXPORT_REQUESTED,
            customer=customer,
            actor=by,
            data={"export_id": export.pk},
        )
        privacy_tasks.build_customer_export.delay_on_commit(export_id=export.pk)
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
                for name, rows in csv_tables(data).items():
                    package.writestr(name, csv_write(rows))
                _export_progress(export=export, percent=85)
                package.writestr("README.txt", readme_text(data))
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
    tickets = tickets_export_for_customer(customer_id=customer.pk)
    data: dict[str, Any] = {
        "format": "copilot-customer-export",
        "format_version": FORMAT_VERSION,
        "export_id": export.pk,
        "generated_at": timezone.now(),
        "customer": tickets.customer,
    }
    data["tickets"] = tickets.tickets
    progress(25)
    data["consent"] = {
        "current": ConsentRecordReader().states(customer.pk),
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
    copilot = copilot_export_for_customer(customer_id=customer.pk)
    data["copilot_analyses"] = copilot.analyses
    data["draft_decisions"] = copilot.draft_decisions
    progress(50)
    recovery = recovery_export_for_customer(customer_id=customer.pk)
    recommendations = recovery.recommendations
    data["recovery_recommendations"] = recommendations
    data["recovery_executions"] = [
        {"recommendation_id": r["id"], **r["execution"]} for r in recommendations if r["execution"]
    ]
    data["customer_signals"] = recovery.signals
    data["proactive_outreach"] = recovery.proactive
    progress(60)
    return data


def _json_dump(data: dict[str, Any]) -> str:
    # The original text, unescaped: a JSON reader never evaluates a string.
    return json.dumps(data, cls=DjangoJSONEncoder, ensure_ascii=False, indent=2) + "\n"
