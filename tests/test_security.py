"""Security defaults: CSRF, login lockout, headers, and a clean deployment check."""

import os
import subprocess
import sys
from collections.abc import Callable

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from accounts.models import User
from tickets.models import Ticket

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("tickets:reply", {"body": "hello"}),
        ("tickets:status", {"status": "pending"}),
        ("tickets:assignee", {"assignee": ""}),
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
    client.get(reverse("tickets:detail", args=[ticket_a.pk]))
    token = client.cookies[settings.CSRF_COOKIE_NAME].value

    response = client.post(
        reverse("tickets:reply", args=[ticket_a.pk]),
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
    assert "_auth_user_id" not in client.session


def test_login_and_logout(agent: User) -> None:
    client = Client()

    response = client.post(reverse("login"), {"username": "alice", "password": "pw"})
    assert response.status_code == 302
    assert client.get(reverse("tickets:inbox")).status_code == 200

    client.post(reverse("logout"))
    assert client.get(reverse("tickets:inbox")).status_code == 302


def test_pages_carry_security_headers(
    login: Callable[[User], Client], agent: User, ticket_a: Ticket
) -> None:
    response = login(agent).get(reverse("tickets:detail", args=[ticket_a.pk]))

    csp = response["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-eval" not in csp and "unsafe-inline" not in csp
    assert response["X-Frame-Options"] == "DENY"
    assert response["Cache-Control"] == "no-store, private"
    assert response["X-Content-Type-Options"] == "nosniff"


def test_login_page_is_public_but_inbox_is_not() -> None:
    client = Client()

    assert client.get(reverse("login")).status_code == 200
    assert client.get(reverse("tickets:inbox")).status_code == 302


# The variables README's configuration table documents for a deployment behind TLS.
PRODUCTION_ENV = {
    "DJANGO_SETTINGS_MODULE": "config.settings.base",
    "DJANGO_SECRET_KEY": "a-long-random-production-secret-key-0123456789-abcdefghijklmnop",
    "DJANGO_ALLOWED_HOSTS": "copilot.example.com",
    "DJANGO_SECURE_SSL_REDIRECT": "true",
    "DJANGO_SECURE_HSTS_SECONDS": "31536000",
    "DJANGO_DEBUG": "false",
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
