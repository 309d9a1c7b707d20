"""Carrying out an approved action: the shop is called outside any transaction, what it paid is
recorded whatever happened to the ticket meanwhile, and only the shop's named refusal is a
failure."""

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.utils import timezone

from accounts.models import User
from core.retry import TRANSIENT_ERRORS
from recovery.catalogue import action_catalogue_ensure
from recovery.hooks import HookPermanentError, HookTemporaryError
from recovery.models import (
    AuditEvent,
    AuditKind,
    ExecutionStatus,
    RecommendationStatus,
    RecoveryAction,
    RecoveryExecution,
)
from recovery.services import execution_run, recommendation_add
from tests.test_faults import TcpProxy, database_through_proxy  # noqa: F401 (a fixture)
from tickets.models import AuthorKind, Status, Ticket
from tickets.services import ticket_change_status

pytestmark = pytest.mark.django_db(transaction=True)

# What the hooks below saw, for the test to look at.
SEEN: list[dict[str, object]] = []


def paying_hook(**kwargs: object) -> dict[str, object]:
    """A shop that pays once per key, and notes what it could see while paying."""
    execution = RecoveryExecution.objects.get(idempotency_key=kwargs["idempotency_key"])
    SEEN.append(
        {
            "in_transaction": transaction.get_connection().in_atomic_block,
            "status": execution.status,
            "attempts": execution.attempts,
        }
    )
    return {"refund_id": f"R-{kwargs['idempotency_key']}"}


def flaky_hook(**kwargs: object) -> dict[str, object]:
    raise HookTemporaryError("shop API timed out")


def broken_hook(**kwargs: object) -> dict[str, object]:
    raise ConnectionResetError("connection reset by the shop")


def refusing_hook(**kwargs: object) -> dict[str, object]:
    raise HookPermanentError("order unknown to the shop")


@pytest.fixture(autouse=True)
def shop(settings: object) -> None:
    action_catalogue_ensure()
    SEEN.clear()
    settings.RECOVERY_EXECUTION_HOOK = "tests.recovery.test_execution.paying_hook"  # type: ignore[attr-defined]


def approved(ticket: Ticket, agent: User) -> RecoveryExecution:
    """A partial refund approved on the ticket, its task not run (as if still queued)."""
    refund = RecoveryAction.objects.get(key="refund-partial")
    recommendation = recommendation_add(
        ticket=ticket, user=agent, action=refund, amount="20", reason="late"
    )
    return RecoveryExecution.objects.get(recommendation=recommendation)


def test_shop_is_called_outside_any_transaction_with_the_run_marked_in_progress(
    ticket_a: Ticket, agent: User
) -> None:
    execution = approved(ticket_a, agent)

    execution_run(execution_id=execution.pk)

    assert SEEN == [{"in_transaction": False, "status": ExecutionStatus.RUNNING, "attempts": 1}]
    execution.refresh_from_db()
    assert (execution.status, execution.attempts) == (ExecutionStatus.DONE, 1)
    assert execution.result == {"refund_id": f"R-recovery-{execution.recommendation_id}"}


def test_refund_paid_on_a_ticket_closed_meanwhile_is_recorded_as_done(
    ticket_a: Ticket, agent: User
) -> None:
    execution = approved(ticket_a, agent)
    ticket_change_status(ticket=ticket_a, status=Status.CLOSED, by=agent)

    execution_run(execution_id=execution.pk)

    execution.refresh_from_db()
    assert (execution.status, execution.attempts, execution.error) == (ExecutionStatus.DONE, 1, "")
    assert execution.result == {"refund_id": f"R-recovery-{execution.recommendation_id}"}
    assert execution.recommendation.status == RecommendationStatus.EXECUTED
    note = ticket_a.messages.get(pk=execution.transcript_message_id)
    assert note.author_kind == AuthorKind.SYSTEM
    assert note.body == (
        "Recovery action carried out: Partial refund of 20.00 EUR (approved by alice)."
    )
    ticket_a.refresh_from_db()
    assert ticket_a.status == Status.CLOSED
    assert AuditEvent.objects.filter(kind=AuditKind.EXECUTED).count() == 1


def test_temporary_hook_error_leaves_it_pending_and_the_retry_pays_once(
    ticket_a: Ticket, agent: User, settings: object
) -> None:
    execution = approved(ticket_a, agent)
    settings.RECOVERY_EXECUTION_HOOK = "tests.recovery.test_execution.flaky_hook"  # type: ignore[attr-defined]

    with pytest.raises(HookTemporaryError):
        execution_run(execution_id=execution.pk)

    execution.refresh_from_db()
    assert (execution.status, execution.attempts) == (ExecutionStatus.PENDING, 1)
    assert execution.error == "HookTemporaryError: shop API timed out"
    assert not AuditEvent.objects.filter(kind=AuditKind.EXECUTED).exists()

    settings.RECOVERY_EXECUTION_HOOK = "tests.recovery.test_execution.paying_hook"  # type: ignore[attr-defined]
    execution_run(execution_id=execution.pk)
    execution_run(execution_id=execution.pk)  # a redelivered task: nothing more

    execution.refresh_from_db()
    assert (execution.status, execution.attempts, execution.error) == (ExecutionStatus.DONE, 2, "")
    assert len(SEEN) == 1
    assert AuditEvent.objects.filter(kind=AuditKind.EXECUTED).count() == 1
    assert ticket_a.messages.filter(author_kind=AuthorKind.SYSTEM).count() == 1


def test_unnamed_hook_error_is_retried_not_recorded_as_failed(
    ticket_a: Ticket, agent: User, settings: object
) -> None:
    # The connection broke: the shop may have paid. Failed would say it did not.
    execution = approved(ticket_a, agent)
    settings.RECOVERY_EXECUTION_HOOK = "tests.recovery.test_execution.broken_hook"  # type: ignore[attr-defined]

    with pytest.raises(HookTemporaryError):
        execution_run(execution_id=execution.pk)

    execution.refresh_from_db()
    assert (execution.status, execution.attempts) == (ExecutionStatus.PENDING, 1)
    assert execution.error == "ConnectionResetError: connection reset by the shop"


def test_named_refusal_marks_it_failed_and_keeps_the_approval(
    ticket_a: Ticket, agent: User, settings: object
) -> None:
    execution = approved(ticket_a, agent)
    settings.RECOVERY_EXECUTION_HOOK = "tests.recovery.test_execution.refusing_hook"  # type: ignore[attr-defined]

    execution_run(execution_id=execution.pk)

    execution.refresh_from_db()
    assert (execution.status, execution.attempts) == (ExecutionStatus.FAILED, 1)
    assert execution.error == "HookPermanentError: order unknown to the shop"
    assert execution.recommendation.status == RecommendationStatus.APPROVED
    assert not AuditEvent.objects.filter(kind=AuditKind.EXECUTED).exists()
    assert not ticket_a.messages.filter(author_kind=AuthorKind.SYSTEM).exists()


def test_run_in_progress_with_a_live_worker_is_left_alone(ticket_a: Ticket, agent: User) -> None:
    execution = approved(ticket_a, agent)
    started = timezone.now() - dt.timedelta(seconds=30)
    RecoveryExecution.objects.filter(pk=execution.pk).update(
        status=ExecutionStatus.RUNNING, started_at=started, attempts=1
    )

    execution_run(execution_id=execution.pk)  # a redelivered task while the first one runs

    assert SEEN == []
    execution.refresh_from_db()
    assert (execution.status, execution.attempts, execution.started_at) == (
        ExecutionStatus.RUNNING,
        1,
        started,
    )


def test_run_whose_worker_died_is_taken_over_with_the_same_key(
    ticket_a: Ticket, agent: User
) -> None:
    execution = approved(ticket_a, agent)
    RecoveryExecution.objects.filter(pk=execution.pk).update(
        status=ExecutionStatus.RUNNING,
        started_at=timezone.now() - dt.timedelta(hours=1),
        attempts=1,
    )

    execution_run(execution_id=execution.pk)

    execution.refresh_from_db()
    assert (execution.status, execution.attempts) == (ExecutionStatus.DONE, 2)
    assert execution.result == {"refund_id": f"R-recovery-{execution.recommendation_id}"}
    assert execution.amount == Decimal("20.00")


# The database proxy of the test below, for the hook to take the database away.
PROXY: list[TcpProxy] = []


def paying_then_database_gone_hook(**kwargs: object) -> dict[str, object]:
    """The shop pays (once per key); on the first call the database goes away just after."""
    SEEN.append({"key": kwargs["idempotency_key"]})
    if len(SEEN) == 1:
        PROXY[0].stop()
    return {"refund_id": f"R-{kwargs['idempotency_key']}"}


def test_database_lost_after_the_shop_paid_is_retried_never_marked_failed(
    database_through_proxy: TcpProxy,  # noqa: F811 (the fixture imported above)
    ticket_a: Ticket,
    agent: User,
    settings: object,
) -> None:
    execution = approved(ticket_a, agent)
    settings.RECOVERY_EXECUTION_HOOK = (  # type: ignore[attr-defined]
        "tests.recovery.test_execution.paying_then_database_gone_hook"
    )
    PROXY[:] = [database_through_proxy]

    with pytest.raises(TRANSIENT_ERRORS):  # the task retries these
        execution_run(execution_id=execution.pk)

    database_through_proxy.start()
    connection.close()
    execution.refresh_from_db()
    # Not failed, not done: in progress, until the run is stale and taken over.
    assert (execution.status, execution.attempts) == (ExecutionStatus.RUNNING, 1)
    RecoveryExecution.objects.filter(pk=execution.pk).update(
        started_at=timezone.now() - dt.timedelta(hours=1)
    )

    execution_run(execution_id=execution.pk)

    execution.refresh_from_db()
    assert (execution.status, execution.attempts, execution.error) == (ExecutionStatus.DONE, 2, "")
    assert [{"key": execution.idempotency_key}] * 2 == SEEN  # the same key both times
    assert AuditEvent.objects.filter(kind=AuditKind.EXECUTED).count() == 1
    assert ticket_a.messages.filter(author_kind=AuthorKind.SYSTEM).count() == 1
