"""Recovery proposals follow a finished analysis in their own task, queued when the analysis
commits: never inside its transaction, once however often the task runs, and the panel keeps
polling until they are there. Each run is recorded, also one that proposed nothing, and beat
sends again the task of a done analysis whose run is not. The agent's decision on a draft is
audited in its transaction."""

import datetime as dt
import importlib
from collections.abc import Callable
from typing import Any

import pytest
from django.apps import apps as django_apps
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
from recovery.models import (
    PROPOSAL_REQUEUE_SECONDS,
    PROPOSAL_REQUEUE_WINDOW_HOURS,
    AuditEvent,
    AuditKind,
    ProposalRun,
    Recommendation,
    RecoveryAction,
)
from recovery.selectors import PROPOSALS_WAIT_SECONDS, recovery_panel_for_ticket
from recovery.services import (
    proposal_requeue_backoff,
    proposal_runs_requeue_missing,
    recommendations_propose,
)
from recovery.tasks import propose_recommendations, requeue_missing_proposals
from tests.factories import MessageAnalysisFactory, TicketFactory
from tickets.models import Ticket

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager_tasks")]

RECOVERY_POLL = 'hx-get="/tickets/{pk}/recovery/"'
record_past_runs = importlib.import_module("recovery.migrations.0005_proposal_run").record_past_runs


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


# --- a proposal run is recorded, and beat sends again the ones that were lost -------------------


def finished_ago(analysis: MessageAnalysis, seconds: float) -> None:
    MessageAnalysis.objects.filter(pk=analysis.pk).update(
        finished_at=timezone.now() - dt.timedelta(seconds=seconds)
    )


def lose_the_task(monkeypatch: pytest.MonkeyPatch) -> None:
    def broker_down(**kwargs: object) -> None:
        raise ConnectionError("broker unreachable")

    monkeypatch.setattr(propose_recommendations, "delay", broker_down)


def count_sends(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The proposal tasks queued from now on, by analysis (not run)."""
    sent: list[int] = []
    monkeypatch.setattr(
        propose_recommendations, "delay", lambda *, analysis_id: sent.append(analysis_id)
    )
    return sent


def sweep(capture: Callable[..., Any]) -> int:
    with capture(execute=True):
        return proposal_runs_requeue_missing()


def test_beat_sends_again_the_proposals_of_an_analysis_whose_task_was_lost(
    ticket_a: Ticket, monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks
) -> None:
    lose_the_task(monkeypatch)
    analysis = pending(ticket_a)
    with django_capture_on_commit_callbacks(execute=True):
        finish(analysis)
    assert not Recommendation.objects.exists()
    assert not ProposalRun.objects.exists()
    monkeypatch.undo()  # the broker is back
    finished_ago(analysis, PROPOSAL_REQUEUE_SECONDS + 1)

    with django_capture_on_commit_callbacks(execute=True):
        requeue_missing_proposals()

    proposals = Recommendation.objects.filter(analysis=analysis)
    run = ProposalRun.objects.get(analysis=analysis)
    assert proposals.count() >= 1
    assert run.ran_at is not None
    assert (run.proposed, run.requeues) == (proposals.count(), 1)


def test_a_run_that_proposed_nothing_is_recorded_and_not_sent_again(
    ticket_a: Ticket, monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks
) -> None:
    RecoveryAction.objects.update(active=False)
    analysis = pending(ticket_a)
    with django_capture_on_commit_callbacks(execute=True):
        finish(analysis)
    finished_ago(analysis, PROPOSAL_REQUEUE_SECONDS + 1)
    sent = count_sends(monkeypatch)

    assert sweep(django_capture_on_commit_callbacks) == 0

    assert sent == []
    assert not Recommendation.objects.exists()
    run = ProposalRun.objects.get(analysis=analysis)
    assert run.ran_at is not None
    assert (run.proposed, run.requeues) == (0, 0)


def test_panel_stops_polling_once_a_run_proposed_nothing(
    ticket_a: Ticket, agent: User, login: Callable[[User], Client]
) -> None:
    RecoveryAction.objects.update(active=False)
    analysis = MessageAnalysisFactory(
        ticket=ticket_a, finished_at=timezone.now(), sentiment="negative", intent="get_refund"
    )
    panel = reverse("desk:recovery-panel", args=[ticket_a.pk])
    client = login(agent)
    assert RECOVERY_POLL.format(pk=ticket_a.pk) in client.get(panel).content.decode()

    propose_recommendations(analysis_id=analysis.pk)

    assert not Recommendation.objects.exists()
    assert not recovery_panel_for_ticket(ticket=ticket_a).proposing
    assert RECOVERY_POLL.format(pk=ticket_a.pk) not in client.get(panel).content.decode()


def test_a_second_sweep_sends_nothing_once_the_runs_are_recorded(
    ticket_a: Ticket, monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks
) -> None:
    lose_the_task(monkeypatch)
    analyses = [pending(ticket_a), pending(TicketFactory(team=ticket_a.team))]
    for analysis in analyses:
        with django_capture_on_commit_callbacks(execute=True):
            finish(analysis)
        finished_ago(analysis, PROPOSAL_REQUEUE_SECONDS + 1)
    monkeypatch.undo()

    assert sweep(django_capture_on_commit_callbacks) == 2
    runs = ProposalRun.objects.order_by("pk")
    assert [run.ran_at is not None for run in runs] == [True, True]
    sent = count_sends(monkeypatch)
    # Long after: still nothing to send (the back-off is not what stops it).
    for analysis in analyses:
        finished_ago(analysis, 60 * 60)
    ProposalRun.objects.update(requeued_at=timezone.now() - dt.timedelta(hours=1))

    assert sweep(django_capture_on_commit_callbacks) == 0

    assert sent == []
    assert Recommendation.objects.filter(analysis__in=analyses).count() == sum(
        run.proposed for run in runs
    )


def test_a_re_sent_task_that_is_lost_again_is_sent_again_after_a_longer_wait(
    ticket_a: Ticket, monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks
) -> None:
    lose_the_task(monkeypatch)
    analysis = pending(ticket_a)
    with django_capture_on_commit_callbacks(execute=True):
        finish(analysis)
    finished_ago(analysis, PROPOSAL_REQUEUE_SECONDS + 1)
    sent = count_sends(monkeypatch)  # queued, and never run: no worker

    assert sweep(django_capture_on_commit_callbacks) == 1
    assert sweep(django_capture_on_commit_callbacks) == 0  # within its back-off
    wait = proposal_requeue_backoff(requeues=1)
    assert wait > proposal_requeue_backoff(requeues=0)
    ProposalRun.objects.update(requeued_at=timezone.now() - wait - dt.timedelta(seconds=1))
    assert sweep(django_capture_on_commit_callbacks) == 1

    assert sent == [analysis.pk, analysis.pk]
    run = ProposalRun.objects.get(analysis=analysis)
    assert (run.ran_at, run.requeues) == (None, 2)
    # The panel waits long enough to see a first re-send run.
    assert PROPOSALS_WAIT_SECONDS > 2 * PROPOSAL_REQUEUE_SECONDS
    assert recovery_panel_for_ticket(ticket=ticket_a).proposing
    assert not Recommendation.objects.exists()


def test_beat_leaves_fresh_old_and_unfinished_analyses_alone(
    ticket_a: Ticket, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = timezone.now()
    fresh = MessageAnalysisFactory(ticket=ticket_a, finished_at=now)  # its task may be queued
    old = MessageAnalysisFactory(
        ticket=TicketFactory(team=ticket_a.team),
        requested_at=now - dt.timedelta(hours=PROPOSAL_REQUEUE_WINDOW_HOURS, minutes=1),
        finished_at=now - dt.timedelta(hours=PROPOSAL_REQUEUE_WINDOW_HOURS),
    )
    failed = MessageAnalysisFactory(
        ticket=TicketFactory(team=ticket_a.team),
        status=AnalysisStatus.FAILED,
        finished_at=now - dt.timedelta(hours=1),
    )
    sent = count_sends(monkeypatch)

    assert proposal_runs_requeue_missing() == 0

    assert sent == []
    assert not ProposalRun.objects.filter(analysis__in=[fresh, old, failed]).exists()


def test_a_run_for_an_erased_customer_is_recorded_and_not_sent_again(
    ticket_a: Ticket, admin_user: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    analysis = MessageAnalysisFactory(
        ticket=ticket_a,
        finished_at=timezone.now() - dt.timedelta(seconds=PROPOSAL_REQUEUE_SECONDS + 1),
        sentiment="negative",
        intent="get_refund",
    )
    customer_erase(customer=ticket_a.customer, by=admin_user)
    propose_recommendations(analysis_id=analysis.pk)
    sent = count_sends(monkeypatch)

    assert proposal_runs_requeue_missing() == 0

    assert sent == []
    assert not Recommendation.objects.exists()
    assert ProposalRun.objects.get(analysis=analysis).proposed == 0


def test_proposals_made_before_runs_were_recorded_count_as_a_run(ticket_a: Ticket) -> None:
    analysis = MessageAnalysisFactory(
        ticket=ticket_a, finished_at=timezone.now(), sentiment="negative", intent="get_refund"
    )
    proposals = recommendations_propose(analysis=analysis)
    ProposalRun.objects.all().delete()  # as they were before the migration
    nothing_proposed = MessageAnalysisFactory(
        ticket=TicketFactory(team=ticket_a.team), finished_at=timezone.now()
    )

    record_past_runs(django_apps, None)

    run = ProposalRun.objects.get()
    assert run.analysis_id == analysis.pk
    assert run.proposed == len(proposals)
    assert run.ran_at == min(p.created_at for p in proposals)
    assert not recovery_panel_for_ticket(ticket=ticket_a).proposing
    assert not ProposalRun.objects.filter(analysis=nothing_proposed).exists()
