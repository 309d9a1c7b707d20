"""Writes of the recovery app: proposing actions for an analysed message, the agent's and the
supervisor's decisions, and carrying out what was approved, exactly once."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from accounts.models import User
from copilot.models import AnalysisStatus, MessageAnalysis
from core.errors import Conflict, DomainError
from recovery.events import (
    audit_coapproval_decided,
    audit_coapproval_requested,
    audit_executed,
    audit_recommendation_added,
    audit_recommendation_decided,
    audit_recommendation_shown,
)
from recovery.hooks import HookTemporaryError
from recovery.models import (
    RECOMMENDATION_TRANSITIONS,
    CustomerSignals,
    ExecutionStatus,
    Recommendation,
    RecommendationStatus,
    RecoveryAction,
    RecoveryExecution,
)
from recovery.ranking import ActionPolicy, CustomerContext, rank_actions
from recovery.selectors import (
    approval_limit_for,
    customer_committed_amount,
    similar_case_outcomes,
)
from recovery.signals import customer_signals_compute
from tickets.models import AuthorKind, ConsentPurpose, Customer, Ticket
from tickets.selectors import consent_granted
from tickets.services import message_append

logger = logging.getLogger(__name__)

MAX_RECOMMENDATIONS = 3


# --- proposing ---------------------------------------------------------------------------------


def customer_context(*, customer: Customer) -> CustomerContext:
    """What the ranking may use about the customer, decided now (not when the task was queued):
    nothing but the message when they opted out of personalisation."""
    if not consent_granted(customer=customer, purpose=ConsentPurpose.PERSONALISATION):
        return CustomerContext(personalised=False)
    # The stored signals (kept current by a worker after each message, and nightly); computed
    # here only the first time, so the analysis of a message does not wait on a dozen
    # aggregate queries.
    signals = CustomerSignals.objects.filter(customer=customer).first()
    if signals is None:
        signals = customer_signals_compute(customer=customer)
    return CustomerContext(
        personalised=True,
        segment=customer.segment,
        lifetime_value=signals.lifetime_value,
        churn_risk=signals.churn_risk,
        repeat_issue=signals.repeat_issue,
        recoveries_received=signals.recoveries_count,
    )


def _policy(action: RecoveryAction, customer: Customer) -> ActionPolicy:
    remaining = None
    if action.monetary and action.customer_limit is not None:
        remaining = action.customer_limit - customer_committed_amount(
            customer=customer, action=action
        )
    return ActionPolicy(
        key=action.key,
        name=action.name,
        kind=action.kind,
        monetary=action.monetary,
        default_amount=action.default_amount,
        max_amount=action.max_amount,
        intents=tuple(action.intents),
        segments=tuple(action.segments),
        negative_only=action.negative_only,
        remaining_for_customer=remaining,
    )


@transaction.atomic
def recommendations_propose(*, analysis: MessageAnalysis) -> list[Recommendation]:
    """Rank the catalogue's actions for an analysed message and record the best as proposals.

    Idempotent: a second call for the same analysis returns what the first one proposed.
    """
    locked = MessageAnalysis.objects.select_for_update().get(pk=analysis.pk)
    existing = list(locked.recommendations.filter(added_by__isnull=True).order_by("rank"))
    if existing or locked.status != AnalysisStatus.DONE:
        return existing
    ticket = Ticket.objects.select_related("customer").get(pk=locked.ticket_id)
    # The customer wrote again: what followed their earlier recoveries, and their signals,
    # are brought up to date by a worker after this commits.
    from recovery.tasks import refresh_customer

    refresh_customer.delay_on_commit(customer_id=ticket.customer_id)
    actions = {a.key: a for a in RecoveryAction.objects.filter(active=True)}
    context = dataclasses.replace(
        customer_context(customer=ticket.customer),
        conversation_level=locked.conversation_level,
        conversation_score=locked.conversation_score,
    )
    case_ids = [c["ticket_id"] for c in locked.similar_cases]
    ranked = rank_actions(
        [_policy(a, ticket.customer) for a in actions.values()],
        intent=locked.intent,
        sentiment=locked.sentiment,
        sentiment_score=locked.sentiment_score or 0.0,
        customer=context,
        outcomes=similar_case_outcomes(ticket_ids=case_ids),
        currency=settings.RECOVERY_CURRENCY,
        limit=MAX_RECOMMENDATIONS,
    )
    created = []
    for rank, item in enumerate(ranked, start=1):
        recommendation = Recommendation.objects.create(
            ticket=ticket,
            analysis=locked,
            action=actions[item.action.key],
            rank=rank,
            score=item.score,
            amount=item.amount,
            currency=settings.RECOVERY_CURRENCY if item.amount is not None else "",
            explanation="; ".join(item.reasons).capitalize() if item.reasons else "",
            evidence=item.evidence,
            personalised=context.personalised,
        )
        audit_recommendation_shown(recommendation=recommendation)
        created.append(recommendation)
    return created


# --- deciding ----------------------------------------------------------------------------------


def _parse_amount(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        amount = Decimal(str(value)).quantize(Decimal("0.01"))
    except (InvalidOperation, ValueError) as exc:
        raise DomainError("Enter the amount as a number, e.g. 25.00.", field="amount") from exc
    if not amount.is_finite():
        raise DomainError("Enter the amount as a number, e.g. 25.00.", field="amount")
    return amount


def _check_money(
    *,
    action: RecoveryAction,
    customer: Customer,
    amount: Decimal | None,
    currency: str,
    approver: User,
    exclude: Recommendation | None = None,
) -> None:
    """Refuse, with a message naming the limit, any amount the policy or the approver's own
    limit does not allow."""
    if not action.monetary:
        if amount not in (None, Decimal(0)):
            raise DomainError(f"{action.name} carries no amount.", field="amount")
        return
    if amount is None:
        raise DomainError(f"{action.name} needs an amount.", field="amount")
    if currency and currency.upper() != settings.RECOVERY_CURRENCY:
        raise DomainError(
            f"Amounts are in {settings.RECOVERY_CURRENCY}, not {currency}.", field="currency"
        )
    if amount < 0:
        raise DomainError("The amount cannot be negative.", field="amount")
    if action.max_amount is not None and amount > action.max_amount:
        raise DomainError(
            f"{action.name} is limited to {action.max_amount} {settings.RECOVERY_CURRENCY}.",
            field="amount",
        )
    if action.customer_limit is not None:
        committed = customer_committed_amount(customer=customer, action=action, exclude=exclude)
        if committed + amount > action.customer_limit:
            left = max(Decimal(0), action.customer_limit - committed)
            raise DomainError(
                f"This customer can receive at most {action.customer_limit} "
                f"{settings.RECOVERY_CURRENCY} of {action.name.lower()} per "
                f"{action.customer_limit_days} days; {left} is left.",
                field="amount",
            )
    limit = approval_limit_for(user=approver)
    if limit is not None and amount > limit:
        raise DomainError(
            f"{amount} {settings.RECOVERY_CURRENCY} is above your approval limit of {limit:.2f}.",
            field="amount",
            code="over_limit",
        )


def _move(recommendation: Recommendation, status: str) -> None:
    """Change the status along RECOMMENDATION_TRANSITIONS, the one table of allowed moves."""
    if status not in RECOMMENDATION_TRANSITIONS[recommendation.status]:
        raise Conflict(
            f"This recommendation is {recommendation.get_status_display().lower()}; it "
            f"cannot become {RecommendationStatus(status).label.lower()}.",
            field="recommendation",
            code="transition",
        )
    recommendation.status = status


def _require_proposed(recommendation: Recommendation) -> None:
    """Agents decide on proposals only: anything else was decided already (by them, a
    colleague a moment earlier, or is waiting for a supervisor)."""
    if recommendation.status != RecommendationStatus.PROPOSED:
        raise Conflict(
            f"This recommendation is already {recommendation.get_status_display().lower()}.",
            field="recommendation",
            code="already_decided",
        )


def _needs_coapproval(action: RecoveryAction, amount: Decimal | None) -> bool:
    return (
        amount is not None
        and action.coapproval_above is not None
        and amount > action.coapproval_above
    )


@transaction.atomic
def recommendation_approve(
    *,
    recommendation: Recommendation,
    user: User,
    amount: Any = None,
    currency: str = "",
    reason: str = "",
) -> Recommendation:
    """Approve a proposal, as it is or with another amount (then a reason is required).

    The row is locked first, so two agents approving at once cannot both pass: the second sees
    it approved and gets a Conflict. Above the action's co-approval amount it waits for a
    supervisor; otherwise the execution is recorded now and run by a worker after commit.
    """
    locked = (
        Recommendation.objects.select_for_update(of=("self",))
        .select_related("action", "ticket__customer", "ticket__team", "analysis")
        .get(pk=recommendation.pk)
    )
    parsed = _parse_amount(amount)
    final = locked.amount if parsed is None else parsed
    reason = reason.strip()
    if locked.action.monetary and final != locked.amount and not reason:
        raise DomainError("Say why you changed the amount.", field="reason")
    _require_proposed(locked)
    _check_money(
        action=locked.action,
        customer=locked.ticket.customer,
        amount=final,
        currency=currency,
        approver=user,
        exclude=locked,
    )
    locked.final_amount = final
    locked.decided_by = user
    locked.decided_at = timezone.now()
    locked.decision_reason = reason
    audit_recommendation_decided(recommendation=locked, actor=user, amount=final, reason=reason)
    if _needs_coapproval(locked.action, final):
        _move(locked, RecommendationStatus.AWAITING_COAPPROVAL)
        locked.save()
        audit_coapproval_requested(recommendation=locked, actor=user)
        return locked
    _move(locked, RecommendationStatus.APPROVED)
    locked.save()
    _execution_create(locked, approved_by=user)
    return locked


@transaction.atomic
def recommendation_reject(
    *, recommendation: Recommendation, user: User, reason: str
) -> Recommendation:
    locked = (
        Recommendation.objects.select_for_update(of=("self",))
        .select_related("action", "ticket__customer", "analysis")
        .get(pk=recommendation.pk)
    )
    reason = reason.strip()
    if not reason:
        raise DomainError("Say why you reject it.", field="reason")
    _require_proposed(locked)
    _move(locked, RecommendationStatus.REJECTED)
    locked.decided_by = user
    locked.decided_at = timezone.now()
    locked.decision_reason = reason
    locked.save()
    audit_recommendation_decided(recommendation=locked, actor=user, amount=None, reason=reason)
    return locked


@transaction.atomic
def recommendation_add(
    *,
    ticket: Ticket,
    user: User,
    action: RecoveryAction,
    amount: Any = None,
    currency: str = "",
    reason: str,
) -> Recommendation:
    """An action the copilot did not suggest, added and approved by the agent in one step."""
    reason = reason.strip()
    if not reason:
        raise DomainError("Say why this action is needed.", field="reason")
    if not action.active:
        raise DomainError(f"{action.name} is not offered any more.", field="action")
    locked = (
        Ticket.objects.select_for_update(of=("self",)).select_related("customer").get(pk=ticket.pk)
    )
    final = _parse_amount(amount)
    if final is None and action.monetary:
        final = action.default_amount
    _check_money(
        action=action, customer=locked.customer, amount=final, currency=currency, approver=user
    )
    waits = _needs_coapproval(action, final)
    recommendation = Recommendation.objects.create(
        ticket=locked,
        analysis=locked.analyses.filter(status=AnalysisStatus.DONE)
        .order_by("-transcript_version")
        .first(),
        action=action,
        amount=final,
        final_amount=final,
        currency=settings.RECOVERY_CURRENCY if final is not None else "",
        added_by=user,
        personalised=False,
        status=RecommendationStatus.AWAITING_COAPPROVAL if waits else RecommendationStatus.APPROVED,
        decided_by=user,
        decided_at=timezone.now(),
        decision_reason=reason,
        explanation="Added by the agent.",
    )
    audit_recommendation_added(recommendation=recommendation, actor=user, reason=reason)
    if waits:
        audit_coapproval_requested(recommendation=recommendation, actor=user)
        return recommendation
    _execution_create(recommendation, approved_by=user)
    return recommendation


@transaction.atomic
def recommendation_coapprove(
    *, recommendation: Recommendation, supervisor: User, approve: bool, reason: str = ""
) -> Recommendation:
    """A supervisor's second signature on an amount above the action's co-approval line."""
    locked = (
        Recommendation.objects.select_for_update(of=("self",))
        .select_related("action", "ticket__customer", "analysis")
        .get(pk=recommendation.pk)
    )
    if not supervisor.is_supervisor_role:
        raise DomainError("Only a supervisor can co-approve.", field="recommendation")
    if locked.status != RecommendationStatus.AWAITING_COAPPROVAL:
        raise Conflict(
            "This recommendation is not waiting for a co-approval.",
            field="recommendation",
            code="not_awaiting",
        )
    if locked.decided_by_id == supervisor.pk:
        raise DomainError(
            "A co-approval needs a second person: ask another supervisor.",
            field="recommendation",
        )
    reason = reason.strip()
    if approve:
        limit = approval_limit_for(user=supervisor)
        if limit is not None and (locked.final_amount or 0) > limit:
            raise DomainError(
                f"{locked.final_amount} {settings.RECOVERY_CURRENCY} is above your approval "
                f"limit of {limit:.2f}.",
                field="amount",
                code="over_limit",
            )
        _move(locked, RecommendationStatus.APPROVED)
    else:
        if not reason:
            raise DomainError("Say why you refuse it.", field="reason")
        _move(locked, RecommendationStatus.REJECTED)
    locked.save(update_fields=["status"])
    audit_coapproval_decided(
        recommendation=locked, actor=supervisor, approved=approve, reason=reason
    )
    if approve:
        _execution_create(locked, approved_by=supervisor)
    return locked


# --- executing ---------------------------------------------------------------------------------


def _execution_create(recommendation: Recommendation, *, approved_by: User) -> RecoveryExecution:
    """Record the execution (unique per recommendation: the idempotency key) and run it after
    commit. A second call for the same recommendation finds the same row."""
    from recovery.tasks import execute_recovery

    execution, _ = RecoveryExecution.objects.get_or_create(
        recommendation=recommendation,
        defaults={
            "idempotency_key": f"recovery-{recommendation.pk}",
            "amount": recommendation.final_amount,
            "currency": recommendation.currency,
            "approved_by": approved_by,
        },
    )
    execute_recovery.delay_on_commit(execution_id=execution.pk)
    return execution


Hook = Callable[..., dict[str, Any]]


def execution_hook() -> Hook:
    hook: Hook = import_string(settings.RECOVERY_EXECUTION_HOOK)
    return hook


def execution_run(*, execution_id: int) -> RecoveryExecution:
    try:
        return _execution_run(execution_id=execution_id)
    except HookTemporaryError:
        raise  # the task retries with the same idempotency key
    except Exception as exc:
        # The shop refused or the hook is broken: nothing was noted as done. Record why, for
        # an admin to look at; the approval stands and the execution can be re-run.
        logger.exception("Recovery execution %s failed", execution_id)
        RecoveryExecution.objects.filter(pk=execution_id).exclude(
            status=ExecutionStatus.DONE
        ).update(status=ExecutionStatus.FAILED, error=f"{type(exc).__name__}: {exc}"[:2000])
        return RecoveryExecution.objects.get(pk=execution_id)


def _execution_run(*, execution_id: int) -> RecoveryExecution:
    """Carry out an approved action once: call the shop's hook with the idempotency key, then
    note it in the transcript and the audit trail.

    The row is locked for the whole run, so two workers given the same execution (a redelivered
    task) run it one after the other, and the second finds it done. The hook receives the same
    key on a retry, so a shop API that honours idempotency keys never pays twice even if we
    crash between its answer and our commit.
    """
    with transaction.atomic():
        execution = (
            RecoveryExecution.objects.select_for_update(of=("self",))
            .select_related("recommendation__action", "recommendation__ticket", "approved_by")
            .get(pk=execution_id)
        )
        if execution.status == ExecutionStatus.DONE:
            return execution
        recommendation = execution.recommendation
        execution.attempts += 1
        result = execution_hook()(
            idempotency_key=execution.idempotency_key,
            action=recommendation.action.key,
            kind=recommendation.action.kind,
            amount=execution.amount,
            currency=execution.currency,
            ticket_id=recommendation.ticket_id,
            customer_external_id=recommendation.ticket.customer.external_id,
        )
        amount = (
            f" of {execution.amount} {execution.currency}" if execution.amount is not None else ""
        )
        approver = execution.approved_by.get_username() if execution.approved_by else "staff"
        note = message_append(
            ticket=recommendation.ticket,
            body=f"Recovery action carried out: {recommendation.action.name}{amount} "
            f"(approved by {approver}).",
            author_kind=AuthorKind.SYSTEM,
        )
        execution.status = ExecutionStatus.DONE
        execution.executed_at = timezone.now()
        execution.result = result
        execution.transcript_message = note
        execution.error = ""
        execution.save()
        _move(recommendation, RecommendationStatus.EXECUTED)
        recommendation.save(update_fields=["status"])
        audit_executed(recommendation=recommendation, actor=execution.approved_by, result=result)
        return execution


# --- outcomes ----------------------------------------------------------------------------------

# After this long without the customer writing again, a recovery counts as not reopened.
OUTCOME_SETTLED_DAYS = 14


def recovery_outcomes_update(
    *, customer: Customer | None = None, now: dt.datetime | None = None
) -> int:
    """Fill in what happened after executed recoveries (of one customer, or all unsettled ones):
    was the ticket reopened, did the customer answer positively. These outcomes are what the
    ranking learns from (similar_case_outcomes). Returns how many executions changed.
    """
    from copilot.models import MessageAnalysis
    from tickets.models import TicketEvent, TicketEventKind

    now = now or timezone.now()
    executions = RecoveryExecution.objects.filter(
        status=ExecutionStatus.DONE, outcome_checked_at__isnull=True
    ).select_related("recommendation__ticket")
    if customer is not None:
        executions = executions.filter(recommendation__ticket__customer=customer)
    changed = 0
    for execution in executions:
        ticket = execution.recommendation.ticket
        after = execution.executed_at or execution.created_at
        reopened = TicketEvent.objects.filter(
            ticket=ticket,
            kind=TicketEventKind.STATUS_CHANGED,
            created_at__gt=after,
            data__to="open",
        ).exists()
        reply = (
            MessageAnalysis.objects.filter(
                ticket=ticket, message__created_at__gt=after, status=AnalysisStatus.DONE
            )
            .order_by("transcript_version")
            .values_list("sentiment", flat=True)
            .first()
        )
        positive = None if reply is None else reply == "positive"
        settled = (
            reopened or reply is not None or after < now - dt.timedelta(days=OUTCOME_SETTLED_DAYS)
        )
        if (execution.reopened, execution.positive_reply) == (reopened, positive) and not settled:
            continue
        execution.reopened = reopened
        execution.positive_reply = positive
        execution.outcome_checked_at = now if settled else None
        execution.save(update_fields=["reopened", "positive_reply", "outcome_checked_at"])
        changed += 1
    return changed
