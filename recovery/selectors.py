"""Reads of the recovery app, scoped to what the user may see."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db.models import (
    CharField,
    Count,
    Exists,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce, Concat, NullIf, Trim
from django.shortcuts import get_object_or_404
from django.utils import timezone

from accounts.models import Role, User
from accounts.selectors import team_ids_for_user
from copilot.models import AnalysisStatus, MessageAnalysis
from recovery.models import (
    EXECUTION_STALE_SECONDS,
    PROPOSAL_REQUEUE_SECONDS,
    AuditEvent,
    AuditKind,
    ExecutionStatus,
    ProposalRun,
    Recommendation,
    RecommendationStatus,
    RecoveryAction,
    RecoveryExecution,
)
from recovery.ranking import Outcome, TeamEvidence
from tickets.consent import ConsentPurpose, consent_granted
from tickets.customer_data import customer_row_is_erased
from tickets.models import Customer, Status, Ticket

# Money already promised to a customer: approved (about to run), executed, or waiting for a
# supervisor. Counted against the action's per-customer limit.
COMMITTED = [
    RecommendationStatus.APPROVED,
    RecommendationStatus.EXECUTED,
    RecommendationStatus.AWAITING_COAPPROVAL,
]


def recommendation_qs_for_user(*, user: User) -> QuerySet[Recommendation]:
    return Recommendation.objects.filter(ticket__team_id__in=team_ids_for_user(user=user))


def recommendation_get_for_user(*, user: User, recommendation_id: int) -> Recommendation:
    """A recommendation of a ticket the user may see; anything else is a 404."""
    return get_object_or_404(
        recommendation_qs_for_user(user=user).select_related(
            "ticket__customer", "ticket__team", "action", "analysis"
        ),
        pk=recommendation_id,
    )


def _coapprover_name() -> Subquery:
    """The supervisor who co-approved a recommendation, by name ("Sam Supervisor", else their
    username), read from its audit trail in the same query: no column repeats the event."""
    actor = AuditEvent.objects.filter(
        recommendation=OuterRef("pk"), kind=AuditKind.COAPPROVED
    ).order_by("-created_at")
    full_name = Trim(Concat("actor__first_name", Value(" "), "actor__last_name"))
    name = Coalesce(NullIf(full_name, Value("")), "actor__username", output_field=CharField())
    return Subquery(actor.annotate(name=name).values("name")[:1], output_field=CharField())


def recommendation_list_for_ticket(*, ticket: Ticket) -> list[Recommendation]:
    """What the ticket page shows: open ones first, then decided ones, newest first."""
    open_first: dict[str, int] = {
        RecommendationStatus.PROPOSED: 0,
        RecommendationStatus.AWAITING_COAPPROVAL: 1,
    }
    recommendations = list(
        # Through the ticket's manager: each row knows its ticket without a query (can_decide).
        ticket.recommendations.select_related("action", "decided_by", "added_by", "execution")
        .annotate(coapproved_by_name=_coapprover_name())
        .order_by("-created_at", "rank")[:20]
    )
    return sorted(recommendations, key=lambda r: (open_first.get(r.status, 2), r.rank))


def action_list_active() -> list[RecoveryAction]:
    return list(RecoveryAction.objects.filter(active=True).order_by("name"))


def customer_committed_amount(
    *, customer: Customer, action: RecoveryAction, exclude: Recommendation | None = None
) -> Decimal:
    """Money of this action already promised to the customer within the policy's period."""
    since = timezone.now() - timedelta(days=action.customer_limit_days)
    qs = Recommendation.objects.filter(
        ticket__customer=customer, action=action, status__in=COMMITTED, created_at__gte=since
    )
    if exclude is not None:
        qs = qs.exclude(pk=exclude.pk)
    total = qs.aggregate(total=Sum("final_amount"))["total"]
    return total or Decimal(0)


def customer_amount_approved_alone(
    *, customer: Customer, action: RecoveryAction, exclude: Recommendation | None = None
) -> Decimal:
    """Money of this action given to the customer within the policy's period on one person's
    signature: approved or executed without a supervisor's co-approval, by any approver.
    What waits for a co-approval is left out (a supervisor will sign it or refuse it)."""
    since = timezone.now() - timedelta(days=action.customer_limit_days)
    coapproved = AuditEvent.objects.filter(recommendation=OuterRef("pk"), kind=AuditKind.COAPPROVED)
    qs = Recommendation.objects.filter(
        ticket__customer=customer,
        action=action,
        status__in=[RecommendationStatus.APPROVED, RecommendationStatus.EXECUTED],
        decided_at__gte=since,
    ).filter(~Exists(coapproved))
    if exclude is not None:
        qs = qs.exclude(pk=exclude.pk)
    total = qs.aggregate(total=Sum("final_amount"))["total"]
    return total or Decimal(0)


def execution_stuck_qs() -> QuerySet[RecoveryExecution]:
    """Approved actions not carried out `EXECUTION_STALE_SECONDS` after their approval: still
    pending (the task was lost, or keeps failing) or in progress (the worker died). Beat
    re-queues them; these are the ones a person should know about."""
    since = timezone.now() - timedelta(seconds=EXECUTION_STALE_SECONDS)
    return RecoveryExecution.objects.filter(
        status__in=[ExecutionStatus.PENDING, ExecutionStatus.RUNNING], created_at__lt=since
    )


@dataclass(frozen=True)
class StuckExecutions:
    count: int
    oldest: list[RecoveryExecution]  # the oldest few, with the ticket and action joined in


def execution_stuck_for_user(*, user: User, limit: int = 10) -> StuckExecutions:
    """The stuck executions of the teams a supervisor or admin may see (agents: none)."""
    if not user.is_supervisor_role:
        return StuckExecutions(count=0, oldest=[])
    qs = execution_stuck_qs().filter(
        recommendation__ticket__team_id__in=team_ids_for_user(user=user)
    )
    count = qs.count()
    oldest = (
        list(
            qs.select_related("recommendation__ticket", "recommendation__action").order_by(
                "created_at", "pk"
            )[:limit]
        )
        if count
        else []
    )
    return StuckExecutions(count=count, oldest=oldest)


def similar_case_outcomes(*, ticket_ids: Iterable[int]) -> dict[str, Outcome]:
    """What the recoveries executed on these (similar, solved) tickets led to, per action."""
    executions = RecoveryExecution.objects.filter(
        recommendation__ticket_id__in=list(ticket_ids), status=ExecutionStatus.DONE
    ).values_list(
        "recommendation__action__key", "recommendation__ticket_id", "reopened", "positive_reply"
    )
    tried: dict[str, list[tuple[int, bool]]] = {}
    for key, ticket_id, reopened, positive in executions:
        worked = reopened is not True and positive is not False
        tried.setdefault(key, []).append((ticket_id, worked))
    return {
        key: Outcome(
            tried=len(rows),
            worked=sum(1 for _, w in rows if w),
            case_ids=tuple(sorted({t for t, _ in rows})),
        )
        for key, rows in tried.items()
    }


# What an agent gave: approved (being carried out) or carried out.
GIVEN = [RecommendationStatus.APPROVED, RecommendationStatus.EXECUTED]


def similar_case_given_for_team(*, ticket_ids: Iterable[int], team_id: int) -> TeamEvidence:
    """Of these similar tickets, the solved ones of this team, and on how many of them agents
    gave each action (proposed by the copilot or added by the agent): two queries."""
    solved = list(
        Ticket.objects.filter(
            pk__in=list(ticket_ids), team_id=team_id, status__in=[Status.SOLVED, Status.CLOSED]
        ).values_list("pk", flat=True)
    )
    if not solved:
        return TeamEvidence(cases=0)
    pairs = set(
        Recommendation.objects.filter(ticket_id__in=solved, status__in=GIVEN).values_list(
            "action__key", "ticket_id"
        )
    )
    given: dict[str, int] = {}
    for key, _ in pairs:
        given[key] = given.get(key, 0) + 1
    return TeamEvidence(cases=len(solved), given=given)


def approval_limit_for(*, user: User) -> Decimal | None:
    """The most this user may approve on their own; None means no personal limit."""
    if user.approval_limit is not None:
        return user.approval_limit
    for role in (Role.ADMIN, Role.SUPERVISOR, Role.AGENT):
        if user.has_role(role):
            limit = settings.RECOVERY_APPROVAL_LIMITS.get(role.value)
            return None if limit is None else Decimal(str(limit))
    return Decimal(0)


def audit_event_qs_for_user(*, user: User) -> QuerySet[AuditEvent]:
    """The audit trail of the teams a supervisor or admin may see (agents see none)."""
    if not user.is_supervisor_role:
        return AuditEvent.objects.none()
    return AuditEvent.objects.filter(team_id__in=team_ids_for_user(user=user)).select_related(
        "actor", "ticket"
    )


def audit_event_filter(
    qs: QuerySet[AuditEvent], *, kind: str = "", ticket_id: int | None = None, overrides: bool
) -> QuerySet[AuditEvent]:
    if kind:
        qs = qs.filter(kind=kind)
    if ticket_id is not None:
        qs = qs.filter(ticket_id=ticket_id)
    if overrides:
        qs = qs.filter(Q(is_override=True))
    return qs


# How long after an analysis finished the panel waits for its proposal run, polling: its task
# is queued when the analysis commits and runs behind other work on the fast queue; a lost one
# is sent again by beat PROPOSAL_REQUEUE_SECONDS after the analysis finished, on the next sweep
# (one a minute), which this covers. Bounded beyond that: with no worker or broker the polling
# (every 2 s) would only load the server; the agent sees the proposals when they open the
# ticket again. A run that proposed nothing is recorded, and stops the polling at once.
PROPOSALS_WAIT_SECONDS = PROPOSAL_REQUEUE_SECONDS + 120


@dataclass(frozen=True)
class RecoveryPanel:
    recommendations: list[Recommendation]
    actions: list[RecoveryAction]
    opted_out: bool
    executing: bool  # an approved action is being carried out: the panel polls
    currency: str
    # An analysis finished moments ago and its proposals are not there yet: the panel polls.
    proposing: bool = False
    # The customer was erased: nothing may be decided or added (the services refuse too).
    erased: bool = False
    # Approving more than this needs the approver's explicit confirmation.
    confirm_above: Decimal = Decimal(0)


def recommendations_awaited(*, ticket: Ticket) -> bool:
    """Whether an analysis of the ticket finished within PROPOSALS_WAIT_SECONDS and its
    proposal run is not recorded yet (its task has not run)."""
    since = timezone.now() - timedelta(seconds=PROPOSALS_WAIT_SECONDS)
    proposed = ProposalRun.objects.filter(analysis=OuterRef("pk"), ran_at__isnull=False)
    return (
        MessageAnalysis.objects.filter(
            ticket=ticket, status=AnalysisStatus.DONE, finished_at__gte=since
        )
        .filter(~Exists(proposed))
        .exists()
    )


def recovery_stamp_expressions(*, ticket_id: OuterRef) -> dict[str, Subquery]:
    """Subqueries, on the ticket `ticket_id` refers to, that change whenever its recovery panel
    would: the newest of its append-only audit events (a proposal shown, every decision, an
    execution) and how many proposal runs were recorded (a run that proposed nothing ends the
    panel's wait too). For a page that asks in one cheap query whether to render it again."""
    audit = (
        AuditEvent.objects.filter(ticket_id=ticket_id)
        .order_by()
        .values("ticket_id")
        .annotate(newest=Max("pk"))
        .values("newest")
    )
    runs = (
        ProposalRun.objects.filter(analysis__ticket_id=ticket_id, ran_at__isnull=False)
        .order_by()
        .values("analysis__ticket_id")
        .annotate(count=Count("pk"))
        .values("count")
    )
    return {"audit": Subquery(audit[:1]), "runs": Subquery(runs[:1])}


def recovery_panel_for_ticket(
    *, ticket: Ticket, consent: Mapping[str, bool] | None = None
) -> RecoveryPanel:
    """`consent`: the customer's consent states when the caller already has them (the ticket
    page does), else they are read here."""
    recommendations = recommendation_list_for_ticket(ticket=ticket)
    personalisation = (
        consent[ConsentPurpose.PERSONALISATION]
        if consent is not None
        else consent_granted(customer=ticket.customer, purpose=ConsentPurpose.PERSONALISATION)
    )
    return RecoveryPanel(
        recommendations=recommendations,
        actions=action_list_active(),
        opted_out=not personalisation,
        executing=any(r.status == RecommendationStatus.APPROVED for r in recommendations),
        currency=settings.RECOVERY_CURRENCY,
        proposing=recommendations_awaited(ticket=ticket),
        # From the loaded customer row, not the privacy log: the polled panel's queries stay.
        erased=customer_row_is_erased(customer=ticket.customer),
        confirm_above=settings.RECOVERY_CONFIRM_ABOVE,
    )
