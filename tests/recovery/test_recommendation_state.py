"""What the ticket page offers on a recommendation, asked of the model (the services' rules)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import Team
from copilot.models import AnalysisStatus, MessageAnalysis
from recovery.models import ActionKind, Recommendation, RecommendationStatus, RecoveryAction
from recovery.selectors import recommendation_list_for_ticket
from tests.factories import TicketFactory
from tickets.models import DONE_STATUSES, Status, Ticket

pytestmark = pytest.mark.django_db


@pytest.fixture
def apology() -> RecoveryAction:
    return RecoveryAction.objects.create(key="apology", name="Apology", kind=ActionKind.APOLOGY)


def _recommendation(ticket: Ticket, action: RecoveryAction, status: str) -> Recommendation:
    return Recommendation.objects.create(ticket=ticket, action=action, status=status)


@pytest.mark.parametrize(
    ("status", "ticket_status", "can_decide", "can_coapprove", "is_decided"),
    [
        (RecommendationStatus.PROPOSED, Status.OPEN, True, False, False),
        (RecommendationStatus.PROPOSED, Status.CLOSED, False, False, False),
        (RecommendationStatus.AWAITING_COAPPROVAL, Status.OPEN, False, True, True),
        (RecommendationStatus.AWAITING_COAPPROVAL, Status.CLOSED, False, True, True),
        (RecommendationStatus.APPROVED, Status.OPEN, False, False, True),
        (RecommendationStatus.REJECTED, Status.OPEN, False, False, True),
        (RecommendationStatus.EXECUTED, Status.SOLVED, False, False, True),
    ],
)
def test_what_may_be_done_on_a_recommendation_follows_its_status_and_its_ticket(
    team_a: Team,
    apology: RecoveryAction,
    status: str,
    ticket_status: str,
    can_decide: bool,
    can_coapprove: bool,
    is_decided: bool,
) -> None:
    solved_at = timezone.now() if ticket_status in DONE_STATUSES else None
    ticket = TicketFactory(
        team=team_a, status=ticket_status, solved_at=solved_at, resolution="Refunded."
    )
    recommendation = _recommendation(ticket, apology, status)

    assert (
        recommendation.can_decide,
        recommendation.can_coapprove,
        recommendation.is_decided,
    ) == (can_decide, can_coapprove, is_decided)


def test_the_ticket_page_asks_can_decide_without_a_query_per_recommendation(
    team_a: Team, apology: RecoveryAction
) -> None:
    ticket = TicketFactory(team=team_a, status=Status.OPEN)
    for status in (RecommendationStatus.PROPOSED, RecommendationStatus.REJECTED):
        _recommendation(ticket, apology, status)
    ticket = Ticket.objects.get(pk=ticket.pk)

    with CaptureQueriesContext(connection) as queries:
        listed = recommendation_list_for_ticket(ticket=ticket)
        answers = [r.can_decide for r in listed]

    assert answers == [True, False]
    assert len(queries) == 1


def test_a_ticket_is_closed_only_in_its_final_status() -> None:
    assert [Ticket(status=s).is_closed for s in Status.values] == [
        s == Status.CLOSED for s in Status.values
    ]


def test_an_analysis_says_whether_it_failed_or_had_nothing_to_read() -> None:
    failed = MessageAnalysis(status=AnalysisStatus.FAILED)
    unreadable = MessageAnalysis(status=AnalysisStatus.NOT_ANALYSABLE)
    done = MessageAnalysis(status=AnalysisStatus.DONE)

    assert (failed.is_failed, failed.is_not_analysable) == (True, False)
    assert (unreadable.is_failed, unreadable.is_not_analysable) == (False, True)
    assert (done.is_failed, done.is_not_analysable) == (False, False)
