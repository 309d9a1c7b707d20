from collections.abc import Callable

import pytest
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import Role, Team, User
from tests.factories import TeamFactory, TicketFactory, UserFactory
from tickets.models import Ticket


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
