"""Faults against the real services: the database going away for a few seconds."""

import contextlib
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from django.conf import settings
from django.db import connection, transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from kombu import Connection

from accounts.models import User
from copilot.models import MessageAnalysis
from copilot.services.analysis import analysis_request
from copilot.tasks import analyse_message, requeue_stale_analyses
from tests.factories import TicketFactory
from tests.worker import celery_worker, wait_for
from tickets.models import Ticket

pytestmark = pytest.mark.django_db(transaction=True)


class TcpProxy:
    """Forwards a local port to PostgreSQL; stopping it is the database going away."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.listener: socket.socket | None = None
        self.port = 0
        self.links: list[socket.socket] = []

    def start(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", self.port))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, args=(self.listener,), daemon=True).start()

    def stop(self) -> None:
        assert self.listener is not None
        # shutdown first: a thread blocked in accept() keeps the socket alive past close().
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()
        for link in self.links:
            with contextlib.suppress(OSError):
                link.shutdown(socket.SHUT_RDWR)
            link.close()
        self.links.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            self.links += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(a: socket.socket, b: socket.socket) -> None:
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                with contextlib.suppress(OSError):
                    s.close()


@pytest.fixture
def database_through_proxy() -> Iterator[TcpProxy]:
    if connection.vendor != "postgresql":
        pytest.skip("a network database is needed to take it away (runs on PostgreSQL)")
    settings_dict = connection.settings_dict
    proxy = TcpProxy((settings_dict["HOST"] or "127.0.0.1", int(settings_dict["PORT"] or 5432)))
    proxy.start()
    original = settings_dict["PORT"]
    connection.close()
    settings_dict["PORT"] = proxy.port
    try:
        yield proxy
    finally:
        connection.close()
        settings_dict["PORT"] = original
        if proxy.listener is not None and proxy.listener.fileno() != -1:
            proxy.stop()
        _wait_for_proxied_sessions_to_end()


def _wait_for_proxied_sessions_to_end() -> None:
    """PostgreSQL notices closed proxied sessions a moment later; the test database can only
    be dropped at the end of the run once they are gone."""
    with connection.cursor() as cursor:
        for _ in range(50):
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            if cursor.fetchone()[0] == 0:
                return
            time.sleep(0.1)


def test_database_away_for_a_moment_gives_503_then_recovers(
    database_through_proxy: TcpProxy, agent: User, ticket_a: Ticket
) -> None:
    client = Client(raise_request_exception=False)
    client.force_login(agent)
    page = reverse("desk:ticket", args=[ticket_a.pk])
    api = reverse("api:ticket-detail", args=[ticket_a.pk])
    assert client.get(page).status_code == 200

    database_through_proxy.stop()
    connection.close()
    down_page = client.get(page)
    down_api = client.get(api)

    assert down_page.status_code == 503
    assert down_page["Retry-After"] == "5"
    assert b"cannot reach its database" in down_page.content
    assert down_api.status_code == 503
    assert down_api.json() == {"detail": "The database is unavailable; retry in a few seconds."}

    database_through_proxy.start()  # the same port again
    connection.close()
    assert client.get(page).status_code == 200
    assert client.get(api).status_code == 200


class OwnRedis:
    """A Redis server of this test's own, started and restarted at will. By default without
    persistence, like the machine's: a restart loses what was queued. `append_only` runs it
    as docs/operations.md advises for production, with every write in the append-only file."""

    def __init__(self, directory: Path, *, append_only: bool = False) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.directory = directory
        self.append_only = append_only
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "yes" if self.append_only else "no",
                # "always" rather than the advised "everysec": the test kills Redis within
                # the second, and must not depend on timing.
                "--appendfsync",
                "always",
                "--dir",
                str(self.directory),
            ],
            stdout=subprocess.DEVNULL,
        )
        wait_for(self._answers, timeout=10, what="redis to start")

    def _answers(self) -> bool:
        try:
            return bool(redis.Redis.from_url(self.url).ping())
        except redis.ConnectionError:
            return False

    def stop(self) -> None:
        assert self.process is not None
        self.process.terminate()
        self.process.wait(timeout=10)

    def crash(self) -> None:
        """SIGKILL: no chance to write anything on the way out."""
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=10)


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    server = OwnRedis(tmp_path)
    server.start()
    yield server
    if server.process is not None and server.process.poll() is None:
        server.stop()


def _publish(url: str, task: Any, **kwargs: object) -> None:
    with Connection(url) as conn:
        task.apply_async(kwargs=kwargs, connection=conn, queue=settings.CELERY_TASK_DEFAULT_QUEUE)


@pytest.mark.worker
@pytest.mark.usefixtures("copilot_dirs")
def test_redis_restart_loses_queued_tasks_but_no_analysis(
    own_redis: OwnRedis, team_a: Any, tmp_path: Path
) -> None:
    tickets = [TicketFactory(team=team_a) for _ in range(3)]
    with transaction.atomic():
        # Requested a while ago, as when their tasks went into the broker that then restarted.
        for ticket in tickets:
            analysis_request(message=ticket.messages.get())
        MessageAnalysis.objects.update(requested_at=timezone.now() - timedelta(minutes=5))
    for ticket in tickets:
        _publish(own_redis.url, analyse_message, ticket_id=ticket.pk, transcript_version=1)

    own_redis.stop()  # Redis restarts while the messages are queued: they are gone.
    own_redis.start()
    assert redis.Redis.from_url(own_redis.url).dbsize() == 0

    log = tmp_path / "worker.log"
    with celery_worker(log, extra_env={"TEST_REDIS_URL": own_redis.url}):
        # What beat does every minute: the database knows what still waits.
        _publish(own_redis.url, requeue_stale_analyses)
        wait_for(
            lambda: not MessageAnalysis.objects.filter(status="pending").exists(),
            what="every analysis to be done after the requeue",
        )
        # Redis restarts again while the worker runs: it reconnects and goes on.
        own_redis.stop()
        own_redis.start()
        late = TicketFactory(team=team_a)
        with transaction.atomic():
            analysis_request(message=late.messages.get())
        _publish(own_redis.url, analyse_message, ticket_id=late.pk, transcript_version=1)
        wait_for(
            lambda: MessageAnalysis.objects.get(ticket=late).status != "pending",
            timeout=90,
            what="the worker to reconnect and analyse a new message",
        )

    assert MessageAnalysis.objects.filter(status="done").count() == 4


@pytest.mark.worker
@pytest.mark.usefixtures("copilot_dirs")
def test_redis_with_append_only_file_keeps_queued_tasks_across_a_crash(
    team_a: Any, tmp_path: Path
) -> None:
    server = OwnRedis(tmp_path, append_only=True)
    server.start()
    try:
        tickets = [TicketFactory(team=team_a) for _ in range(3)]
        with transaction.atomic():
            for ticket in tickets:
                analysis_request(message=ticket.messages.get())
        for ticket in tickets:
            _publish(server.url, analyse_message, ticket_id=ticket.pk, transcript_version=1)
        queue = settings.CELERY_TASK_DEFAULT_QUEUE

        server.crash()  # killed while the messages are queued
        server.start()

        assert redis.Redis.from_url(server.url).llen(queue) == 3
        # No re-queue this time: the worker finds the tasks where they were.
        with celery_worker(tmp_path / "worker.log", extra_env={"TEST_REDIS_URL": server.url}):
            wait_for(
                lambda: not MessageAnalysis.objects.filter(status="pending").exists(),
                what="the three queued analyses to be done",
            )
        assert MessageAnalysis.objects.filter(status="done").count() == 3
    finally:
        if server.process is not None and server.process.poll() is None:
            server.stop()


@pytest.mark.worker
def test_worker_start_repairs_a_damaged_index(copilot_dirs: Path, team_a: Any) -> None:
    from copilot.engine import index_health, index_store
    from copilot.services.cases import case_index_rebuild
    from tickets.models import Status

    case = TicketFactory(
        team=team_a, status=Status.SOLVED, solved_at=timezone.now(), resolution="Re-sent."
    )
    case_index_rebuild(progress=None)
    store = index_store()
    generation = store.current_generation()
    path = store.index_path(store.read_manifest())
    path.write_bytes(path.read_bytes()[:-100] + b"\0" * 100)  # a crash or a disk error
    assert not index_health(verify=True)[0]

    log = copilot_dirs / "worker.log"
    with celery_worker(log):
        wait_for(
            lambda: index_health(verify=True)[0],
            what="the worker to rebuild the index it found damaged at start",
        )

    assert store.current_generation() == generation + 1
    assert store.load().index.ids() == {case.pk}
    assert "A rebuild from the database is queued" in log.read_text()
