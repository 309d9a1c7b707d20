"""API rate limits: each credential is counted on its own and answered 429 with Retry-After once
over its rate; the shop's integration tokens have a rate of their own.

The rates are set per test (the suite's own settings keep every throttle on at rates no test
reaches by accident). Windows of an hour keep a test from straddling two windows.
"""

import math
import os
import subprocess
import sys
import threading
import time
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.urls import path, reverse
from pytest_django.fixtures import Settings
from rest_framework.authtoken.models import Token
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.test import APIClient
from rest_framework.views import APIView

from accounts.models import Role, Team, User
from tests.factories import UserFactory
from tickets.models import Message, Ticket

pytestmark = pytest.mark.django_db

HOUR = 3600


def _rates(settings: Settings, **rates: str) -> None:
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], **rates},
    }


def _seconds_to_end_of_hour(now: float) -> int:
    return math.ceil((int(now // HOUR) + 1) * HOUR - now)


def _token_client(user: User) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


def _session_client(user: User) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def _assert_throttled(response: Any, *, before: float, after: float) -> None:
    assert response.status_code == 429
    assert response.json()["detail"].startswith("Request was throttled.")
    # The seconds until the counting window ends, as measured around the call.
    assert (
        _seconds_to_end_of_hour(after)
        <= int(response["Retry-After"])
        <= _seconds_to_end_of_hour(before)
    )


def test_api_throttled_per_user_answers_429_with_retry_after(
    settings: Settings, agent: User, supervisor: User, ticket_a: Ticket
) -> None:
    _rates(settings, user="3/hour")
    alice = _session_client(agent)
    for _ in range(3):
        assert alice.get(reverse("api:ticket-list")).status_code == 200

    before = time.time()
    refused = alice.post(
        reverse("api:message-create", args=[ticket_a.pk]),
        {"body": "One call too many", "author_kind": "agent"},
        format="json",
    )
    after = time.time()

    _assert_throttled(refused, before=before, after=after)
    assert list(Message.objects.filter(ticket=ticket_a).values_list("body", flat=True)) == [
        "My order has not arrived yet."
    ]
    # Counted per user: a colleague on the same team is not held back.
    assert _session_client(supervisor).get(reverse("api:ticket-list")).status_code == 200


def test_api_throttled_per_token(
    settings: Settings, agent: User, supervisor: User, ticket_a: Ticket
) -> None:
    _rates(settings, token="3/hour")
    script = _token_client(agent)
    for _ in range(3):
        assert script.get(reverse("api:ticket-list")).status_code == 200

    before = time.time()
    refused = script.post(
        reverse("api:message-create", args=[ticket_a.pk]),
        {"body": "One call too many", "author_kind": "agent"},
        format="json",
    )
    after = time.time()

    _assert_throttled(refused, before=before, after=after)
    assert Message.objects.filter(ticket=ticket_a).count() == 1
    # Counted per token: another token is not held back, nor is the person's own session.
    assert _token_client(supervisor).get(reverse("api:ticket-list")).status_code == 200
    assert _session_client(agent).get(reverse("api:ticket-list")).status_code == 200


class _EchoApi(APIView):
    """Any authenticated caller, the shop integration included, behind the default throttles:
    the test does not depend on which operations an integration may use."""

    permission_classes = [IsAuthenticated]

    def get(self, request: Request) -> Response:
        return Response({"user": request.user.username})


urlpatterns = [path("api/echo/", _EchoApi.as_view())]


@pytest.mark.urls(__name__)
def test_integration_token_has_its_own_scope(settings: Settings, agent: User) -> None:
    _rates(settings, token="2/hour", integration="5/hour")
    shop = _token_client(UserFactory(username="shop", role=Role.INTEGRATION))
    script = _token_client(agent)

    # The shop gets its own, higher rate...
    answers = [shop.get("/api/echo/").status_code for _ in range(5)]
    before = time.time()
    refused = shop.get("/api/echo/")
    after = time.time()

    assert answers == [200] * 5
    _assert_throttled(refused, before=before, after=after)
    # ...and its calls do not count against staff tokens, nor theirs against it.
    assert [script.get("/api/echo/").status_code for _ in range(3)] == [200, 200, 429]
    assert shop.get("/api/echo/").status_code == 429


@pytest.mark.django_db(transaction=True)
def test_api_throttle_holds_under_parallel_calls(
    settings: Settings, team_a: Team, agent: User
) -> None:
    # Given a limit of 5 and 16 calls with one token at the same moment
    _rates(settings, token="5/hour")
    key = Token.objects.create(user=agent).key
    barrier = threading.Barrier(16)
    answers: list[int] = []

    def call() -> None:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
        try:
            barrier.wait()
            answers.append(client.get(reverse("api:ticket-list")).status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=call) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # Then exactly 5 get through: the count is one atomic increment per call
    assert sorted(answers) == [200] * 5 + [429] * 11


def test_mistyped_api_rate_stops_the_start() -> None:
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=django_settings.BASE_DIR,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.base",
            "API_THROTTLE_TOKEN": "300 per minute",
        },
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 1
    assert "API_THROTTLE_TOKEN: Not a rate: '300 per minute' (expected e.g. 120/min)" in (
        result.stderr
    )
