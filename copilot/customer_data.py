"""One customer's data in the copilot app: what their export holds, what their erasure removes,
where their identifiers were copied into other customers' drafts, what retention clears, and
how a change of their similar-case consent reaches the index.

The privacy app runs these across the apps; this is the copilot app's part of them, so no
other app reads or writes the copilot's tables for it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.db.models import Q, QuerySet
from django.utils import timezone

from copilot.engine import index_store
from copilot.models import AnalysisStatus, DraftDecisionEvent, MessageAnalysis, SolvedCase
from copilot.services.cases import case_index_sync
from copilot.tasks import record_solved_case, sync_case_index
from core.textsearch import TextSearch, app_tables, rows_containing, rows_redact, tables_search
from tickets.customer_data import ERASED, ERASED_BEFORE_ANALYSIS
from tickets.models import DONE_STATUSES, Ticket

# --- Export ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CopilotExport:
    analyses: list[dict[str, Any]]
    draft_decisions: list[dict[str, Any]]


def copilot_export_for_customer(*, customer_id: int) -> CopilotExport:
    """The copilot's analyses of the customer's messages and the agents' decisions on its
    drafts, as plain JSON-ready values."""
    analyses = MessageAnalysis.objects.filter(ticket__customer_id=customer_id).order_by(
        "ticket_id", "transcript_version"
    )
    decisions = (
        DraftDecisionEvent.objects.filter(analysis__ticket__customer_id=customer_id)
        .select_related("analysis")
        .order_by("created_at", "id")
    )
    return CopilotExport(
        analyses=[
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
        ],
        draft_decisions=[
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
        ],
    )


# --- Erasure --------------------------------------------------------------------------------


def copilot_erase_for_customer(*, customer_id: int) -> dict[str, int]:
    """Remove the text of the customer's analyses (their headline signals stay) and of the
    decisions on their drafts, and delete their similar cases. Call under the customer's lock
    (`tickets.customer_data.customer_lock`) and before anything else of the erasure: the
    analyses are locked next, the order an analysis finishing takes them in."""
    analyses = MessageAnalysis.objects.filter(ticket__customer_id=customer_id)
    list(analyses.select_for_update(of=("self",)).values_list("pk", flat=True))
    counts = {
        "analyses": analyses.update(
            draft_reply="",
            draft_reasons=[],
            intent_candidates=[],
            error="",
            conversation_reasons=[],  # quotes the customer's words
        )
    }
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
    counts["solved_cases"], _ = SolvedCase.objects.filter(ticket__customer_id=customer_id).delete()
    return counts


def copilot_index_after_erasure() -> int:
    """Bring the index up to date now (waiting for any other writer) and remove every older
    generation, which held the erased vectors; returns the generations removed."""
    case_index_sync(wait=True)
    return index_store().prune_all_but_current()


@dataclass(frozen=True)
class CitingAnalysis:
    """Another customer's analysis whose draft was built from one of the erased tickets."""

    analysis_id: int
    customer_name: str  # whose analysis: their own name in it is not the erased customer's
    sent_message_ids: list[int]  # replies sent from its draft


def copilot_analyses_citing(*, ticket_ids: set[int]) -> list[CitingAnalysis]:
    """Analyses of other tickets whose similar cases include one of these tickets."""
    others = MessageAnalysis.objects.exclude(ticket_id__in=ticket_ids).exclude(similar_cases=[])
    cited: QuerySet[MessageAnalysis]
    if not ticket_ids:
        cited = others.none()
    elif connection.features.supports_json_field_contains:
        match = Q()
        for pk in ticket_ids:
            match |= Q(similar_cases__contains=[{"ticket_id": pk}])
        cited = others.filter(match)
    else:
        pks = [
            pk
            for pk, cases in others.values_list("pk", "similar_cases").iterator()
            if any(c.get("ticket_id") in ticket_ids for c in cases if isinstance(c, dict))
        ]
        cited = others.filter(pk__in=pks)
    return [
        CitingAnalysis(
            analysis_id=analysis.pk,
            customer_name=analysis.ticket.customer.name,
            sent_message_ids=[
                pk
                for pk in DraftDecisionEvent.objects.filter(analysis=analysis).values_list(
                    "message_id", flat=True
                )
                if pk is not None
            ],
        )
        for analysis in cited.select_related("ticket__customer")
    ]


def copilot_analysis_redact(*, analysis_id: int, redact: Callable[[Any], Any]) -> int:
    """Replace identifiers in one analysis's draft and in the decisions on it; rows changed."""
    changed = rows_redact(
        MessageAnalysis.objects.filter(pk=analysis_id), ("draft_reply", "draft_reasons"), redact
    )
    decisions = DraftDecisionEvent.objects.filter(analysis_id=analysis_id)
    return changed + rows_redact(decisions, ("proposed_text", "final_text"), redact)


def copilot_redact_copies(*, terms: tuple[str, ...], redact: Callable[[Any], Any]) -> int:
    """Replace the terms wherever they were copied into the copilot's free text (drafts,
    decisions, errors, similar cases' text); a similar case whose text changed is embedded
    again after commit. Returns the rows changed."""
    changed = 0
    for model, fields in (
        (MessageAnalysis, ("draft_reply", "draft_reasons", "error")),
        (DraftDecisionEvent, ("proposed_text", "final_text")),
    ):
        changed += rows_redact(rows_containing(model, fields, terms), fields, redact)
    recased = list(
        rows_containing(SolvedCase, ("text",), terms).values_list("ticket_id", flat=True)
    )
    if recased:
        changed += rows_redact(SolvedCase.objects.filter(ticket_id__in=recased), ("text",), redact)
        # The vectors follow their text: embedded again after commit.
        for ticket_id in recased:
            record_solved_case.delay_on_commit(ticket_id=ticket_id)
    return changed


def copilot_rows_containing(*, terms: list[str]) -> TextSearch:
    """Every text column of the copilot's tables, searched for the terms."""
    return tables_search(tables=app_tables(app_label="copilot"), terms=terms)


def copilot_verify_erased(*, ticket_ids: set[int]) -> TextSearch:
    """Whether any case vector of these tickets remains, in the database or in any index
    generation on disk."""
    search = TextSearch()
    if SolvedCase.objects.filter(ticket_id__in=ticket_ids).exists():
        search.found.append("copilot_solvedcase: case vectors of the customer's tickets")
    store = index_store()
    for generation in store.generations():
        search.checked.append(f"similar-case index generation {generation} in {store.root}")
        try:
            ids = store.load_generation(generation).index.ids()
        except Exception as exc:  # an unreadable generation cannot be vouched for
            search.found.append(f"index generation {generation} unreadable: {exc}")
            continue
        inside = ticket_ids & ids
        if inside:
            search.found.append(
                f"index generation {generation}: vectors of tickets {sorted(inside)}"
            )
    return search


# --- Consent and retention ------------------------------------------------------------------


def copilot_similar_cases_consent_changed(*, customer_id: int, granted: bool) -> None:
    """Follow a change of the customer's similar-case consent. On an opt-out their cases leave
    the index now (their rows are deleted in this transaction, searches re-check rows, and the
    index file follows after commit); on an opt-in their solved tickets are indexed again."""
    if not granted:
        deleted, _ = SolvedCase.objects.filter(ticket__customer_id=customer_id).delete()
        if deleted:
            sync_case_index.delay_on_commit()
        return
    for ticket_id in Ticket.objects.filter(
        customer_id=customer_id, status__in=DONE_STATUSES
    ).values_list("pk", flat=True):
        record_solved_case.delay_on_commit(ticket_id=ticket_id)


def copilot_retention_clear(*, requested_before: dt.datetime) -> dict[str, int]:
    """Clear drafts and evidence of analyses requested, and texts of draft decisions made,
    before the cutoff; idempotent. Returns the analyses and decisions cleared."""
    return {
        "analyses": (
            MessageAnalysis.objects.filter(requested_at__lt=requested_before)
            .exclude(draft_reply="", similar_cases=[], draft_reasons=[])
            .update(draft_reply="", draft_reasons=[], similar_cases=[], intent_candidates=[])
        ),
        "decisions": (
            DraftDecisionEvent.objects.filter(created_at__lt=requested_before)
            .exclude(proposed_text="", final_text="")
            .update(proposed_text="", final_text="")
        ),
    }
