"""Recommendations proposed for an analysed message, decided by people, executed once."""

from decimal import Decimal

import pytest
from django.db import transaction

from accounts.models import Role, User
from copilot.models import MessageAnalysis
from core.errors import Conflict, DomainError
from privacy.models import ConsentRecord
from recovery.catalogue import action_catalogue_ensure
from recovery.hooks import HookPermanentError
from recovery.models import (
    AuditEvent,
    AuditKind,
    ExecutionStatus,
    Recommendation,
    RecommendationStatus,
    RecoveryAction,
    RecoveryExecution,
)
from recovery.services import (
    execution_run,
    recommendation_add,
    recommendation_approve,
    recommendation_coapprove,
    recommendation_reject,
    recommendations_propose,
)
from tests.factories import CustomerFactory, MessageAnalysisFactory, TicketFactory, UserFactory
from tickets.consent import ConsentPurpose
from tickets.models import AuthorKind, Ticket

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager_tasks")]


@pytest.fixture(autouse=True)
def catalogue(db: None) -> None:
    action_catalogue_ensure()


def analysed(ticket: Ticket, *, intent: str = "get_refund", score: float = -0.8) -> MessageAnalysis:
    return MessageAnalysisFactory(
        ticket=ticket,
        sentiment="negative" if score < -0.2 else "neutral",
        sentiment_score=score,
        intent=intent,
    )


def proposed(ticket: Ticket, key: str, **kw: object) -> Recommendation:
    analysis = analysed(ticket, **kw)  # type: ignore[arg-type]
    recommendations_propose(analysis=analysis)
    return Recommendation.objects.get(analysis=analysis, action__key=key)


def test_proposals_are_ranked_explained_and_audited(ticket_a: Ticket) -> None:
    ticket_a.customer.lifetime_spend = Decimal("2500")
    ticket_a.customer.save()
    analysis = analysed(ticket_a)

    first = recommendations_propose(analysis=analysis)
    again = recommendations_propose(analysis=analysis)

    assert [r.pk for r in again] == [r.pk for r in first]  # idempotent
    assert [r.rank for r in first] == [1, 2, 3]
    assert all(r.personalised for r in first)
    assert "upset" in first[0].explanation and "high-value" in first[0].explanation
    shown = AuditEvent.objects.filter(kind=AuditKind.RECOMMENDATION_SHOWN)
    assert {e.recommendation_id for e in shown} == {r.pk for r in first}


def test_opted_out_customer_gets_non_personalised_proposals(ticket_a: Ticket) -> None:
    ConsentRecord.objects.create(
        customer=ticket_a.customer,
        purpose=ConsentPurpose.PERSONALISATION,
        granted=False,
        source="test",
    )

    proposals = recommendations_propose(analysis=analysed(ticket_a))

    assert proposals and not any(r.personalised for r in proposals)
    assert all("opted out" in r.explanation for r in proposals)
    assert all(set(r.evidence["signals"]) == {"sentiment", "sentiment_score"} for r in proposals)


def test_approve_as_proposed_executes_once_and_notes_the_transcript(
    ticket_a: Ticket, agent: User, django_capture_on_commit_callbacks
) -> None:
    recommendation = proposed(ticket_a, "refund-partial")
    before = ticket_a.transcript_version

    with django_capture_on_commit_callbacks(execute=True):
        recommendation_approve(recommendation=recommendation, user=agent)

    recommendation.refresh_from_db()
    assert recommendation.status == RecommendationStatus.EXECUTED
    execution = RecoveryExecution.objects.get(recommendation=recommendation)
    assert execution.status == ExecutionStatus.DONE
    assert execution.idempotency_key == f"recovery-{recommendation.pk}"
    assert execution.result == {"status": "recorded", "idempotency_key": execution.idempotency_key}
    note = ticket_a.messages.get(sequence=before + 1)
    assert note.author_kind == AuthorKind.SYSTEM
    assert "Partial refund of 15.00 EUR" in note.body and "alice" in note.body
    # Running the execution again (a redelivered task) does nothing more.
    execution_run(execution_id=execution.pk)
    assert ticket_a.messages.count() == before + 1
    kinds = list(
        AuditEvent.objects.filter(recommendation=recommendation)
        .order_by("id")
        .values_list("kind", flat=True)
    )
    assert kinds == [
        AuditKind.RECOMMENDATION_SHOWN,
        AuditKind.RECOMMENDATION_APPROVED,
        AuditKind.EXECUTED,
    ]


def test_changed_amount_needs_a_reason_and_counts_as_an_override(
    ticket_a: Ticket, agent: User
) -> None:
    recommendation = proposed(ticket_a, "refund-partial")

    with pytest.raises(DomainError) as missing:
        recommendation_approve(recommendation=recommendation, user=agent, amount="20")
    assert missing.value.field == "reason"
    recommendation_approve(
        recommendation=recommendation, user=agent, amount="20", reason="Two items late"
    )

    event = AuditEvent.objects.get(kind=AuditKind.RECOMMENDATION_EDITED)
    assert event.is_override and event.reason == "Two items late"
    assert (event.proposed["amount"], event.final["amount"]) == ("15.00", "20.00")


def test_reject_needs_a_reason_and_is_final(ticket_a: Ticket, agent: User) -> None:
    recommendation = proposed(ticket_a, "refund-partial")

    with pytest.raises(DomainError):
        recommendation_reject(recommendation=recommendation, user=agent, reason="  ")
    recommendation_reject(recommendation=recommendation, user=agent, reason="Not our fault")
    with pytest.raises(Conflict):
        recommendation_approve(recommendation=recommendation, user=agent)

    event = AuditEvent.objects.get(kind=AuditKind.RECOMMENDATION_REJECTED)
    assert (event.is_override, event.actor, event.reason) == (True, agent, "Not our fault")
    assert not RecoveryExecution.objects.exists()


@pytest.mark.parametrize(
    ("amount", "currency", "message"),
    [
        ("-5", "", "cannot be negative"),
        ("101", "", "limited to 100.00 EUR"),
        ("10", "USD", "Amounts are in EUR, not USD"),
        ("abc", "", "as a number"),
    ],
)
def test_bad_amounts_are_refused_with_a_clear_message(
    ticket_a: Ticket, agent: User, amount: str, currency: str, message: str
) -> None:
    recommendation = proposed(ticket_a, "refund-partial")

    with pytest.raises(DomainError) as refused:
        recommendation_approve(
            recommendation=recommendation,
            user=agent,
            amount=amount,
            currency=currency,
            reason="customer asked",
        )

    assert message in refused.value.message
    recommendation.refresh_from_db()
    assert recommendation.status == RecommendationStatus.PROPOSED
    assert not RecoveryExecution.objects.exists()


def test_agent_cannot_approve_above_their_own_limit(ticket_a: Ticket, agent: User) -> None:
    agent.approval_limit = Decimal("12")
    agent.save()
    recommendation = proposed(ticket_a, "refund-partial")

    with pytest.raises(DomainError) as refused:
        recommendation_approve(recommendation=recommendation, user=agent)

    assert refused.value.code == "over_limit"
    assert "above your approval limit of 12.00" in refused.value.message


def test_per_customer_limit_counts_what_was_already_given(ticket_a: Ticket, agent: User) -> None:
    credit = RecoveryAction.objects.get(key="store-credit")  # 100 per customer per 90 days
    recommendation_add(ticket=ticket_a, user=agent, action=credit, amount="40", reason="late twice")
    recommendation_add(ticket=ticket_a, user=agent, action=credit, amount="40", reason="again")

    with pytest.raises(DomainError) as refused:
        recommendation_add(ticket=ticket_a, user=agent, action=credit, amount="30", reason="more")

    assert (
        "at most 100.00 EUR of store credit per 90 days; 20.00 EUR is left" in refused.value.message
    )


def test_above_the_coapproval_line_it_waits_for_a_second_person(
    ticket_a: Ticket, agent: User, supervisor: User, django_capture_on_commit_callbacks
) -> None:
    recommendation = proposed(ticket_a, "refund-partial")
    recommendation_approve(
        recommendation=recommendation, user=agent, confirmed=True, amount="90", reason="x2"
    )

    recommendation.refresh_from_db()
    assert recommendation.status == RecommendationStatus.AWAITING_COAPPROVAL
    assert not RecoveryExecution.objects.exists()
    with pytest.raises(Conflict):  # the agent cannot push it through by approving again
        recommendation_approve(recommendation=recommendation, user=agent)
    with pytest.raises(DomainError):  # an agent is not a supervisor
        recommendation_coapprove(recommendation=recommendation, supervisor=agent, approve=True)

    with django_capture_on_commit_callbacks(execute=True):
        recommendation_coapprove(recommendation=recommendation, supervisor=supervisor, approve=True)

    recommendation.refresh_from_db()
    assert recommendation.status == RecommendationStatus.EXECUTED
    assert RecoveryExecution.objects.get().amount == Decimal("90.00")
    assert AuditEvent.objects.filter(kind=AuditKind.COAPPROVED, actor=supervisor).exists()


def test_supervisor_cannot_coapprove_their_own_approval(ticket_a: Ticket, supervisor: User) -> None:
    recommendation = proposed(ticket_a, "refund-partial")
    recommendation_approve(
        recommendation=recommendation,
        user=supervisor,
        confirmed=True,
        amount="90",
        reason="bad week",
    )

    with pytest.raises(DomainError) as refused:
        recommendation_coapprove(recommendation=recommendation, supervisor=supervisor, approve=True)

    assert "second person" in refused.value.message


def test_added_action_is_approved_with_its_reason_and_marked_as_an_override(
    ticket_a: Ticket, agent: User, django_capture_on_commit_callbacks
) -> None:
    analysed(ticket_a)
    callback = RecoveryAction.objects.get(key="callback")

    with pytest.raises(DomainError):
        recommendation_add(ticket=ticket_a, user=agent, action=callback, reason="")
    with django_capture_on_commit_callbacks(execute=True):
        added = recommendation_add(
            ticket=ticket_a, user=agent, action=callback, reason="Customer asked to be called"
        )

    added.refresh_from_db()
    assert (added.status, added.added_by) == (RecommendationStatus.EXECUTED, agent)
    event = AuditEvent.objects.get(kind=AuditKind.RECOMMENDATION_ADDED)
    assert event.is_override and event.reason == "Customer asked to be called"


def test_a_failing_shop_hook_marks_the_execution_failed_and_keeps_the_approval(
    ticket_a: Ticket, agent: User, settings
) -> None:
    settings.RECOVERY_EXECUTION_HOOK = "tests.recovery.test_workflow.refusing_hook"
    recommendation = proposed(ticket_a, "refund-partial")

    with transaction.atomic():
        recommendation_approve(recommendation=recommendation, user=agent)
    execution = RecoveryExecution.objects.get()
    execution_run(execution_id=execution.pk)

    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.FAILED
    assert "card expired" in execution.error
    recommendation.refresh_from_db()
    assert recommendation.status == RecommendationStatus.APPROVED
    assert not AuditEvent.objects.filter(kind=AuditKind.EXECUTED).exists()


def refusing_hook(**kwargs: object) -> dict[str, object]:
    raise HookPermanentError("the shop says: card expired")


def test_audit_events_cannot_be_changed_or_deleted(ticket_a: Ticket, agent: User) -> None:
    proposed(ticket_a, "refund-partial")
    event = AuditEvent.objects.first()
    assert event is not None

    event.reason = "rewritten"
    with pytest.raises(PermissionError):
        event.save()
    with pytest.raises(PermissionError):
        event.delete()
    with pytest.raises(PermissionError):
        AuditEvent.objects.filter(pk=event.pk).update(reason="rewritten")
    with pytest.raises(PermissionError):
        AuditEvent.objects.all().delete()
    event.refresh_from_db()
    assert event.reason == ""


def test_admin_role_has_no_limit_of_its_own(
    ticket_a: Ticket, django_capture_on_commit_callbacks
) -> None:
    ada = UserFactory(username="ada2", role=Role.ADMIN)
    recommendation = proposed(ticket_a, "refund-full")

    # 140 is above an agent's 100 and the action's co-approval line (150) is not reached.
    with django_capture_on_commit_callbacks(execute=True):
        recommendation_approve(
            recommendation=recommendation, user=ada, confirmed=True, amount="140", reason="VIP"
        )

    recommendation.refresh_from_db()
    assert recommendation.status == RecommendationStatus.EXECUTED


def test_split_refund_one_agent_five_times_100_for_one_customer_waits_for_a_supervisor(
    team_a: object, agent: User, django_capture_on_commit_callbacks
) -> None:
    # Full refunds: co-approval above 150; an agent may approve up to 100 alone.
    refund = RecoveryAction.objects.get(key="refund-full")
    customer = CustomerFactory()
    tickets = [TicketFactory(customer=customer, team=team_a) for _ in range(5)]

    with django_capture_on_commit_callbacks(execute=True):
        added = [
            recommendation_add(
                ticket=t,
                user=agent,
                action=refund,
                confirmed=True,
                amount="100",
                reason="damaged parcel",
            )
            for t in tickets
        ]

    statuses = [Recommendation.objects.get(pk=r.pk).status for r in added]
    assert (
        statuses == [RecommendationStatus.EXECUTED] + [RecommendationStatus.AWAITING_COAPPROVAL] * 4
    )
    assert RecoveryExecution.objects.filter(recommendation__ticket__customer=customer).count() == 1
    assert AuditEvent.objects.filter(kind=AuditKind.COAPPROVAL_REQUESTED).count() == 4


def test_split_refund_across_two_agents_still_meets_the_line(
    team_a: object, agent: User, django_capture_on_commit_callbacks
) -> None:
    colleague = UserFactory(username="carol", role=Role.AGENT, teams=[team_a])
    refund = RecoveryAction.objects.get(key="refund-full")
    customer = CustomerFactory()
    first, second = (TicketFactory(customer=customer, team=team_a) for _ in range(2))
    recommendation_add(
        ticket=first, user=agent, action=refund, confirmed=True, amount="100", reason="broken"
    )

    other = recommendation_add(
        ticket=second,
        user=colleague,
        action=refund,
        confirmed=True,
        amount="60",
        reason="still broken",
    )

    assert other.status == RecommendationStatus.AWAITING_COAPPROVAL


def test_split_refund_line_counts_only_what_one_person_signed_alone(
    team_a: object, agent: User, supervisor: User
) -> None:
    refund = RecoveryAction.objects.get(key="refund-full")
    customer = CustomerFactory()
    first, second, third = (TicketFactory(customer=customer, team=team_a) for _ in range(3))
    second_supervisor = UserFactory(username="sam2", role=Role.SUPERVISOR, teams=[team_a])
    big = recommendation_add(
        ticket=first, user=supervisor, action=refund, confirmed=True, amount="200", reason="VIP"
    )
    recommendation_coapprove(recommendation=big, supervisor=second_supervisor, approve=True)

    # The 200 a supervisor co-signed does not count against the next single signature ...
    alone = recommendation_add(
        ticket=second, user=agent, action=refund, confirmed=True, amount="100", reason="x"
    )
    # ... but the 100 signed alone does.
    waits = recommendation_add(
        ticket=third, user=agent, action=refund, confirmed=True, amount="60", reason="y"
    )

    assert alone.status == RecommendationStatus.APPROVED
    assert waits.status == RecommendationStatus.AWAITING_COAPPROVAL


def test_coapproval_checks_the_allowance_again(
    ticket_a: Ticket, agent: User, supervisor: User
) -> None:
    recommendation = proposed(ticket_a, "refund-partial")
    recommendation_approve(
        recommendation=recommendation, user=agent, confirmed=True, amount="90", reason="x2"
    )
    RecoveryAction.objects.filter(key="refund-partial").update(customer_limit=Decimal("50"))

    with pytest.raises(DomainError) as refused:
        recommendation_coapprove(recommendation=recommendation, supervisor=supervisor, approve=True)

    assert refused.value.message == (
        "This customer can receive at most 50.00 EUR of partial refund per 90 days; "
        "50.00 EUR is left."
    )
    recommendation.refresh_from_db()
    assert recommendation.status == RecommendationStatus.AWAITING_COAPPROVAL
    assert not RecoveryExecution.objects.exists()
    assert not AuditEvent.objects.filter(kind=AuditKind.COAPPROVED).exists()
