"""What a newcomer sees in the terminal: ordinary refusals are one line, not a traceback."""

import logging

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import User
from tickets.models import Ticket

pytestmark = pytest.mark.django_db


def _request_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "django.request"]


def test_forbidden_is_logged_without_traceback(
    client: Client, no_role_user: User, ticket_a: Ticket, caplog: pytest.LogCaptureFixture
) -> None:
    client.force_login(no_role_user)
    with caplog.at_level(logging.WARNING, logger="django.request"):
        response = client.get(reverse("desk:ticket", args=[ticket_a.pk]))
    assert response.status_code == 403
    [record] = _request_records(caplog)
    assert record.getMessage().startswith("Forbidden")
    assert record.exc_info is None
    assert "Traceback" not in caplog.text


def test_not_found_is_logged_without_traceback(
    client: Client, other_agent: User, ticket_a: Ticket, caplog: pytest.LogCaptureFixture
) -> None:
    client.force_login(other_agent)
    with caplog.at_level(logging.WARNING, logger="django.request"):
        response = client.get(reverse("desk:ticket", args=[ticket_a.pk]))
    assert response.status_code == 404
    [record] = _request_records(caplog)
    assert record.getMessage() == f"Not Found: /tickets/{ticket_a.pk}/"
    assert record.exc_info is None
    assert "Traceback" not in caplog.text


def test_server_error_keeps_its_traceback() -> None:
    """Only client errors lose the traceback: a 500 is ours to debug."""
    record = logging.LogRecord(
        "django.request", logging.ERROR, __file__, 1, "Internal Server Error: /x", (), None
    )
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        import sys

        record.exc_info = sys.exc_info()
    record.status_code = 500
    logging.getLogger("django.request").filter(record)
    assert record.exc_info is not None and record.exc_info[0] is RuntimeError


def test_embedded_broker_connects_without_hostname_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    import os

    from kombu import Connection

    from config.settings import base

    if os.environ.get("CELERY_BROKER_URL"):
        pytest.skip("a broker URL is set in the environment: the default is not in use")

    with caplog.at_level(logging.WARNING, logger="kombu"):
        info = dict(Connection(base.CELERY_BROKER_URL)._info())
    assert base.CELERY_BROKER_URL == "filesystem://localhost/"
    assert info["hostname"] == "localhost"
    assert [r.getMessage() for r in caplog.records if r.name.startswith("kombu")] == []
