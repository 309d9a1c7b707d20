"""An approved action whose task was lost with the broker is queued again by beat, and shown to
supervisors and in the health report while it waits."""

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import redis
from django.db import transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from config.celery import app as celery_app
from recovery.catalogue import action_catalogue_ensure
from recovery.models import ExecutionStatus, RecommendationStatus, RecoveryAction, RecoveryExecution
from recovery.services import executions_requeue_stale, recommendation_add
from recovery.tasks import execute_recovery, requeue_stale_executions
from tests.factories import TicketFactory
from tests.test_faults import OwnRedis, _publish, own_redis  # noqa: F401 (a fixture)
from tests.worker import celery_worker, wait_for
from tickets.models import Ticket

pytestmark = pytest.mark.django_db

AGO = {"minutes": 15}


def approved(ticket: Ticket, agent: User) -> RecoveryExecution:
    """A partial refund approved on the ticket; its task went to the broker (and was lost)."""
    action_catalogue_ensure()
    refund = RecoveryAction.objects.get(key="refund-partial")
    with transaction.atomic():
        recommendation = recommendation_add(
            ticket=ticket, user=agent, action=refund, amount="20", reason="late"
        )
    return RecoveryExecution.objects.get(recommendation=recommendation)


@contextmanager
def eager() -> Iterator[None]:
    celery_app.conf.task_always_eager = True
    try:
        yield
    finally:
        celery_app.conf.task_always_eager = False


def aged(execution: RecoveryExecution, **fields: object) -> RecoveryExecution:
    """As if approved (and queued) some time ago."""
    long_ago = timezone.now() - dt.timedelta(**AGO)
    RecoveryExecution.objects.filter(pk=execution.pk).update(
        created_at=long_ago, queued_at=long_ago, **fields
    )
    execution.refresh_from_db()
    return execution


def test_stale_execution_requeued_once_lost_pending_and_dead_running_only(
    team_a: Any, agent: User, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    long_ago = timezone.now() - dt.timedelta(hours=1)
    lost = aged(approved(TicketFactory(team=team_a), agent))
    dead = aged(
        approved(TicketFactory(team=team_a), agent),
        status=ExecutionStatus.RUNNING,
        started_at=long_ago,
        attempts=1,
    )
    just_queued = approved(TicketFactory(team=team_a), agent)
    waiting_for_the_shop = aged(
        approved(TicketFactory(team=team_a), agent),
        status=ExecutionStatus.RUNNING,
        started_at=timezone.now() - dt.timedelta(minutes=5),
        attempts=1,
    )
    refused = aged(approved(TicketFactory(team=team_a), agent), status=ExecutionStatus.FAILED)
    given_up = aged(approved(TicketFactory(team=team_a), agent), attempts=20)

    beat_ran_at = timezone.now()
    with django_capture_on_commit_callbacks(execute=False) as queued:
        first = executions_requeue_stale()
    with django_capture_on_commit_callbacks(execute=False) as queued_again:
        second = executions_requeue_stale()  # the next minute's beat

    assert (first, len(queued)) == (2, 2)
    assert (second, len(queued_again)) == (0, 0)
    stamped = RecoveryExecution.objects.filter(queued_at__gte=beat_ran_at)
    assert set(stamped.values_list("pk", flat=True)) == {lost.pk, dead.pk}
    for untouched in (just_queued, waiting_for_the_shop, refused, given_up):
        before = (untouched.status, untouched.queued_at, untouched.attempts)
        untouched.refresh_from_db()
        assert (untouched.status, untouched.queued_at, untouched.attempts) == before

    with eager():  # the tasks reach a worker
        for callback in queued:
            callback()
    for execution, attempts in ((lost, 1), (dead, 2)):
        execution.refresh_from_db()
        assert (execution.status, execution.attempts) == (ExecutionStatus.DONE, attempts)
        assert execution.recommendation.status == RecommendationStatus.EXECUTED


def test_stuck_execution_is_shown_to_supervisors_with_its_ticket(
    login: Callable[[User], Client], agent: User, supervisor: User, team_a: Any, team_b: Any
) -> None:
    stuck = aged(approved(TicketFactory(team=team_a, subject="Parcel lost"), agent))
    approved(TicketFactory(team=team_a), agent)  # just approved: not stuck
    other_team = aged(approved(TicketFactory(team=team_b), agent))

    page = login(supervisor).get(reverse("supervision:overrides"))

    assert page.status_code == 200
    html = page.content.decode()
    assert "1 approved action not carried out" in html
    assert f'id="execution-{stuck.pk}"' in html
    ticket_url = reverse("desk:ticket", args=[stuck.recommendation.ticket_id])
    assert f'<a href="{ticket_url}">#{stuck.recommendation.ticket_id} Parcel lost</a>' in html
    assert f'id="execution-{other_team.pk}"' not in html


def test_no_stuck_box_when_everything_ran(
    login: Callable[[User], Client], agent: User, supervisor: User, team_a: Any
) -> None:
    approved(TicketFactory(team=team_a), agent)

    page = login(supervisor).get(reverse("supervision:overrides"))

    assert "not carried out" not in page.content.decode()


def test_stuck_execution_is_in_the_copilot_status_not_a_readiness_failure(
    client: Client, agent: User, team_a: Any
) -> None:
    aged(approved(TicketFactory(team=team_a), agent))

    status = client.get(reverse("health-copilot")).json()
    ready = client.get(reverse("health-ready"))

    item = status["checks"]["recovery_executions"]
    assert (item["ok"], item["stuck"]) == (False, 1)
    assert 900 <= item["oldest_seconds"] < 930
    assert ready.status_code == 200
    assert "recovery_executions" not in ready.json()["checks"]


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_stale_execution_requeued_after_the_broker_lost_its_task(
    own_redis: OwnRedis,  # noqa: F811 (the fixture imported above)
    team_a: Any,
    agent: User,
    tmp_path: Path,
) -> None:
    execution = aged(approved(TicketFactory(team=team_a), agent))
    _publish(own_redis.url, execute_recovery, execution_id=execution.pk)
    own_redis.stop()  # Redis restarts without persistence: the task is gone.
    own_redis.start()
    assert redis.Redis.from_url(own_redis.url).dbsize() == 0

    with celery_worker(tmp_path / "worker.log", extra_env={"TEST_REDIS_URL": own_redis.url}):
        _publish(own_redis.url, requeue_stale_executions)  # what beat does every minute
        wait_for(
            lambda: RecoveryExecution.objects.get(pk=execution.pk).status == "done",
            what="the re-queued execution to be carried out",
        )

    execution.refresh_from_db()
    assert (execution.status, execution.attempts) == (ExecutionStatus.DONE, 1)
    assert execution.recommendation.status == RecommendationStatus.EXECUTED
