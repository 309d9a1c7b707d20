"""Customer features (the `CustomerSignals` row) from a crafted history, at a fixed time."""

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from pytest_django.fixtures import Settings

from accounts.models import Team
from copilot.models import MessageAnalysis
from privacy.erasure import customer_erase
from recovery.churn.model import HEURISTIC_VERSION
from recovery.churn.storage import churn_model_forget
from recovery.customer_features import (
    customer_segment,
    customer_signals_compute,
    customer_signals_refresh_all,
)
from recovery.models import (
    BehaviourSegment,
    CustomerSignals,
    ExecutionStatus,
    Recommendation,
    RecoveryAction,
    RecoveryExecution,
)
from recovery.tasks import refresh_customer
from tests.factories import CustomerFactory, MessageAnalysisFactory, TicketFactory
from tickets.models import AuthorKind, Customer, Message, Ticket

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)


def days_ago(days: float) -> dt.datetime:
    return NOW - dt.timedelta(days=days)


@pytest.fixture(autouse=True)
def no_churn_model(settings: Settings, tmp_path: Path) -> Iterator[None]:
    """An empty model directory: the churn risk comes from the documented heuristic."""
    settings.RECOVERY_CHURN_MODEL_DIR = str(tmp_path / "churn")
    churn_model_forget()
    yield
    churn_model_forget()


def ticket(customer: Customer, team: Team, *, at: dt.datetime, intent: str = "") -> Ticket:
    return TicketFactory(customer=customer, team=team, created_at=at, intent=intent)


def message(ticket: Ticket, *, at: dt.datetime, author: str = AuthorKind.CUSTOMER) -> Message:
    ticket.transcript_version += 1
    ticket.last_message_at = max(ticket.last_message_at, at)
    ticket.save(update_fields=["transcript_version", "last_message_at"])
    return Message.objects.create(
        ticket=ticket,
        sequence=ticket.transcript_version,
        author_kind=author,
        body="Any news?",
        created_at=at,
    )


def analysis(ticket: Ticket, *, sentiment: str, intent: str = "") -> MessageAnalysis:
    latest = ticket.messages.filter(author_kind=AuthorKind.CUSTOMER).order_by("-sequence")[0]
    return MessageAnalysisFactory(
        ticket=ticket,
        transcript_version=latest.sequence,
        message=latest,
        requested_at=latest.created_at,
        sentiment=sentiment,
        intent=intent,
    )


def execution(
    ticket: Ticket,
    *,
    status: str = ExecutionStatus.DONE,
    positive_reply: bool | None = None,
    reopened: bool | None = None,
) -> RecoveryExecution:
    action, _ = RecoveryAction.objects.get_or_create(
        key="apology", defaults={"name": "Apology", "kind": "apology"}
    )
    recommendation = Recommendation.objects.create(ticket=ticket, action=action)
    return RecoveryExecution.objects.create(
        recommendation=recommendation,
        idempotency_key=f"key-{recommendation.pk}",
        status=status,
        executed_at=days_ago(20) if status == ExecutionStatus.DONE else None,
        positive_reply=positive_reply,
        reopened=reopened,
    )


def test_signals_of_a_crafted_history(team_a: Team) -> None:
    # given a customer of two years with three orders who wrote three times this month
    customer = CustomerFactory(
        signup_date=dt.date(2024, 5, 1), order_count=3, lifetime_spend=Decimal("120.50")
    )
    old = ticket(customer, team_a, at=days_ago(40), intent="refund")
    analysis(old, sentiment="positive")
    unlabelled = ticket(customer, team_a, at=days_ago(10))
    message(unlabelled, at=days_ago(10) + dt.timedelta(hours=1), author=AuthorKind.AGENT)
    message(unlabelled, at=days_ago(9))
    analysis(unlabelled, sentiment="negative", intent="track_order")
    recent = ticket(customer, team_a, at=days_ago(5), intent="track_order")
    message(recent, at=NOW + dt.timedelta(days=1))  # after "now": not seen
    execution(old, positive_reply=True)
    execution(old, reopened=False)
    execution(unlabelled)
    execution(unlabelled, status=ExecutionStatus.FAILED, positive_reply=True)
    execution(recent, status=ExecutionStatus.PENDING)
    execution(TicketFactory(team=team_a), positive_reply=True)  # someone else's

    # when
    signals = customer_signals_compute(customer=customer, now=NOW)

    # then: two analysed messages, one negative; last wrote five days ago
    stored = CustomerSignals.objects.get(customer=customer)
    assert stored.lifetime_value == Decimal("120.50")
    assert stored.contacts_30d == 3
    assert stored.repeat_issue is True
    assert stored.recoveries_count == 3
    assert stored.recoveries_positive == 2
    assert stored.churn_risk == pytest.approx(0.10 + 0.40 * 5 / 180 + 0.30 * 0.5, abs=1e-9)
    assert stored.churn_model_version == HEURISTIC_VERSION
    assert stored.segment == BehaviourSegment.FREQUENT_CONTACT
    assert stored.computed_at == NOW
    assert signals.churn_risk == stored.churn_risk


def test_computing_again_updates_the_one_row(team_a: Team) -> None:
    customer = CustomerFactory(signup_date=dt.date(2020, 1, 1), order_count=8)
    first = ticket(customer, team_a, at=days_ago(3))
    customer_signals_compute(customer=customer, now=NOW)

    message(first, at=days_ago(2))
    message(first, at=days_ago(1))
    customer_signals_compute(customer=customer, now=NOW)

    stored = CustomerSignals.objects.get()
    assert stored.contacts_30d == 3
    assert stored.segment == BehaviourSegment.FREQUENT_CONTACT


@pytest.mark.parametrize(
    ("signup_days_ago", "orders", "contacts", "repeat", "risk", "expected"),
    [
        # new comes first: a recent sign-up, or at most one order, whatever else is true
        (30, 10, 5, True, 0.9, BehaviourSegment.NEW),
        (1000, 1, 5, True, 0.9, BehaviourSegment.NEW),
        (None, 0, 0, False, 0.0, BehaviourSegment.NEW),
        # then frequent contact, by messages or by a repeated issue, before a high churn risk
        (1000, 10, 3, False, 0.9, BehaviourSegment.FREQUENT_CONTACT),
        (1000, 10, 0, True, 0.9, BehaviourSegment.FREQUENT_CONTACT),
        # then at risk, before loyal
        (1000, 10, 2, False, 0.5, BehaviourSegment.AT_RISK),
        # loyal: five orders and a year, exactly at the thresholds
        (365, 5, 2, False, 0.49, BehaviourSegment.LOYAL),
        (364, 5, 2, False, 0.49, BehaviourSegment.REGULAR),
        (1000, 4, 2, False, 0.49, BehaviourSegment.REGULAR),
        # no sign-up date: tenure unknown, so never loyal
        (None, 50, 0, False, 0.1, BehaviourSegment.REGULAR),
        # just past new's 90 days
        (90, 2, 0, False, 0.1, BehaviourSegment.REGULAR),
    ],
)
def test_segment_precedence(
    signup_days_ago: int | None,
    orders: int,
    contacts: int,
    repeat: bool,
    risk: float,
    expected: str,
) -> None:
    signup = None if signup_days_ago is None else NOW.date() - dt.timedelta(days=signup_days_ago)
    customer = Customer(signup_date=signup, order_count=orders)

    segment = customer_segment(
        customer=customer, now=NOW, contacts_30d=contacts, repeat_issue=repeat, churn_risk=risk
    )

    assert segment == expected


def test_two_tickets_with_the_same_labelled_intent_are_a_repeat(team_a: Team) -> None:
    customer = CustomerFactory()
    ticket(customer, team_a, at=days_ago(20), intent="refund")
    ticket(customer, team_a, at=days_ago(2), intent="refund")

    assert customer_signals_compute(customer=customer, now=NOW).repeat_issue is True


def test_the_copilots_reading_stands_in_for_a_missing_label(team_a: Team) -> None:
    customer = CustomerFactory()
    ticket(customer, team_a, at=days_ago(20), intent="refund")
    unlabelled = ticket(customer, team_a, at=days_ago(2))
    analysis(unlabelled, sentiment="neutral", intent="refund")
    message(unlabelled, at=days_ago(1))
    # The newest reading is unsure: the last confident one (refund) still names the need.
    analysis(unlabelled, sentiment="neutral", intent="unsure")

    assert customer_signals_compute(customer=customer, now=NOW).repeat_issue is True


def test_two_tickets_about_different_needs_are_not_a_repeat(team_a: Team) -> None:
    customer = CustomerFactory()
    ticket(customer, team_a, at=days_ago(20), intent="refund")
    unsure = ticket(customer, team_a, at=days_ago(2))
    analysis(unsure, sentiment="neutral", intent="unsure")

    signals = customer_signals_compute(customer=customer, now=NOW)

    assert signals.repeat_issue is False
    assert signals.segment == BehaviourSegment.REGULAR


def test_same_need_outside_the_30_days_is_not_a_repeat(team_a: Team) -> None:
    customer = CustomerFactory()
    ticket(customer, team_a, at=days_ago(31), intent="refund")
    ticket(customer, team_a, at=days_ago(2), intent="refund")

    assert customer_signals_compute(customer=customer, now=NOW).repeat_issue is False


def test_three_tickets_in_30_days_are_a_repeat_whatever_the_need(team_a: Team) -> None:
    customer = CustomerFactory()
    for days, intent in [(25, "refund"), (12, "track_order"), (1, "")]:
        ticket(customer, team_a, at=days_ago(days), intent=intent)

    signals = customer_signals_compute(customer=customer, now=NOW)

    assert signals.repeat_issue is True
    assert signals.contacts_30d == 3


def test_refresh_all_computes_everyone_in_a_fixed_number_of_queries(team_a: Team) -> None:
    def customers_with_history(n: int) -> None:
        for _ in range(n):
            customer = CustomerFactory()
            for days in (40, 10, 2):
                t = ticket(customer, team_a, at=days_ago(days), intent="refund")
                analysis(t, sentiment="negative")
                execution(t, positive_reply=True)

    customers_with_history(2)
    with CaptureQueriesContext(connection) as few:
        assert customer_signals_refresh_all(now=NOW) == 2
    customers_with_history(6)
    seen: list[tuple[int, int]] = []
    with CaptureQueriesContext(connection) as many:
        assert customer_signals_refresh_all(now=NOW, progress=lambda *p: seen.append(p)) == 8

    assert len(many.captured_queries) == len(few.captured_queries)
    assert seen == [(8, 8)]
    assert CustomerSignals.objects.count() == 8
    assert set(CustomerSignals.objects.values_list("recoveries_count", "contacts_30d")) == {(3, 2)}


def test_erased_customers_signals_do_not_come_back_with_a_refresh(team_a: Team) -> None:
    erased = CustomerFactory()
    kept = CustomerFactory()
    for customer in (erased, kept):
        TicketFactory(team=team_a, customer=customer)
    customer_signals_refresh_all()
    customer_erase(customer=erased, by=None)

    customer_signals_refresh_all()
    refresh_customer(customer_id=erased.pk)

    assert list(CustomerSignals.objects.values_list("customer_id", flat=True)) == [kept.pk]
