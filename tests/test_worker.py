"""End to end with a real Celery worker, the real Redis broker and the real models.

The worker is a separate process: it loads the models itself and finds the index through the
same COPILOT_INDEX_DIR (tests/worker.py passes this run's settings on).
"""

import os
import re
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from django.db import transaction
from django.db.models import F
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.models import User
from copilot.engine import index_store
from copilot.models import AnalysisStatus, MessageAnalysis, SolvedCase
from copilot.services.cases import case_index_rebuild
from copilot.services.intake import ticket_status_change
from copilot.tasks import analyse_message
from tests.factories import TicketFactory
from tests.worker import busy_cpus, celery_worker, child_pids, wait_for
from tickets.models import Status, Ticket

pytestmark = [
    pytest.mark.worker,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("copilot_dirs", "empty_queue"),
]


def _analysis(ticket_id: int, version: int) -> MessageAnalysis | None:
    return MessageAnalysis.objects.filter(ticket_id=ticket_id, transcript_version=version).first()


def _done(ticket_id: int, version: int) -> bool:
    analysis = _analysis(ticket_id, version)
    return analysis is not None and analysis.status != AnalysisStatus.PENDING


def test_message_posted_through_api_is_analysed_and_readable_through_api(
    api: Callable[[User], APIClient], agent: User, ticket_a: Ticket, tmp_path: Path
) -> None:
    solved = TicketFactory(
        team=ticket_a.team,
        status=Status.SOLVED,
        solved_at=ticket_a.created_at,
        first_message="My parcel never arrived and tracking shows nothing.",
        resolution="We have sent a replacement parcel by express delivery.",
    )
    case_index_rebuild(progress=None)
    client = api(agent)

    with celery_worker(tmp_path / "worker.log"):
        response = client.post(
            reverse("api:message-create", args=[ticket_a.pk]),
            {"body": "Still no parcel, this is awful. Order 8841."},
            format="json",
        )
        assert response.status_code == 201
        wait_for(lambda: _done(ticket_a.pk, 2), what="the worker to analyse the message")

    result = client.get(reverse("api:ticket-analysis", args=[ticket_a.pk]))
    assert result.status_code == 200
    data = result.json()
    assert (data["status"], data["transcript_version"]) == ("done", 2)
    assert data["sentiment"] == "negative"
    assert data["similar_cases"][0]["ticket_id"] == solved.pk
    assert data["similar_cases"][0]["resolution"].startswith("We have sent a replacement")
    assert "express delivery" in data["draft_reply"] and "8841" in data["draft_reply"]
    assert data["model_versions"]["index_generation"] == index_store().current_generation()


def test_task_queued_while_no_worker_runs_is_done_when_one_starts(
    api: Callable[[User], APIClient], agent: User, ticket_a: Ticket, tmp_path: Path
) -> None:
    # Queued with no worker at all: the broker keeps it.
    api(agent).post(
        reverse("api:message-create", args=[ticket_a.pk]), {"body": "Hello?"}, format="json"
    )
    assert _analysis(ticket_a.pk, 2).picked_up_at is None  # type: ignore[union-attr]

    log = tmp_path / "worker.log"
    with celery_worker(log):
        wait_for(lambda: _done(ticket_a.pk, 2), what="the queued task to be consumed")

    # No index was ever built here: the worker said so at start-up, with the cure.
    assert "ERROR/MainProcess] Similar-case index: No similar-case index published" in (
        log.read_text()
    )
    assert "python manage.py rebuild_case_index" in log.read_text()


def test_same_task_delivered_twice_leaves_one_analysis(
    api: Callable[[User], APIClient], agent: User, ticket_a: Ticket, tmp_path: Path
) -> None:
    api(agent).post(
        reverse("api:message-create", args=[ticket_a.pk]), {"body": "Hello?"}, format="json"
    )
    # A redelivery after a worker crash looks exactly like this: the same ids once more.
    analyse_message.delay(ticket_id=ticket_a.pk, transcript_version=2)
    log = tmp_path / "worker.log"

    with celery_worker(log):
        wait_for(
            lambda: log.read_text().count("analyse_message[") >= 4,  # received + succeeded, x2
            what="both deliveries to run",
        )

    assert MessageAnalysis.objects.filter(ticket=ticket_a).count() == 1
    analysis = _analysis(ticket_a.pk, 2)
    assert analysis is not None
    assert (analysis.status, analysis.attempts) == (AnalysisStatus.DONE, 1)


def test_solving_a_ticket_publishes_it_to_the_index(
    agent: User, ticket_a: Ticket, tmp_path: Path
) -> None:
    with celery_worker(tmp_path / "worker.log"):
        ticket_status_change(
            ticket=ticket_a, status=Status.SOLVED, by=agent, resolution="Re-sent by courier."
        )
        wait_for(
            lambda: SolvedCase.objects.filter(ticket=ticket_a, indexed=True).exists(),
            what="the solved ticket to be embedded and indexed",
        )

    assert index_store().load().index.ids() == {ticket_a.pk}


def test_worker_killed_mid_task_leaves_the_analysis_to_another_worker(
    api: Callable[[User], APIClient], agent: User, ticket_a: Ticket, tmp_path: Path
) -> None:
    api(agent).post(
        reverse("api:message-create", args=[ticket_a.pk]),
        {"body": "My parcel is lost, order 7781."},
        format="json",
    )
    log = tmp_path / "worker.log"
    # Redis hands an unacknowledged task to another consumer after this many seconds.
    quick_redelivery = {"CELERY_VISIBILITY_TIMEOUT": "5"}

    # Hold the analysis row locked (a write, so SQLite's database lock too): the worker that
    # takes the task blocks inside it, and is killed there.
    with transaction.atomic():
        MessageAnalysis.objects.filter(ticket=ticket_a, transcript_version=2).update(
            attempts=F("attempts")
        )
        with celery_worker(log, extra_env=quick_redelivery) as first:
            wait_for(
                lambda: "analyse_message" in log.read_text() and " received" in (log.read_text()),
                what="the task to be received",
            )
            time.sleep(1)  # inside analysis_pick_up, waiting for the lock
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=10)
    assert _analysis(ticket_a.pk, 2).status == AnalysisStatus.PENDING  # type: ignore[union-attr]

    with celery_worker(log, extra_env=quick_redelivery):
        wait_for(lambda: _done(ticket_a.pk, 2), what="a second worker to redo the analysis")

    assert MessageAnalysis.objects.filter(ticket=ticket_a).count() == 1
    analysis = _analysis(ticket_a.pk, 2)
    assert analysis is not None and analysis.status == AnalysisStatus.DONE
    # Done once, not twice (the second worker's run; the first was killed before finishing).
    assert len(re.findall(r"analyse_message\[[^]]+\] succeeded in", log.read_text())) == 1


def test_worker_kill_of_a_pool_process_on_a_busy_machine_does_not_stop_analyses(
    api: Callable[[User], APIClient], agent: User, ticket_a: Ticket, tmp_path: Path
) -> None:
    # A prefork worker, as `./dev prod` runs the fast queue. Its pool kills a new process that
    # has not reported up within 4 s; loading the models takes longer than that on a busy
    # machine, so every replacement of a killed process used to be killed in turn.
    case_index_rebuild(progress=None)  # nothing to repair: the pool only has the message
    log = tmp_path / "worker.log"
    one_math_thread = {"OMP_NUM_THREADS": "1"}  # as `./dev prod` runs the fast worker
    with celery_worker(log, pool="prefork", concurrency=1, extra_env=one_math_thread) as worker:
        wait_for(lambda: " ready." in log.read_text(), what="the worker to start")
        (first,) = child_pids(worker.pid)
        with busy_cpus():
            os.kill(first, signal.SIGKILL)
            wait_for(lambda: bool(child_pids(worker.pid) - {first}), what="a replacement process")
            response = api(agent).post(
                reverse("api:message-create", args=[ticket_a.pk]),
                {"body": "Where is my parcel? Order 5120."},
                format="json",
            )
            assert response.status_code == 201
            # Loading the models takes 6 s on an idle 2-core machine, up to a minute with
            # every core busy and other work on it.
            wait_for(
                lambda: _done(ticket_a.pk, 2), timeout=180, what="the replacement to analyse it"
            )

    assert _analysis(ticket_a.pk, 2).status == AnalysisStatus.DONE  # type: ignore[union-attr]
    assert "Timed out waiting for UP message" not in log.read_text()
