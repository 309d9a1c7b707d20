from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.core.cache import cache
from django.test import Client
from pytest_django.fixtures import Settings
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from accounts.models import Role, Team, User
from config.celery import app as celery_app
from copilot.engine import reset_engine
from tests.factories import TeamFactory, TicketFactory, UserFactory
from tickets.models import Ticket


@pytest.fixture(autouse=True)
def empty_cache() -> Iterator[None]:
    """Every test starts with no rate-limit counts: the API's and the login limit's counters live in
    the cache, which outlives a test (and, on SQLite, a later test's user gets the same id)."""
    cache.clear()
    yield


@pytest.fixture
def team_a(db: None) -> Team:
    return TeamFactory(name="Orders", slug="orders")


@pytest.fixture
def team_b(db: None) -> Team:
    return TeamFactory(name="Billing", slug="billing")


@pytest.fixture
def agent(team_a: Team) -> User:
    return UserFactory(username="alice", role=Role.AGENT, teams=[team_a])


@pytest.fixture
def other_agent(team_b: Team) -> User:
    return UserFactory(username="bob", role=Role.AGENT, teams=[team_b])


@pytest.fixture
def supervisor(team_a: Team) -> User:
    return UserFactory(username="sam", role=Role.SUPERVISOR, teams=[team_a])


@pytest.fixture
def admin_user(db: None) -> User:
    return UserFactory(username="ada", role=Role.ADMIN)


@pytest.fixture
def integration(db: None) -> User:
    """A shop's service account: no team, no staff role, API only, with its token."""
    return UserFactory(username="shopbot", role=Role.INTEGRATION)


@pytest.fixture
def integration_api(integration: User) -> APIClient:
    """An API client that signs in the way a shop integration does: with its token."""
    api_client = APIClient()
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=integration).key}")
    return api_client


@pytest.fixture
def no_role_user(team_a: Team) -> User:
    """A login that belongs to a team but holds no role: sees nothing."""
    return UserFactory(username="norole", teams=[team_a])


@pytest.fixture
def ticket_a(team_a: Team) -> Ticket:
    return TicketFactory(team=team_a, subject="Parcel never arrived")


@pytest.fixture
def ticket_b(team_b: Team) -> Ticket:
    return TicketFactory(team=team_b, subject="Charged twice")


@pytest.fixture
def login(client: Client) -> Callable[[User], Client]:
    def _login(user: User) -> Client:
        client.force_login(user)
        return client

    return _login


@pytest.fixture
def api(db: None) -> Callable[[User | None], APIClient]:
    def _api(user: User | None) -> APIClient:
        api_client = APIClient()
        if user is not None:
            api_client.force_authenticate(user)
        return api_client

    return _api


@pytest.fixture
def copilot_dirs(settings: Settings, tmp_path: Path) -> Iterator[Path]:
    """A fresh, empty index directory and no trained intent model of the organisation's own
    in any label set (so the models shipped with the code are used), with a fresh per-process
    engine."""
    settings.COPILOT_INDEX_DIR = str(tmp_path / "index")
    settings.COPILOT_INTENT_MODEL_DIR = str(tmp_path / "intent")
    settings.COPILOT_INTENT_LABEL_SETS_DIR = str(tmp_path / "intent-sets")
    reset_engine()
    yield tmp_path
    reset_engine()


@pytest.fixture
def eager_tasks() -> Iterator[None]:
    """Run queued tasks in-process at once (tests of what a task does, not of the broker)."""
    celery_app.conf.task_always_eager = True
    try:
        yield
    finally:
        celery_app.conf.task_always_eager = False


@pytest.fixture
def empty_queue() -> None:
    """Drop tasks that earlier tests queued (their tickets are gone) before a real worker runs."""
    with celery_app.connection_for_write() as conn:
        conn.default_channel.queue_purge(celery_app.conf.task_default_queue)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Remove this run's own directories and SQLite file (see config/settings/test.py)."""
    import shutil

    from django.conf import settings

    for path in (settings.COPILOT_INDEX_DIR, settings.COPILOT_INTENT_MODEL_DIR):
        shutil.rmtree(path, ignore_errors=True)
    shutil.rmtree(settings.RECOVERY_CHURN_MODEL_DIR, ignore_errors=True)
    shutil.rmtree(settings.PRIVACY_EXPORT_DIR, ignore_errors=True)
