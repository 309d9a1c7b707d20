"""Writes of the recovery app: proposing actions for an analysed message, the agent's and the
supervisor's decisions, and carrying out what was approved, exactly once."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.db import DatabaseError, transaction
from django.db.models import Exists, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.module_loading import import_string

from accounts.models import User
from copilot.labels import intent_label
from copilot.models import AnalysisStatus, MessageAnalysis
from core.errors import Conflict, DomainError
from core.money import money_format, money_format_whole
from recovery import tasks as recovery_tasks
from recovery.asks import asks_detect
from recovery.customer_features import customer_signals_compute
from recovery.events import (
    audit_coapproval_decided,
    audit_coapproval_requested,
    audit_executed,
    audit_recommendation_added,
    audit_recommendation_decided,
    audit_recommendation_shown,
)
from recovery.hooks import ExecutionHook, HookPermanentError, HookTemporaryError
from recovery.models import (
    EXECUTION_MAX_ATTEMPTS,
    EXECUTION_STALE_SECONDS,
    PROPOSAL_REQUEUE_BATCH,
    PROPOSAL_REQUEUE_MAX_SECONDS,
    PROPOSAL_REQUEUE_SECONDS,
    PROPOSAL_REQUEUE_WINDOW_HOURS,
    RECOMMENDATION_TRANSITIONS,
    CustomerSignals,
    ExecutionStatus,
    ProposalRun,
    Recommendation,
    RecommendationStatus,
    RecoveryAction,
    RecoveryExecution,
)
from recovery.ranking import ActionPolicy, CustomerContext, rank_actions
from recovery.selectors import (
    approval_limit_for,
    customer_amount_approved_alone,
    customer_committed_amount,
    similar_case_given_for_team,
    similar_case_outcomes,
)
from tickets.consent import ConsentPurpose, consent_granted
from tickets.customer_data import (
    customer_is_erased,
    customer_lock_for_ticket,
    customer_refuse_if_erased,
)
from tickets.models import AuthorKind, Customer, Message, Ticket, TicketEvent, TicketEventKind
from tickets.services import system_note_append

logger = logging.getLogger(__name__)

MAX_RECOMMENDATIONS = 3
# The customer's latest messages read for what they ask for: an ask stands until answered.
ASK_MESSAGES = 5


# --- proposing ---------------------------------------------------------------------------------


def customer_context(*, customer: Customer) -> CustomerContext:
    """What the ranking may use about the customer, decided now (not when the task was queued):
    nothing but the message when they opted out of personalisation."""
    if not consent_granted(customer=customer, purpose=ConsentPurpose.PERSONALISATION):
        return CustomerContext(personalised=False)
    # The stored signals (kept current by a worker after each message, and nightly); computed
    # here only the first time, so the analysis of a message does not wait on a dozen
    # aggregate queries.
    # No order, no spend and no other ticket: nothing to judge them by (their churn risk would
    # be the model's default for an empty history, not a finding).
    if (
        not customer.order_count
        and not customer.lifetime_spend
        and Ticket.objects.filter(customer=customer)[:2].count() < 2
    ):
        return CustomerContext(personalised=True, segment=customer.segment, history=False)
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


def _sentence(reasons: tuple[str, ...]) -> str:
    """The reasons as one sentence; only its first letter raised (names and currencies keep
    their case, which str.capitalize would lower)."""
    text = "; ".join(reasons)
    return text[:1].upper() + text[1:]


def _customer_words(analysis: MessageAnalysis) -> str:
    """The customer's last ASK_MESSAGES messages up to the analysed one, oldest first."""
    bodies = list(
        Message.objects.filter(
            ticket_id=analysis.ticket_id,
            author_kind=AuthorKind.CUSTOMER,
            sequence__lte=Message.objects.filter(pk=analysis.message_id).values("sequence")[:1],
        )
        .order_by("-sequence")
        .values_list("body", flat=True)[:ASK_MESSAGES]
    )
    return "\n".join(reversed(bodies))


@transaction.atomic
def recommendations_propose(*, analysis: MessageAnalysis) -> list[Recommendation]:
    """Rank the catalogue's actions for an analysed message and record the best as proposals.

    Run by its own task once the analysis has committed (`propose_recommendations`), so it
    re-checks what may have changed since: nothing for an erased customer, nothing for an
    analysis that is not done. Idempotent: a second call for the same analysis returns what
    the first one proposed (read under the analysis's lock; one proposal per action and
    analysis is also a unique constraint).

    Each run of a done analysis is recorded (`ProposalRun`) with its proposals, also when it
    proposes nothing or the customer was erased: the panel stops waiting, beat stops re-sending.
    One for an analysis not done is not a run: nothing was decided, and beat only sends done
    ones (an analysis that becomes done is announced again).
    """
    # The customer first, then the analysis: the order an erasure locks them in, so the two
    # serialise and an erasure that came first is seen here.
    customer = customer_lock_for_ticket(ticket_id=analysis.ticket_id)
    locked = MessageAnalysis.objects.select_for_update().get(pk=analysis.pk)
    existing = list(locked.recommendations.filter(added_by__isnull=True).order_by("rank"))
    if locked.status != AnalysisStatus.DONE:
        return existing
    if ProposalRun.objects.filter(analysis=locked, ran_at__isnull=False).exists():
        return existing
    if existing or customer_is_erased(customer=customer):
        # Proposed before runs were recorded, or nothing may be proposed for this customer.
        _proposal_run_record(analysis=locked, proposed=len(existing))
        return existing
    ticket = Ticket.objects.select_related("customer").get(pk=locked.ticket_id)
    # The customer wrote again: what followed their earlier recoveries, and their signals,
    # are brought up to date by a worker after this commits.
    recovery_tasks.refresh_customer.delay_on_commit(customer_id=ticket.customer_id)
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
        money=money_format_whole,
        intent_name=intent_label(key=locked.intent),
        limit=MAX_RECOMMENDATIONS,
        asks=asks_detect(text=_customer_words(locked), intent=locked.intent),
        team=similar_case_given_for_team(ticket_ids=case_ids, team_id=ticket.team_id),
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
            explanation=_sentence(item.reasons),
            evidence=item.evidence,
            personalised=context.personalised,
        )
        audit_recommendation_shown(recommendation=recommendation)
        created.append(recommendation)
    _proposal_run_record(analysis=locked, proposed=len(created))
    return created


def _proposal_run_record(*, analysis: MessageAnalysis, proposed: int) -> None:
    """Under the analysis's lock. The row may be there already, written by beat for the
    re-sends (`proposal_runs_requeue_missing`): it becomes the record of the run."""
    ProposalRun.objects.update_or_create(
        analysis=analysis, defaults={"ran_at": timezone.now(), "proposed": proposed}
    )


def proposal_requeue_backoff(*, requeues: int) -> dt.timedelta:
    """How long after an analysis finished (``requeues`` 0), or after its last re-send, beat
    waits before sending its proposal task (again)."""
    seconds = PROPOSAL_REQUEUE_SECONDS * 2 ** min(requeues, 16)
    return dt.timedelta(seconds=min(seconds, PROPOSAL_REQUEUE_MAX_SECONDS))


def _proposal_requeue_due(now: dt.datetime) -> Q:
    """Rows of owed runs whose last re-send is older than the back-off it earned (a row no sweep
    has sent yet, `requeues` 0, is due: its analysis was filtered on `finished_at`)."""
    due = Q(requeues=0)
    requeues = 1
    while proposal_requeue_backoff(requeues=requeues).total_seconds() < (
        PROPOSAL_REQUEUE_MAX_SECONDS
    ):
        cutoff = now - proposal_requeue_backoff(requeues=requeues)
        due |= Q(requeues=requeues, requeued_at__lt=cutoff)
        requeues += 1
    return due | Q(
        requeues__gte=requeues,
        requeued_at__lt=now - dt.timedelta(seconds=PROPOSAL_REQUEUE_MAX_SECONDS),
    )


def proposal_runs_requeue_missing() -> int:
    """Send again the proposal task of done analyses whose run is not recorded: it was lost
    (the broker was down when the analysis committed, a message dropped, a worker died), as
    `analyses_requeue_stale` does for analyses. The database is the truth, the broker only a
    delivery. Returns how many were sent.

    Only analyses requested within PROPOSAL_REQUEUE_WINDOW_HOURS (the range the analyses'
    `(status, requested_at)` index serves), finished PROPOSAL_REQUEUE_SECONDS ago or more,
    newest first (an agent may be waiting on them), PROPOSAL_REQUEUE_BATCH at most; each
    re-send backs off (`proposal_requeue_backoff`). A re-send is claimed on the analysis's
    `ProposalRun` row first (a compare-and-set on its count, which the run itself also ends
    by setting `ran_at`), so two sweeps at once, or a sweep and the run, send it once.
    """
    now = timezone.now()
    runs = ProposalRun.objects.filter(analysis=OuterRef("pk"))
    owed = list(
        MessageAnalysis.objects.filter(
            status=AnalysisStatus.DONE,
            requested_at__gte=now - dt.timedelta(hours=PROPOSAL_REQUEUE_WINDOW_HOURS),
            finished_at__lt=now - proposal_requeue_backoff(requeues=0),
        )
        .filter(~Exists(runs) | Exists(runs.filter(_proposal_requeue_due(now), ran_at=None)))
        .annotate(proposal_requeues=Coalesce(Subquery(runs.values("requeues")[:1]), 0))
        .order_by("-finished_at", "-pk")
        .values_list("pk", "proposal_requeues")[:PROPOSAL_REQUEUE_BATCH]
    )
    # The rows that count the re-sends; one written meanwhile (by the run) is left as it is.
    ProposalRun.objects.bulk_create(
        [ProposalRun(analysis_id=pk) for pk, _ in owed], ignore_conflicts=True
    )
    sent = 0
    for analysis_id, requeues in owed:
        with transaction.atomic():
            claim = ProposalRun.objects.filter(
                analysis_id=analysis_id, ran_at=None, requeues=requeues
            )
            if claim.update(requeues=requeues + 1, requeued_at=now) != 1:
                continue  # another sweep sent it, or it ran, meanwhile
            recovery_tasks.propose_recommendations.delay_on_commit(analysis_id=analysis_id)
        sent += 1
    if sent:
        logger.warning("Re-queued the proposals of %d analyses whose task was lost", sent)
    return sent


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
            f"{action.name} is limited to "
            f"{money_format(amount=action.max_amount, currency=settings.RECOVERY_CURRENCY)}.",
            field="amount",
        )
    _check_allowance(action=action, customer=customer, amount=amount, exclude=exclude)
    limit = approval_limit_for(user=approver)
    if limit is not None and amount > limit:
        raise DomainError(
            f"{money_format(amount=amount, currency=settings.RECOVERY_CURRENCY)} is above your "
            f"approval limit of {money_format(amount=limit, currency='')}.",
            field="amount",
            code="over_limit",
        )


def _check_confirmed(*, action: RecoveryAction, amount: Decimal | None, confirmed: bool) -> None:
    """Refuse (naming the `confirm` field) money above RECOVERY_CONFIRM_ABOVE that the approver
    did not explicitly confirm: the page's checkbox, the API's `confirm: true`. Checked after
    the policy's own rules, so a wrong amount gets their message first."""
    line = settings.RECOVERY_CONFIRM_ABOVE
    if confirmed or not action.monetary or amount is None or amount <= line:
        return
    currency = settings.RECOVERY_CURRENCY
    raise DomainError(
        f"Confirm sending {money_format(amount=amount, currency=currency)} to the customer: "
        f"amounts above {money_format(amount=line, currency=currency)} need an explicit "
        "confirmation.",
        field="confirm",
        code="confirmation_required",
    )


def _check_allowance(
    *,
    action: RecoveryAction,
    customer: Customer,
    amount: Decimal | None,
    exclude: Recommendation | None = None,
) -> None:
    """Refuse an amount that would take the customer past the action's limit for the period.
    Only meaningful under the customer's lock (`_customer_lock`): otherwise two approvals read
    the same total and both pass."""
    if action.customer_limit is None or amount is None:
        return
    committed = customer_committed_amount(customer=customer, action=action, exclude=exclude)
    if committed + amount > action.customer_limit:
        left = max(Decimal(0), action.customer_limit - committed)
        raise DomainError(
            "This customer can receive at most "
            f"{money_format(amount=action.customer_limit, currency=settings.RECOVERY_CURRENCY)} "
            f"of {action.name.lower()} per {action.customer_limit_days} days; "
            f"{money_format(amount=left, currency=settings.RECOVERY_CURRENCY)} is left.",
            field="amount",
        )


def _customer_lock(*, customer_id: int) -> Customer:
    """Lock the customer whose allowance a decision spends. Every service that commits money
    takes this lock first and reads what was already given only then, so approvals for one
    customer, on any of their tickets, run one after the other and each sees the others'
    amounts. The customer comes first in every such service (then the ticket, then the
    recommendation), so two of them never wait on each other in opposite orders."""
    return Customer.objects.select_for_update().get(pk=customer_id)


def _require_open(ticket: Ticket) -> None:
    """Nothing new is decided on a closed ticket (the page hides the buttons; this is the
    rule). A co-approval is not refused: it completes what was decided while it was open."""
    if ticket.is_closed:
        raise Conflict(
            "This ticket is closed: no recovery action can be approved or added on it.",
            field="ticket",
            code="closed",
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
    if recommendation.is_decided:
        raise Conflict(
            f"This recommendation is already {recommendation.get_status_display().lower()}.",
            field="recommendation",
            code="already_decided",
        )


def _needs_coapproval(
    action: RecoveryAction,
    amount: Decimal | None,
    *,
    customer: Customer,
    exclude: Recommendation | None = None,
) -> bool:
    """Above the action's co-approval line a supervisor must sign. The line is cumulative: it
    applies to this amount plus what the customer already received of the action within its
    period on one signature alone (whoever gave it), so an amount split into parts below the
    line still meets a supervisor once the parts add up past it."""
    if amount is None or action.coapproval_above is None:
        return False
    given = customer_amount_approved_alone(customer=customer, action=action, exclude=exclude)
    return given + amount > action.coapproval_above


@transaction.atomic
def recommendation_approve(
    *,
    recommendation: Recommendation,
    user: User,
    amount: Any = None,
    currency: str = "",
    reason: str = "",
    confirmed: bool = False,
) -> Recommendation:
    """Approve a proposal, as it is or with another amount (then a reason is required); an
    amount above RECOVERY_CONFIRM_ABOVE only when `confirmed`. Never for an erased customer.

    The customer is locked first (their allowance is shared by all their tickets), then the
    ticket and the row, so two agents approving at once cannot both pass: the second sees it
    approved and gets a Conflict, or sees the first one's amount in the allowance. Above the
    action's co-approval line it waits for a supervisor; otherwise the execution is recorded
    now and run by a worker after commit.
    """
    ticket_id, customer_id = (
        Recommendation.objects.filter(pk=recommendation.pk)
        .values_list("ticket_id", "ticket__customer_id")
        .get()
    )
    customer = _customer_lock(customer_id=customer_id)
    customer_refuse_if_erased(customer=customer)
    ticket = Ticket.objects.select_for_update().get(pk=ticket_id)
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
    _require_open(ticket)
    _check_money(
        action=locked.action,
        customer=customer,
        amount=final,
        currency=currency,
        approver=user,
        exclude=locked,
    )
    _check_confirmed(action=locked.action, amount=final, confirmed=confirmed)
    locked.final_amount = final
    locked.decided_by = user
    locked.decided_at = timezone.now()
    locked.decision_reason = reason
    audit_recommendation_decided(recommendation=locked, actor=user, amount=final, reason=reason)
    if _needs_coapproval(locked.action, final, customer=customer, exclude=locked):
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
    confirmed: bool = False,
) -> Recommendation:
    """An action the copilot did not suggest, added and approved by the agent in one step (an
    amount above RECOVERY_CONFIRM_ABOVE only when `confirmed`; never for an erased customer)."""
    reason = reason.strip()
    if not reason:
        raise DomainError("Say why this action is needed.", field="reason")
    if not action.active:
        raise DomainError(f"{action.name} is not offered any more.", field="action")
    customer = _customer_lock(
        customer_id=Ticket.objects.filter(pk=ticket.pk).values_list("customer_id", flat=True).get()
    )
    customer_refuse_if_erased(customer=customer)
    locked = Ticket.objects.select_for_update().get(pk=ticket.pk)
    _require_open(locked)
    final = _parse_amount(amount)
    if final is None and action.monetary:
        final = action.default_amount
    _check_money(action=action, customer=customer, amount=final, currency=currency, approver=user)
    _check_confirmed(action=action, amount=final, confirmed=confirmed)
    waits = _needs_coapproval(action, final, customer=customer)
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
    """A supervisor's second signature on an amount above the action's co-approval line.

    Locks the customer first and checks the allowance again: the policy may have been
    tightened since the agent asked."""
    customer = _customer_lock(
        customer_id=Recommendation.objects.filter(pk=recommendation.pk)
        .values_list("ticket__customer_id", flat=True)
        .get()
    )
    customer_refuse_if_erased(customer=customer)
    locked = (
        Recommendation.objects.select_for_update(of=("self",))
        .select_related("action", "ticket__customer", "analysis")
        .get(pk=recommendation.pk)
    )
    if not supervisor.is_supervisor_role:
        raise DomainError("Only a supervisor can co-approve.", field="recommendation")
    if not locked.can_coapprove:
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
        amount = locked.final_amount or Decimal(0)
        if limit is not None and amount > limit:
            raise DomainError(
                f"{money_format(amount=amount, currency=settings.RECOVERY_CURRENCY)} is above "
                f"your approval limit of {money_format(amount=limit, currency='')}.",
                field="amount",
                code="over_limit",
            )
        _check_allowance(
            action=locked.action, customer=customer, amount=locked.final_amount, exclude=locked
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
    execution, _ = RecoveryExecution.objects.get_or_create(
        recommendation=recommendation,
        defaults={
            "idempotency_key": f"recovery-{recommendation.pk}",
            "amount": recommendation.final_amount,
            "currency": recommendation.currency,
            "approved_by": approved_by,
        },
    )
    recovery_tasks.execute_recovery.delay_on_commit(execution_id=execution.pk)
    return execution


def execution_hook() -> ExecutionHook:
    hook: ExecutionHook = import_string(settings.RECOVERY_EXECUTION_HOOK)
    return hook


def execution_run(*, execution_id: int) -> RecoveryExecution:
    """Carry out an approved action once, in three steps (Saleor's payment flow):

    1. a short transaction locks the execution, checks it is still to be done and marks it in
       progress (counting the attempt);
    2. the shop's hook is called outside any transaction, with the idempotency key;
    3. a new transaction records the answer, the note in the transcript and the audit event.

    No lock is held while the shop is called. A redelivered task finds the execution done, or
    in progress with another worker and leaves it; a run whose worker died is taken over once it
    is stale, calling the shop again with the same key (it acts once per key). Only the shop's
    named refusal (`HookPermanentError`) marks the execution failed: after any other error the
    shop may have acted, so it is tried again, never recorded as not done.
    """
    execution = _execution_take(execution_id=execution_id)
    if execution is None:
        return RecoveryExecution.objects.get(pk=execution_id)
    recommendation = execution.recommendation
    try:
        result = execution_hook()(
            idempotency_key=execution.idempotency_key,
            action=recommendation.action.key,
            kind=recommendation.action.kind,
            amount=execution.amount,
            currency=execution.currency,
            ticket_id=recommendation.ticket_id,
            customer_external_id=recommendation.ticket.customer.external_id,
        )
    except HookPermanentError as exc:
        logger.warning("Recovery execution %s refused by the shop: %s", execution_id, exc)
        RecoveryExecution.objects.filter(pk=execution_id, status=ExecutionStatus.RUNNING).update(
            status=ExecutionStatus.FAILED, error=_error_text(exc)
        )
        return RecoveryExecution.objects.get(pk=execution_id)
    except Exception as exc:
        logger.warning("Recovery execution %s: the shop's hook failed, will retry", execution_id)
        _execution_release(execution_id=execution_id, error=_error_text(exc))
        if isinstance(exc, HookTemporaryError):
            raise
        raise HookTemporaryError(_error_text(exc)) from exc  # the task retries, same key
    try:
        return _execution_record(execution_id=execution_id, result=result)
    except Exception as exc:
        # The shop acted; recording it did not work (the database went away, say). Keep the
        # answer for whoever looks, and try again: the same key makes the shop answer the same
        # without acting twice. A transient database error is retried by the task, anything
        # else by beat once the execution is stale.
        logger.exception("Recovery execution %s: carried out but not recorded", execution_id)
        _execution_release(
            execution_id=execution_id,
            error=f"Carried out by the shop, not recorded yet: {_error_text(exc)}",
            result=result,
        )
        raise


def executions_requeue_stale(*, older_than_seconds: int = 120) -> int:
    """Queue again the executions whose task was lost (a broker that restarted without
    persistence) or whose worker died mid-run, as `analyses_requeue_stale` does for analyses.
    The database row is the truth, the broker only a delivery.

    Pending ones are taken once neither queued nor started for `older_than_seconds`; one in
    progress only once its run is stale (`EXECUTION_STALE_SECONDS`), since its worker may still
    be waiting for the shop, and taking it over calls the shop again with the same key (which
    acts once per key). Each is stamped as queued now under a row lock, so the next beat run
    leaves it alone until the period has passed again; the task is safe to run twice anyway.
    After `EXECUTION_MAX_ATTEMPTS` runs it is left for a person (it is listed as stuck).
    """
    now = timezone.now()
    cutoff = now - dt.timedelta(seconds=older_than_seconds)
    run_cutoff = now - dt.timedelta(seconds=max(older_than_seconds, EXECUTION_STALE_SECONDS))
    with transaction.atomic():
        ids = list(
            RecoveryExecution.objects.select_for_update(skip_locked=True)
            .filter(queued_at__lt=cutoff, attempts__lt=EXECUTION_MAX_ATTEMPTS)
            .filter(
                Q(status=ExecutionStatus.PENDING)
                & (Q(started_at__isnull=True) | Q(started_at__lt=cutoff))
                | Q(status=ExecutionStatus.RUNNING, started_at__lt=run_cutoff)
            )
            .values_list("pk", flat=True)
        )
        RecoveryExecution.objects.filter(pk__in=ids).update(queued_at=now)
        for execution_id in ids:
            recovery_tasks.execute_recovery.delay_on_commit(execution_id=execution_id)
    if ids:
        logger.warning("Re-queued %d recovery executions whose task was lost", len(ids))
    return len(ids)


def _error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:2000]


def _execution_take(*, execution_id: int) -> RecoveryExecution | None:
    """Step 1: lock, check and mark in progress, in a transaction of its own. None when there is
    nothing to do: done already, or in progress with a worker that is not stale."""
    now = timezone.now()
    with transaction.atomic():
        execution = (
            RecoveryExecution.objects.select_for_update(of=("self",))
            .select_related("recommendation__action", "recommendation__ticket__customer")
            .get(pk=execution_id)
        )
        if execution.status == ExecutionStatus.DONE:
            return None
        stale = now - dt.timedelta(seconds=EXECUTION_STALE_SECONDS)
        if (
            execution.status == ExecutionStatus.RUNNING
            and execution.started_at is not None
            and execution.started_at > stale
        ):
            return None
        execution.status = ExecutionStatus.RUNNING
        execution.started_at = now
        execution.attempts += 1
        execution.save(update_fields=["status", "started_at", "attempts"])
    return execution


def _execution_release(
    *, execution_id: int, error: str, result: dict[str, Any] | None = None
) -> None:
    """After a failed run: pending again, with the error, for the next try. Best effort: when the
    database itself is gone the run stays in progress until it is stale, then taken over."""
    fields: dict[str, Any] = {"status": ExecutionStatus.PENDING, "error": error}
    if result is not None:
        fields["result"] = result
    try:
        RecoveryExecution.objects.filter(pk=execution_id, status=ExecutionStatus.RUNNING).update(
            **fields
        )
    except DatabaseError:
        logger.exception("Recovery execution %s: could not note the failed run", execution_id)


@transaction.atomic
def _execution_record(*, execution_id: int, result: dict[str, Any]) -> RecoveryExecution:
    """Step 3: the shop's answer, the note in the transcript and the `executed` audit event, in
    one transaction. The note is taken whatever the ticket's status: what was paid is recorded
    even when the ticket was closed meanwhile."""
    execution = (
        RecoveryExecution.objects.select_for_update(of=("self",))
        .select_related("recommendation__action", "recommendation__ticket", "approved_by")
        .get(pk=execution_id)
    )
    if execution.status == ExecutionStatus.DONE:
        return execution  # a worker that took over a stale run recorded it first
    recommendation = execution.recommendation
    amount = f" of {execution.amount} {execution.currency}" if execution.amount is not None else ""
    approver = execution.approved_by.get_username() if execution.approved_by else "staff"
    note = system_note_append(
        ticket=recommendation.ticket,
        body=f"Recovery action carried out: {recommendation.action.name}{amount} "
        f"(approved by {approver}).",
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
