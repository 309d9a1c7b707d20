"""Beat's re-send of analyses whose task was lost: backing off, bounded, never twice at once.

The tasks go to the real broker (this run's Redis queue), which is counted, not mocked.
"""

import threading
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from accounts.models import Team
from config.celery import app as celery_app
from copilot.models import AnalysisStatus, MessageAnalysis
from copilot.services.analysis import REQUEUE_LIMIT, analyses_requeue_stale
from tests.factories import MessageAnalysisFactory, TicketFactory

pytestmark = pytest.mark.usefixtures("empty_queue")


def _queued() -> int:
    """Tasks waiting in this run's queue on the real broker (a Redis list of that name)."""
    with celery_app.connection_for_write() as conn:
        return int(conn.default_channel.client.llen(settings.CELERY_TASK_DEFAULT_QUEUE))


def _stale_analysis(team: Team, *, minutes: int = 3) -> MessageAnalysis:
    """A pending analysis asked for `minutes` ago that no worker has picked up."""
    return MessageAnalysisFactory(
        ticket=TicketFactory(team=team),
        status=AnalysisStatus.PENDING,
        requested_at=timezone.now() - timedelta(minutes=minutes),
    )


def _last_resend_ago(analysis: MessageAnalysis, minutes: int) -> None:
    """Move the last re-send into the past, as if the sweep had run `minutes` ago."""
    MessageAnalysis.objects.filter(pk=analysis.pk).update(
        requeued_at=timezone.now() - timedelta(minutes=minutes)
    )


@pytest.mark.django_db
def test_stale_analysis_requeue_backs_off(
    team_a: Team, django_capture_on_commit_callbacks: Callable
) -> None:
    analysis = _stale_analysis(team_a)

    def sweep() -> int:
        with django_capture_on_commit_callbacks(execute=True):
            return analyses_requeue_stale()

    # Lost for 3 minutes: sent once.
    assert (sweep(), _queued()) == (1, 1)
    # Beat's next minute, and the one after: the re-sent task is still in the queue, not lost.
    assert (sweep(), sweep(), _queued()) == (0, 0, 1)

    # Each further re-send waits twice as long for the one before: 4, 8, 16 minutes.
    for requeues, backoff in [(1, 4), (2, 8), (3, 16)]:
        _last_resend_ago(analysis, backoff - 1)
        assert (sweep(), _queued()) == (0, requeues)
        _last_resend_ago(analysis, backoff + 1)
        assert (sweep(), _queued()) == (1, requeues + 1)
    analysis.refresh_from_db()
    assert (analysis.status, analysis.requeues) == (AnalysisStatus.PENDING, REQUEUE_LIMIT)

    # The last re-send unanswered for 32 minutes: the analysis fails, saying why; no more sends.
    _last_resend_ago(analysis, 31)
    assert (sweep(), _queued()) == (0, REQUEUE_LIMIT)
    _last_resend_ago(analysis, 33)
    assert (sweep(), _queued()) == (0, REQUEUE_LIMIT)
    analysis.refresh_from_db()
    assert analysis.status == AnalysisStatus.FAILED
    assert analysis.error.startswith("No worker picked this analysis up after 4 re-sends")
    assert analysis.finished_at is not None
    assert (sweep(), _queued()) == (0, REQUEUE_LIMIT)


@pytest.mark.django_db
def test_requeue_leaves_analyses_that_are_not_stale(
    team_a: Team, django_capture_on_commit_callbacks: Callable
) -> None:
    just_asked = _stale_analysis(team_a, minutes=1)
    picked_up = _stale_analysis(team_a, minutes=10)
    MessageAnalysis.objects.filter(pk=picked_up.pk).update(picked_up_at=timezone.now())
    MessageAnalysisFactory(
        ticket=TicketFactory(team=team_a),
        status=AnalysisStatus.DONE,
        requested_at=timezone.now() - timedelta(hours=1),
    )

    with django_capture_on_commit_callbacks(execute=True):
        assert analyses_requeue_stale() == 0

    assert _queued() == 0
    assert set(MessageAnalysis.objects.values_list("requeues", flat=True)) == {0}
    assert {just_asked.pk, picked_up.pk} == set(
        MessageAnalysis.objects.filter(status=AnalysisStatus.PENDING).values_list("pk", flat=True)
    )


@pytest.mark.django_db(transaction=True)
def test_requeue_sweeps_at_once_never_queue_an_analysis_twice(team_a: Team) -> None:
    # Two sweeps at the same moment (a beat restarted, a task run by hand beside beat's).
    stale = [_stale_analysis(team_a) for _ in range(5)]
    start = threading.Barrier(2)
    sent: list[int] = []

    def sweep() -> None:
        try:
            start.wait()
            sent.append(analyses_requeue_stale())
        finally:
            connection.close()

    threads = [threading.Thread(target=sweep) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sum(sent) == len(stale)
    assert _queued() == len(stale)
    assert set(MessageAnalysis.objects.values_list("requeues", flat=True)) == {1}
