"""Security defaults: CSRF, login lockout, headers, and a clean deployment check."""

import math
import os
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from pytest_django.fixtures import Settings

from accounts.models import User
from tickets.models import Ticket

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("desk:ticket-reply", {"body": "hello"}),
        ("desk:ticket-status", {"status": "pending"}),
        ("desk:ticket-assignee", {"assignee": ""}),
    ],
)
def test_state_changing_pages_need_csrf_token(
    agent: User, ticket_a: Ticket, name: str, data: dict[str, str]
) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(agent)

    response = client.post(reverse(name, args=[ticket_a.pk]), data, HTTP_HX_REQUEST="true")

    assert response.status_code == 403
    assert b"Form expired or sent from elsewhere" in response.content
    ticket_a.refresh_from_db()
    assert (ticket_a.transcript_version, ticket_a.status) == (1, "open")


def test_reply_with_csrf_token_from_page_works(agent: User, ticket_a: Ticket) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(agent)
    client.get(reverse("desk:ticket", args=[ticket_a.pk]))
    token = client.cookies[settings.CSRF_COOKIE_NAME].value

    response = client.post(
        reverse("desk:ticket-reply", args=[ticket_a.pk]),
        {"body": "hello"},
        HTTP_HX_REQUEST="true",
        HTTP_X_CSRFTOKEN=token,
    )

    assert response.status_code == 200


def test_login_locks_out_after_repeated_failures(agent: User) -> None:
    client = Client()
    url = reverse("login")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(url, {"username": "alice", "password": "wrong"}, REMOTE_ADDR="10.0.0.1")

    locked = client.post(url, {"username": "alice", "password": "pw"}, REMOTE_ADDR="10.0.0.1")

    assert locked.status_code == 429
    assert b"Too many failed logins" in locked.content
    assert b"This account is locked" in locked.content
    # Until the cool-off after the last failure ends, said on the page and in Retry-After.
    cooloff = int(settings.AXES_COOLOFF_TIME.total_seconds())
    assert cooloff - 5 <= int(locked["Retry-After"]) <= cooloff
    assert f"Try again in {cooloff // 60} minutes".encode() in locked.content
    assert f'<a href="{url}">Back to the login page</a>'.encode() in locked.content
    assert "_auth_user_id" not in client.session


def _seconds_to_window_end(now: float, period: float) -> int:
    return math.ceil((int(now // period) + 1) * period - now)


def test_password_spray_across_usernames_locked_per_ip(
    settings: Settings, agent: User, other_agent: User
) -> None:
    # Given an attacker trying one password on many usernames from one address (each username
    # only once, so no username reaches its own limit)
    settings.LOGIN_IP_FAILURE_LIMIT = 4
    settings.LOGIN_IP_WINDOW = timedelta(hours=1)
    url = reverse("login")
    attacker = Client(REMOTE_ADDR="203.0.113.7")
    for username in ["bob", "sam", "ada", "root"]:
        attacker.post(url, {"username": username, "password": "Summer2026!"})
    last_login = User.objects.get(username="alice").last_login

    # When the next attempt from that address has a right password
    before = time.time()
    refused = attacker.post(url, {"username": "alice", "password": "pw"})
    after = time.time()

    # Then it is refused for the rest of the window, and the page says so
    assert refused.status_code == 429
    assert (
        _seconds_to_window_end(after, 3600)
        <= int(refused["Retry-After"])
        <= _seconds_to_window_end(before, 3600)
    )
    minutes = math.ceil(int(refused["Retry-After"]) / 60)
    assert b"Logins from your address are refused" in refused.content
    assert f"Try again in {minutes} minute".encode() in refused.content
    assert f'<a href="{url}">Back to the login page</a>'.encode() in refused.content
    assert "_auth_user_id" not in attacker.session
    assert User.objects.get(username="alice").last_login == last_login
    # The admin's login is refused as well
    admin_login = attacker.post(reverse("admin:login"), {"username": "alice", "password": "pw"})
    assert admin_login.status_code == 429
    # Other addresses are not held back
    elsewhere = Client(REMOTE_ADDR="198.51.100.2")
    assert elsewhere.post(url, {"username": "alice", "password": "pw"}).status_code == 302


def test_password_spray_count_not_reset_by_attackers_own_login(
    settings: Settings, agent: User, other_agent: User
) -> None:
    # Given an attacker who holds one account (bob's) and sprays the others from one address
    settings.LOGIN_IP_FAILURE_LIMIT = 4
    settings.LOGIN_IP_WINDOW = timedelta(hours=1)
    url = reverse("login")
    for round_ in range(2):
        attacker = Client(REMOTE_ADDR="203.0.113.7")
        for username in [f"guess{round_}a", f"guess{round_}b"]:
            attacker.post(url, {"username": username, "password": "Summer2026!"})
        # When they log in to their own account between rounds
        logged_in = attacker.post(url, {"username": "bob", "password": "pw"})
        if round_ == 0:
            assert logged_in.status_code == 302

    # Then the failures still add up: the fourth failure locked the address
    assert logged_in.status_code == 429
    assert "_auth_user_id" not in attacker.session


def test_login_and_logout(agent: User) -> None:
    client = Client()

    response = client.post(reverse("login"), {"username": "alice", "password": "pw"})
    assert response.status_code == 302
    assert client.get(reverse("desk:inbox")).status_code == 200

    client.post(reverse("logout"))
    assert client.get(reverse("desk:inbox")).status_code == 302


def test_pages_carry_security_headers(
    login: Callable[[User], Client], agent: User, ticket_a: Ticket
) -> None:
    response = login(agent).get(reverse("desk:ticket", args=[ticket_a.pk]))

    csp = response["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-eval" not in csp and "unsafe-inline" not in csp
    assert response["X-Frame-Options"] == "DENY"
    assert response["Cache-Control"] == "no-store, private"
    assert response["X-Content-Type-Options"] == "nosniff"


def test_login_page_is_public_but_inbox_is_not() -> None:
    client = Client()

    assert client.get(reverse("login")).status_code == 200
    assert client.get(reverse("desk:inbox")).status_code == 302


# The variables README's configuration table documents for a deployment behind TLS.
PRODUCTION_ENV = {
    "DJANGO_SETTINGS_MODULE": "config.settings.base",
    "DJANGO_SECRET_KEY": "a-long-random-production-secret-key-0123456789-abcdefghijklmnop",
    "DJANGO_ALLOWED_HOSTS": "copilot.example.com",
    "DJANGO_SECURE_SSL_REDIRECT": "true",
    "DJANGO_SECURE_HSTS_SECONDS": "31536000",
    "DJANGO_DEBUG": "false",
    "CACHE_URL": "redis://127.0.0.1:6379/1",
}


def _production_hsts_header(**extra_env: str) -> str | None:
    """The Strict-Transport-Security header a production process sends over HTTPS."""
    code = (
        "import django; django.setup(); from django.test import Client; "
        "print(Client(HTTP_HOST='copilot.example.com').get('/favicon.ico', secure=True)"
        ".headers.get('Strict-Transport-Security'))"
    )
    env = {**os.environ, **PRODUCTION_ENV}
    env.pop("DJANGO_SECURE_HSTS_PRELOAD", None)
    env.update(extra_env)
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip().splitlines()[-1]


def test_hsts_preload_is_opt_in() -> None:
    # Given the documented production variables, without DJANGO_SECURE_HSTS_PRELOAD
    default = _production_hsts_header()
    # When the owner of the domain opts in
    opted_in = _production_hsts_header(DJANGO_SECURE_HSTS_PRELOAD="true")

    assert default == "max-age=31536000; includeSubDomains"
    assert opted_in == "max-age=31536000; includeSubDomains; preload"


@pytest.mark.parametrize("preload", ["false", "true"])
def test_check_deploy_is_clean_with_documented_production_variables(preload: str) -> None:
    env = {**os.environ, **PRODUCTION_ENV, "DJANGO_SECURE_HSTS_PRELOAD": preload}

    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


def test_check_deploy_warns_when_rate_limits_count_per_process() -> None:
    env = {**os.environ, **PRODUCTION_ENV}
    del env["CACHE_URL"]

    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 1
    assert "(core.W001) The cache is in-process memory" in result.stderr


def test_attempts_refused_by_a_username_lock_do_not_count_against_the_address(
    settings: Settings, agent: User, other_agent: User
) -> None:
    # Given alice locked at one address after 5 failures, and trying 3 more times while locked
    settings.LOGIN_IP_FAILURE_LIMIT = 7
    settings.LOGIN_IP_WINDOW = timedelta(hours=1)
    url = reverse("login")
    office = Client(REMOTE_ADDR="192.0.2.10")
    answers = [
        office.post(url, {"username": "alice", "password": "wrong"}).status_code for _ in range(8)
    ]

    # When a colleague logs in from the same address
    colleague = Client(REMOTE_ADDR="192.0.2.10")
    response = colleague.post(url, {"username": "bob", "password": "pw"})

    # Then only the 5 passwords actually tried counted against the address
    assert answers == [200] * 4 + [429] * 4
    assert response.status_code == 302


def test_password_spray_from_one_ipv6_network_locked_per_network(
    settings: Settings, agent: User
) -> None:
    # Given an attacker who takes a fresh address of their /64 for every attempt
    settings.LOGIN_IP_FAILURE_LIMIT = 4
    settings.LOGIN_IP_WINDOW = timedelta(hours=1)
    url = reverse("login")
    for n, username in enumerate(["bob", "sam", "ada", "root"], start=1):
        Client(REMOTE_ADDR=f"2001:db8:7:1::{n}").post(
            url, {"username": username, "password": "Summer2026!"}
        )

    # When they try again from yet another address of it, and someone from another network does
    refused = Client(REMOTE_ADDR="2001:db8:7:1::ffff").post(
        url, {"username": "alice", "password": "pw"}
    )
    elsewhere = Client(REMOTE_ADDR="2001:db8:7:2::1").post(
        url, {"username": "alice", "password": "pw"}
    )

    # Then the network counts as one address
    assert refused.status_code == 429
    assert elsewhere.status_code == 302
