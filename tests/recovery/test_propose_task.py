"""Recovery proposals follow a finished analysis in their own task, queued when the analysis
commits: never inside its transaction, once however often the task runs, and the panel keeps
polling until they are there. The agent's decision on a draft is audited in its transaction."""

import datetime as dt
from collections.abc import Callable

import pytest
from django.db import transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from copilot.models import AnalysisStatus, DraftDecisionEvent, MessageAnalysis, TicketInsight
from copilot.services.analysis import _analysis_finish
from copilot.services.drafts import draft_discard
from privacy.erasure import customer_erase
from recovery import receivers, tasks
from recovery.catalogue import action_catalogue_ensure
from recovery.models import AuditEvent, AuditKind, Recommendation
from recovery.selectors import PROPOSALS_WAIT_SECONDS, recovery_panel_for_ticket
from recovery.tasks import propose_recommendations
from tests.factories import MessageAnalysisFactory
from tickets.models import Ticket

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager_tasks")]

RECOVERY_POLL = 'hx-get="/tickets/{pk}/recovery/"'


@pytest.fixture(autouse=True)
def catalogue(db: None) -> None:
    action_catalogue_ensure()


def pending(ticket: Ticket) -> MessageAnalysis:
    return MessageAnalysisFactory(ticket=ticket, status=AnalysisStatus.PENDING)


def finish(analysis: MessageAnalysis) -> MessageAnalysis:
    """Store the analysis as done, the way analysis_run and the bulk run both do."""
    return _analysis_finish(
        analysis,
        status=AnalysisStatus.DONE,
        sentiment="negative",
        sentiment_score=-0.8,
        intent="get_refund",
    )


def test_proposals_are_made_by_their_task_after_the_analysis_commits(
    ticket_a: Ticket, django_capture_on_commit_callbacks
) -> None:
    analysis = pending(ticket_a)

    with django_capture_on_commit_callbacks(execute=True):
        finish(analysis)
        # Inside the analysis's transaction nothing is proposed yet.
        assert not Recommendation.objects.exists()
        assert not AuditEvent.objects.exists()

    proposals = Recommendation.objects.filter(analysis=analysis)
    assert proposals.count() >= 1
    assert AuditEvent.objects.filter(kind=AuditKind.RECOMMENDATION_SHOWN).count() == (
        proposals.count()
    )


def test_propose_task_run_twice_leaves_one_set_of_proposals(ticket_a: Ticket) -> None:
    analysis = MessageAnalysisFactory(
        ticket=ticket_a, sentiment="negative", sentiment_score=-0.8, intent="get_refund"
    )

    propose_recommendations(analysis_id=analysis.pk)
    first = list(Recommendation.objects.order_by("pk").values_list("pk", "action__key", "rank"))
    shown = AuditEvent.objects.filter(kind=AuditKind.RECOMMENDATION_SHOWN).count()
    propose_recommendations(analysis_id=analysis.pk)

    assert first
    assert list(Recommendation.objects.order_by("pk").values_list("pk", "action__key", "rank")) == (
        first
    )
    assert AuditEvent.objects.filter(kind=AuditKind.RECOMMENDATION_SHOWN).count() == shown


def test_propose_task_of_a_deleted_analysis_does_nothing(ticket_a: Ticket) -> None:
    propose_recommendations(analysis_id=987654)

    assert not Recommendation.objects.exists()


def test_failing_propose_task_leaves_the_analysis_done(
    ticket_a: Ticket, monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks
) -> None:
    def broken(**kwargs: object) -> None:
        raise RuntimeError("ranking broke")

    monkeypatch.setattr(tasks.services, "recommendations_propose", broken)
    analysis = pending(ticket_a)

    with django_capture_on_commit_callbacks(execute=True):
        finish(analysis)

    analysis.refresh_from_db()
    assert analysis.status == AnalysisStatus.DONE
    assert TicketInsight.objects.get(ticket=ticket_a).analysis_id == analysis.pk
    assert not Recommendation.objects.exists()


def test_publish_that_cannot_queue_leaves_the_analysis_done(
    ticket_a: Ticket, monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks
) -> None:
    def broker_down(**kwargs: object) -> None:
        raise ConnectionError("broker unreachable")

    monkeypatch.setattr(propose_recommendations, "delay", broker_down)
    analysis = pending(ticket_a)

    with django_capture_on_commit_callbacks(execute=True):
        finish(analysis)

    analysis.refresh_from_db()
    assert analysis.status == AnalysisStatus.DONE
    assert not Recommendation.objects.exists()


def test_no_proposals_for_a_customer_erased_before_the_task_ran(
    ticket_a: Ticket, admin_user: User
) -> None:
    analysis = MessageAnalysisFactory(
        ticket=ticket_a, sentiment="negative", sentiment_score=-0.8, intent="get_refund"
    )
    customer_erase(customer=ticket_a.customer, by=admin_user)

    propose_recommendations(analysis_id=analysis.pk)

    assert not Recommendation.objects.exists()


def test_recovery_section_polls_until_the_proposals_of_a_fresh_analysis_are_there(
    ticket_a: Ticket, agent: User, login: Callable[[User], Client]
) -> None:
    analysis = MessageAnalysisFactory(
        ticket=ticket_a,
        finished_at=timezone.now(),
        sentiment="negative",
        sentiment_score=-0.8,
        intent="get_refund",
    )
    client = login(agent)
    poll = RECOVERY_POLL.format(pk=ticket_a.pk)
    panel = reverse("desk:recovery-panel", args=[ticket_a.pk])

    assert recovery_panel_for_ticket(ticket=ticket_a).proposing
    assert poll in client.get(reverse("desk:ticket", args=[ticket_a.pk])).content.decode()
    assert poll in client.get(panel).content.decode()

    propose_recommendations(analysis_id=analysis.pk)

    answer = client.get(panel).content.decode()
    assert Recommendation.objects.get(analysis=analysis, rank=1).action.name in answer
    assert poll not in answer


def test_recovery_section_stops_waiting_for_proposals_that_never_come(
    ticket_a: Ticket, agent: User, login: Callable[[User], Client]
) -> None:
    MessageAnalysisFactory(
        ticket=ticket_a,
        finished_at=timezone.now() - dt.timedelta(seconds=PROPOSALS_WAIT_SECONDS + 1),
    )

    answer = login(agent).get(reverse("desk:recovery-panel", args=[ticket_a.pk])).content.decode()

    assert not recovery_panel_for_ticket(ticket=ticket_a).proposing
    assert RECOVERY_POLL.format(pk=ticket_a.pk) not in answer


def test_draft_decision_is_audited_in_its_own_transaction(ticket_a: Ticket, agent: User) -> None:
    analysis = MessageAnalysisFactory(ticket=ticket_a, draft_reply="We re-sent it.")

    with transaction.atomic():
        event = draft_discard(analysis=analysis, agent=agent)
        # Written with the decision, before anything commits.
        assert AuditEvent.objects.get(kind=AuditKind.DRAFT_DECIDED).final["decision"] == (
            event.decision
        )


def test_draft_decision_is_not_recorded_when_its_audit_cannot_be_written(
    ticket_a: Ticket, agent: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(**kwargs: object) -> None:
        raise RuntimeError("audit trail unavailable")

    monkeypatch.setattr(receivers, "audit_draft_decided", broken)
    analysis = MessageAnalysisFactory(ticket=ticket_a, draft_reply="We re-sent it.")

    with pytest.raises(RuntimeError):
        draft_discard(analysis=analysis, agent=agent)

    assert not DraftDecisionEvent.objects.exists()
    assert not AuditEvent.objects.exists()
