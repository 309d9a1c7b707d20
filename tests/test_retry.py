"""Every task retries the one shared set of transient errors, with the back-off it was tuned to."""

import pytest
from django.db import InterfaceError, OperationalError

from copilot import tasks as copilot_tasks
from core.retry import TRANSIENT_ERRORS, retry_options
from privacy import tasks as privacy_tasks
from recovery import tasks as recovery_tasks
from recovery.hooks import HookTemporaryError

# (task, acks late, handed on when its worker dies, back-off, back-off cap, retries)
EXPECTED = [
    (copilot_tasks.analyse_message, True, True, 2, 60, 6),
    (copilot_tasks.analyse_pending, True, True, 2, 60, 6),
    (copilot_tasks.record_solved_case, True, True, 2, 600, 6),
    (copilot_tasks.sync_case_index, True, True, 2, 600, 6),
    (copilot_tasks.repair_case_index, True, True, 2, 600, 6),
    (recovery_tasks.execute_recovery, True, True, 5, 600, 8),
    (recovery_tasks.refresh_customer_signals, True, True, 30, 600, 3),
    (recovery_tasks.refresh_customer, True, True, 5, 600, 3),
    (recovery_tasks.propose_recommendations, True, True, 2, 60, 6),
    (privacy_tasks.enforce_retention, True, True, 30, 600, 3),
    (privacy_tasks.build_customer_export, True, True, 5, 600, 5),
]


def test_the_transient_errors_are_the_database_going_away() -> None:
    assert (OperationalError, InterfaceError) == TRANSIENT_ERRORS


@pytest.mark.parametrize(
    ("task", "acks_late", "handed_on", "backoff", "cap", "retries"),
    EXPECTED,
    ids=[row[0].name for row in EXPECTED],
)
def test_each_task_retries_transient_errors_as_tuned(
    task, acks_late: bool, handed_on: bool, backoff: int, cap: int, retries: int
) -> None:
    expected_errors = (
        (*TRANSIENT_ERRORS, HookTemporaryError)
        if task is recovery_tasks.execute_recovery
        else TRANSIENT_ERRORS
    )
    assert tuple(task.autoretry_for) == expected_errors
    assert (task.acks_late, task.reject_on_worker_lost) == (acks_late, handed_on)
    assert (task.retry_backoff, task.retry_backoff_max, task.max_retries) == (
        backoff,
        cap,
        retries,
    )


def test_an_unknown_retry_option_is_refused() -> None:
    with pytest.raises(TypeError, match="max_retry"):
        retry_options(max_retry=3)
