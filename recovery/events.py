"""One constructor per audit event type, so every event of a kind has the same shape.

Called by the services in the transaction of the change they record. `proposed` is what the
copilot suggested, `final` what was done; amounts are strings (exact decimals in JSON).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from accounts.models import User
from copilot.models import DraftDecision, DraftDecisionEvent
from recovery.models import AuditEvent, AuditKind, Recommendation, RecommendationStatus


def _money(amount: Decimal | None) -> str | None:
    return None if amount is None else str(amount)


def _offer(recommendation: Recommendation, *, amount: Decimal | None = None) -> dict[str, Any]:
    return {
        "action": recommendation.action.key,
        "amount": _money(amount if amount is not None else recommendation.amount),
        "currency": recommendation.currency,
    }


def _base(recommendation: Recommendation) -> dict[str, Any]:
    ticket = recommendation.ticket
    analysis = recommendation.analysis
    return {
        "team_id": ticket.team_id,
        "ticket": ticket,
        "recommendation": recommendation,
        "analysis": analysis,
        "action_key": recommendation.action.key,
        "intent": analysis.intent if analysis is not None else "",
        "segment": ticket.customer.segment,
    }


def audit_recommendation_shown(*, recommendation: Recommendation) -> AuditEvent:
    return AuditEvent.objects.create(
        kind=AuditKind.RECOMMENDATION_SHOWN,
        proposed=_offer(recommendation),
        final={
            "rank": recommendation.rank,
            "score": round(recommendation.score, 4),
            "personalised": recommendation.personalised,
            "explanation": recommendation.explanation,
        },
        **_base(recommendation),
    )


def audit_recommendation_decided(
    *, recommendation: Recommendation, actor: User, amount: Decimal | None, reason: str
) -> AuditEvent:
    """Approved as proposed, approved with another amount (an override), or rejected (one)."""
    rejected = recommendation.status == RecommendationStatus.REJECTED
    changed = not rejected and amount != recommendation.amount
    kind = (
        AuditKind.RECOMMENDATION_REJECTED
        if rejected
        else AuditKind.RECOMMENDATION_EDITED
        if changed
        else AuditKind.RECOMMENDATION_APPROVED
    )
    return AuditEvent.objects.create(
        kind=kind,
        actor=actor,
        proposed=_offer(recommendation),
        final={} if rejected else _offer(recommendation, amount=amount),
        reason=reason,
        # An agent's own addition is not an override of the copilot; rejecting or changing
        # what the copilot proposed is.
        is_override=(rejected or changed) and recommendation.added_by_id is None,
        **_base(recommendation),
    )


def audit_recommendation_added(
    *, recommendation: Recommendation, actor: User, reason: str
) -> AuditEvent:
    return AuditEvent.objects.create(
        kind=AuditKind.RECOMMENDATION_ADDED,
        actor=actor,
        final=_offer(recommendation),
        reason=reason,
        # The copilot did not suggest it: the agent overrode its list.
        is_override=True,
        **_base(recommendation),
    )


def audit_coapproval_requested(*, recommendation: Recommendation, actor: User) -> AuditEvent:
    return AuditEvent.objects.create(
        kind=AuditKind.COAPPROVAL_REQUESTED,
        actor=actor,
        proposed=_offer(recommendation),
        final=_offer(recommendation, amount=recommendation.final_amount),
        **_base(recommendation),
    )


def audit_coapproval_decided(
    *, recommendation: Recommendation, actor: User, approved: bool, reason: str
) -> AuditEvent:
    return AuditEvent.objects.create(
        kind=AuditKind.COAPPROVED if approved else AuditKind.COAPPROVAL_REFUSED,
        actor=actor,
        proposed=_offer(recommendation, amount=recommendation.final_amount),
        final=_offer(recommendation, amount=recommendation.final_amount) if approved else {},
        reason=reason,
        **_base(recommendation),
    )


def audit_executed(
    *, recommendation: Recommendation, actor: User | None, result: dict[str, Any]
) -> AuditEvent:
    return AuditEvent.objects.create(
        kind=AuditKind.EXECUTED,
        actor=actor,
        proposed=_offer(recommendation),
        final={**_offer(recommendation, amount=recommendation.final_amount), "result": result},
        **_base(recommendation),
    )


def audit_draft_decided(*, decision: DraftDecisionEvent) -> AuditEvent:
    """The agent's decision on a drafted reply, in the same trail as recovery decisions."""
    analysis = decision.analysis
    ticket = analysis.ticket
    overridden = decision.decision in (DraftDecision.EDITED, DraftDecision.DISCARDED)
    return AuditEvent.objects.create(
        kind=AuditKind.DRAFT_DECIDED,
        actor=decision.agent,
        team_id=ticket.team_id,
        ticket=ticket,
        analysis=analysis,
        action_key="reply_draft",
        intent=analysis.intent,
        segment=ticket.customer.segment,
        proposed={"text": decision.proposed_text},
        final={"decision": decision.decision, "text": decision.final_text},
        is_override=overridden,
    )


def audit_override_reviewed(
    *, event: AuditEvent, supervisor: User, verdict: str, note: str
) -> AuditEvent:
    """A supervisor's review of an override: `verdict` is "accepted" or "coaching"."""
    return AuditEvent.objects.create(
        kind=AuditKind.OVERRIDE_REVIEWED,
        actor=supervisor,
        team_id=event.team_id,
        ticket_id=event.ticket_id,
        recommendation_id=event.recommendation_id,
        analysis_id=event.analysis_id,
        action_key=event.action_key,
        intent=event.intent,
        segment=event.segment,
        final={"verdict": verdict},
        reason=note,
        reviewed_event=event,
    )
