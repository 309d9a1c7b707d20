"""Faults against the real services: the database going away for a few seconds."""

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from accounts.models import User
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
    page = reverse("tickets:detail", args=[ticket_a.pk])
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
