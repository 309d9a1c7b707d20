"""The feedback loop: what followed a recovery is recorded and reaches the ranking; `retrain`
retrains and reports before and after."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from accounts.models import Team, User
from copilot.models import AnalysisStatus, MessageAnalysis
from copilot.services.intake import customer_message_receive
from recovery.catalogue import action_catalogue_ensure
from recovery.models import ExecutionStatus, Recommendation, RecoveryAction, RecoveryExecution
from recovery.selectors import similar_case_outcomes
from recovery.services import recovery_outcomes_update
from tests.factories import TicketFactory
from tickets.models import Status, Ticket
from tickets.services import ticket_change_status

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("copilot_dirs")]


def executed(ticket: Ticket, key: str) -> RecoveryExecution:
    action_catalogue_ensure()
    recommendation = Recommendation.objects.create(
        ticket=ticket, action=RecoveryAction.objects.get(key=key), status="executed"
    )
    return RecoveryExecution.objects.create(
        recommendation=recommendation,
        idempotency_key=f"k-{recommendation.pk}",
        status=ExecutionStatus.DONE,
        executed_at=timezone.now(),
    )


def test_outcomes_follow_what_the_customer_did_next(ticket_a: Ticket, agent: User) -> None:
    execution = executed(ticket_a, "replacement")
    ticket_change_status(ticket=ticket_a, status=Status.SOLVED, by=agent, resolution="Re-sent")
    # The customer writes again (reopening the ticket), and is unhappy.
    message = customer_message_receive(ticket=ticket_a, body="Still broken!")
    MessageAnalysis.objects.filter(message=message).update(
        status=AnalysisStatus.DONE, sentiment="negative"
    )

    assert recovery_outcomes_update() == 1

    execution.refresh_from_db()
    assert (execution.reopened, execution.positive_reply) == (True, False)
    assert execution.outcome_checked_at is not None
    outcome = similar_case_outcomes(ticket_ids=[ticket_a.pk])["replacement"]
    assert (outcome.tried, outcome.worked) == (1, 0)


def test_a_recovery_with_no_news_is_left_open_until_it_settles(ticket_a: Ticket) -> None:
    execution = executed(ticket_a, "apology")

    assert recovery_outcomes_update() == 1  # provisional: not reopened so far
    execution.refresh_from_db()
    assert (execution.reopened, execution.outcome_checked_at) == (False, None)
    assert recovery_outcomes_update() == 0  # nothing new
    assert recovery_outcomes_update(now=timezone.now() + timezone.timedelta(days=15)) == 1

    execution.refresh_from_db()
    assert (execution.reopened, execution.positive_reply) == (False, None)
    assert similar_case_outcomes(ticket_ids=[ticket_a.pk])["apology"].worked == 1


def test_retrain_reports_before_and_after(team_a: Team) -> None:
    for label, texts in {
        "lost_parcel": ["my parcel never arrived", "package lost", "the delivery never came"],
        "password_reset": ["I forgot my password", "reset my password", "cannot log in"],
    }.items():
        for text in texts * 3:
            TicketFactory(
                team=team_a,
                first_message=text,
                intent=label,
                status=Status.SOLVED,
                solved_at=timezone.now(),
                resolution="Done.",
            )
    out = StringIO()

    call_command("retrain", stdout=out)

    report = out.getvalue()
    assert "Intent: held-out accuracy before" in report and "after 100.0%" in report
    assert "Churn: not retrained" in report  # 18 customers: too little history, said plainly
    assert "Similar-case index: 0 cases before, 18 after" in report
    assert "Customer signals refreshed: 18" in report
