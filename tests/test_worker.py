"""End to end with a real Celery worker and the real Redis broker."""

from collections.abc import Callable
from pathlib import Path

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.models import User
from config.celery import app as celery_app
from copilot.models import AnalysisStatus, MessageAnalysis
from copilot.tasks import analyse_message
from tests.worker import celery_worker, wait_for
from tickets.models import Ticket

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _empty_queue() -> None:
    with celery_app.connection_for_write() as conn:
        conn.default_channel.queue_purge(celery_app.conf.task_default_queue)


def _analysis(ticket_id: int, version: int) -> MessageAnalysis | None:
    return MessageAnalysis.objects.filter(ticket_id=ticket_id, transcript_version=version).first()


def test_message_posted_through_api_is_picked_up_by_a_real_worker(
    api: Callable[[User], APIClient], agent: User, ticket_a: Ticket, tmp_path: Path
) -> None:
    with celery_worker(tmp_path / "worker.log"):
        response = api(agent).post(
            reverse("api:message-create", args=[ticket_a.pk]),
            {"body": "Still nothing. Order 8841."},
            format="json",
        )
        assert response.status_code == 201

        wait_for(
            lambda: (a := _analysis(ticket_a.pk, 2)) is not None and a.picked_up_at is not None,
            what="the worker to pick up the analysis",
        )

    analysis = _analysis(ticket_a.pk, 2)
    assert analysis is not None
    assert (analysis.status, analysis.attempts) == (AnalysisStatus.PENDING, 1)
    assert "analyse_message" in (tmp_path / "worker.log").read_text()


def test_task_queued_while_no_worker_runs_is_done_when_one_starts(
    api: Callable[[User], APIClient], agent: User, ticket_a: Ticket, tmp_path: Path
) -> None:
    # Queued with no worker at all: the broker keeps it.
    api(agent).post(
        reverse("api:message-create", args=[ticket_a.pk]), {"body": "Hello?"}, format="json"
    )
    assert _analysis(ticket_a.pk, 2).picked_up_at is None  # type: ignore[union-attr]

    with celery_worker(tmp_path / "worker.log"):
        wait_for(
            lambda: _analysis(ticket_a.pk, 2).picked_up_at is not None,  # type: ignore[union-attr]
            what="the queued task to be consumed",
        )


def test_same_task_delivered_twice_leaves_one_analysis(
    api: Callable[[User], APIClient], agent: User, ticket_a: Ticket, tmp_path: Path
) -> None:
    api(agent).post(
        reverse("api:message-create", args=[ticket_a.pk]), {"body": "Hello?"}, format="json"
    )
    # A redelivery after a worker crash looks exactly like this: the same ids once more.
    analyse_message.delay(ticket_id=ticket_a.pk, transcript_version=2)

    with celery_worker(tmp_path / "worker.log"):
        wait_for(lambda: _analysis(ticket_a.pk, 2).attempts == 2, what="both deliveries")  # type: ignore[union-attr]

    assert MessageAnalysis.objects.filter(ticket=ticket_a).count() == 1
