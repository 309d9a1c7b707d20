"""A customer's allowance holds under parallel approvals on several of their tickets.

Real threads on PostgreSQL: SQLite serialises every write, which would hide the race.
"""

import threading
from collections.abc import Callable
from decimal import Decimal

import pytest
from django.db import connection

from accounts.models import Role, User
from core.errors import DomainError
from recovery.catalogue import action_catalogue_ensure
from recovery.models import Recommendation, RecommendationStatus, RecoveryAction
from recovery.selectors import customer_committed_amount
from recovery.services import recommendation_add, recommendation_approve
from tests.factories import CustomerFactory, MessageAnalysisFactory, TicketFactory, UserFactory
from tickets.models import Customer, Ticket

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def postgresql_only() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("SQLite serialises every write and hides the race (runs on PostgreSQL)")


@pytest.fixture
def partial_refund() -> RecoveryAction:
    """200 EUR per customer per 90 days; no co-approval line, so only the allowance decides."""
    action_catalogue_ensure()
    action = RecoveryAction.objects.get(key="refund-partial")
    action.coapproval_above = None
    action.save()
    assert action.customer_limit == Decimal("200.00")
    return action


def run_at_once(calls: list[Callable[[], object]]) -> list[str]:
    """Run each call in its own thread (its own database connection), all released at once;
    returns "ok" or the refusal's message of each."""
    start = threading.Barrier(len(calls))
    outcomes: list[str] = []

    def run(call: Callable[[], object]) -> None:
        try:
            start.wait()
            call()
            outcomes.append("ok")
        except DomainError as exc:
            outcomes.append(exc.message)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes


def committed(customer: Customer, action: RecoveryAction) -> list[Decimal]:
    return sorted(
        Recommendation.objects.filter(
            ticket__customer=customer,
            action=action,
            status__in=[RecommendationStatus.APPROVED, RecommendationStatus.EXECUTED],
        ).values_list("final_amount", flat=True)
    )


def test_allowance_race_six_parallel_additions_on_six_tickets_of_one_customer(
    team_a: object, agent: User, partial_refund: RecoveryAction, eager_tasks: None
) -> None:
    customer = CustomerFactory()
    tickets = [TicketFactory(customer=customer, team=team_a) for _ in range(6)]

    def add(ticket: Ticket) -> Callable[[], object]:
        return lambda: recommendation_add(
            ticket=ticket,
            user=agent,
            action=partial_refund,
            amount="70",
            reason="late again",
            confirmed=True,
        )

    outcomes = run_at_once([add(t) for t in tickets])

    assert outcomes.count("ok") == 2
    refusal = (
        "This customer can receive at most 200.00 EUR of partial refund per 90 days; "
        "60.00 EUR is left."
    )
    assert outcomes.count(refusal) == 4
    assert committed(customer, partial_refund) == [Decimal("70.00"), Decimal("70.00")]
    assert Recommendation.objects.filter(ticket__customer=customer).count() == 2
    assert customer_committed_amount(customer=customer, action=partial_refund) == Decimal("140")


def test_allowance_race_two_approvals_on_top_of_what_was_given(
    team_a: object, agent: User, partial_refund: RecoveryAction, eager_tasks: None
) -> None:
    colleague = UserFactory(username="carol", role=Role.AGENT, teams=[team_a])
    customer = CustomerFactory()
    given = TicketFactory(customer=customer, team=team_a)
    for _ in range(2):
        recommendation_add(
            ticket=given,
            user=agent,
            action=partial_refund,
            amount="70",
            reason="first time",
            confirmed=True,
        )
    proposals = []
    for _ in range(2):
        ticket = TicketFactory(customer=customer, team=team_a)
        proposals.append(
            Recommendation.objects.create(
                ticket=ticket,
                analysis=MessageAnalysisFactory(ticket=ticket, intent="get_refund"),
                action=partial_refund,
                amount=Decimal("40.00"),
                currency="EUR",
            )
        )

    outcomes = run_at_once(
        [
            lambda: recommendation_approve(recommendation=proposals[0], user=agent),
            lambda: recommendation_approve(recommendation=proposals[1], user=colleague),
        ]
    )

    assert sorted(outcomes) == [
        "This customer can receive at most 200.00 EUR of partial refund per 90 days; "
        "20.00 EUR is left.",
        "ok",
    ]
    assert committed(customer, partial_refund) == [
        Decimal("40.00"),
        Decimal("70.00"),
        Decimal("70.00"),
    ]
    statuses = sorted(
        Recommendation.objects.filter(pk__in=[p.pk for p in proposals]).values_list(
            "status", flat=True
        )
    )
    assert statuses == [RecommendationStatus.EXECUTED, RecommendationStatus.PROPOSED]


def test_split_refund_in_parallel_still_meets_the_cumulative_line(
    team_a: object, agent: User, eager_tasks: None
) -> None:
    action_catalogue_ensure()
    refund = RecoveryAction.objects.get(key="refund-full")  # co-approval above 150
    customer = CustomerFactory()
    tickets = [TicketFactory(customer=customer, team=team_a) for _ in range(5)]

    def add(ticket: Ticket) -> Callable[[], object]:
        return lambda: recommendation_add(
            ticket=ticket, user=agent, action=refund, amount="100", reason="broken", confirmed=True
        )

    outcomes = run_at_once([add(t) for t in tickets])

    assert outcomes == ["ok"] * 5
    statuses = sorted(
        Recommendation.objects.filter(ticket__customer=customer).values_list("status", flat=True)
    )
    assert statuses == [RecommendationStatus.AWAITING_COAPPROVAL] * 4 + [
        RecommendationStatus.EXECUTED
    ]
