"""One customer's data in the recovery app: what their export holds, what their erasure removes,
and where their identifiers were copied into other customers' records.

The privacy app runs these across the apps; this is the recovery app's part of them, so no
other app reads or writes recovery's tables for it. What stays after an erasure, and why:
recommendations and executions (action, amount, currency, status: a refund that was paid must
stay on the books) and the audit trail of who decided what, their texts redacted. A proposal
run (`ProposalRun`: an analysis id, times and counts) holds nothing personal and stays too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from core.textsearch import TextSearch, app_tables, rows_containing, rows_redact, tables_search
from recovery.models import (
    AuditEvent,
    AuditEventQuerySet,
    CustomerSignals,
    Recommendation,
    RecoveryExecution,
)
from recovery.proactive.models import WAITING, ProactiveDecision, ProactiveEntry
from tickets.customer_data import ERASED


@dataclass(frozen=True)
class RecoveryExport:
    recommendations: list[dict[str, Any]]
    signals: dict[str, Any] | None
    proactive: list[dict[str, Any]]


def recovery_export_for_customer(*, customer_id: int) -> RecoveryExport:
    """The recommendations made for the customer (with what was executed) and their stored
    signals, as plain JSON-ready values."""
    recommendations = (
        Recommendation.objects.filter(ticket__customer_id=customer_id)
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
    signals = CustomerSignals.objects.filter(customer_id=customer_id).first()
    return RecoveryExport(
        recommendations=rows,
        proactive=_proactive_export(customer_id=customer_id),
        signals=None
        if signals is None
        else {
            "segment": signals.segment,
            "lifetime_value": signals.lifetime_value,
            "churn_risk": signals.churn_risk,
            "churn_model_version": signals.churn_model_version,
            "contacts_30d": signals.contacts_30d,
            "repeat_issue": signals.repeat_issue,
            "recoveries_count": signals.recoveries_count,
            "recoveries_positive": signals.recoveries_positive,
            "computed_at": signals.computed_at,
        },
    )


def _proactive_export(*, customer_id: int) -> list[dict[str, Any]]:
    """Each time the customer was put on the proactive queue: why, what was suggested, what an
    agent did with it (sent, snoozed, dismissed) and whether they wrote again afterwards."""
    entries = (
        ProactiveEntry.objects.filter(customer_id=customer_id)
        .prefetch_related("decisions")
        .order_by("created_at", "id")
    )
    return [
        {
            "id": e.pk,
            "ticket_id": e.ticket_id,
            "created_at": e.created_at,
            "reasons": e.reasons,
            "probability": e.probability,
            "suggested_message": e.suggested_message,
            "status": e.status,
            "decided_at": e.decided_at,
            "wrote_again": e.wrote_again,
            "decisions": [
                {"kind": d.kind, "at": d.created_at, "body": d.body, "reason": d.reason}
                for d in e.decisions.all()
            ],
        }
        for e in entries
    ]


def recovery_erase_for_customer(*, customer_id: int) -> dict[str, int]:
    """Remove the text of the recommendations made for the customer and of their audit events
    (amounts, statuses and who decided stay), and delete their signals. Call under the
    customer's lock (`tickets.customer_data.customer_lock`)."""
    counts = {
        "recommendations": Recommendation.objects.filter(ticket__customer_id=customer_id).update(
            explanation=ERASED, evidence={}, decision_reason=""
        ),
        "audit_events": AuditEvent.objects.filter(
            ticket__customer_id=customer_id
        ).redact_for_erasure(),
    }
    counts["signals"], _ = CustomerSignals.objects.filter(customer_id=customer_id).delete()
    # Proactive outreach: entries nobody decided go; decided ones stay (who sent what, when,
    # and the outcome feed the hit rate) with their texts removed.
    ProactiveEntry.objects.filter(customer_id=customer_id, status__in=WAITING).delete()
    counts["proactive_entries"] = ProactiveEntry.objects.filter(customer_id=customer_id).update(
        reasons=[], suggested_message=ERASED
    )
    # A queryset update: the rows are append-only for everyone else (ProactiveDecision.save).
    ProactiveDecision.objects.filter(entry__customer_id=customer_id).update(body=ERASED, reason="")
    return counts


def recovery_audit_redact_for_analysis(*, analysis_id: int, redact: Callable[[Any], Any]) -> int:
    """Replace identifiers in the audit events about one analysis (a draft that quoted an erased
    customer); returns the events changed."""
    return AuditEvent.objects.filter(analysis_id=analysis_id).redact_text_for_erasure(redact)


def recovery_redact_copies(*, terms: tuple[str, ...], redact: Callable[[Any], Any]) -> int:
    """Replace the terms wherever they were copied into recovery's free text (explanations,
    reasons, execution results, the audit trail); returns the rows changed."""
    changed = 0
    for model, fields in (
        (Recommendation, ("explanation", "decision_reason", "evidence")),
        (RecoveryExecution, ("error", "result")),
        (ProactiveEntry, ("suggested_message", "reasons")),
        (ProactiveDecision, ("body", "reason")),
    ):
        changed += rows_redact(rows_containing(model, fields, terms), fields, redact)
    audit = cast(
        AuditEventQuerySet, rows_containing(AuditEvent, ("reason", "proposed", "final"), terms)
    )
    return changed + audit.redact_text_for_erasure(redact)


def recovery_rows_containing(*, terms: list[str]) -> TextSearch:
    """Every text column of recovery's tables, searched for the terms."""
    return tables_search(tables=app_tables(app_label="recovery"), terms=terms)
