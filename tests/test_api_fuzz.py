"""Schemathesis against the OpenAPI schema: generated requests to every operation never get a
server error (5xx), whatever their shape."""

from collections.abc import Iterator

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from accounts.models import Role
from copilot.services.cases import case_index_rebuild
from tests.factories import TicketFactory, UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("copilot_dirs")]


def _schema() -> dict:  # type: ignore[type-arg]
    return SchemaGenerator().get_schema(request=None, public=True)  # type: ignore[no-any-return]


schema = schemathesis.openapi.from_dict(_schema())
schema.app = get_wsgi_application()
# Invalid requests too (wrong types, strings past maxLength, missing fields), NULs included:
# each must be refused with a 4xx. The suite runs this on PostgreSQL as well as SQLite (see
# `./dev test`): SQLite stores a NUL or an over-long string that PostgreSQL refuses.
schema.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE])


@pytest.fixture
def token(db: None) -> Iterator[str]:
    admin = UserFactory(username="fuzzer", role=Role.ADMIN)
    TicketFactory()  # something for the id-taking operations to find
    case_index_rebuild(progress=None)  # so the search has an index to search
    # The app is called as plain WSGI: keep it from closing the test's database connection at
    # the start and end of each request, as Django's own test client does.
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    try:
        yield Token.objects.create(user=admin).key
    finally:
        for signal in (request_started, request_finished):
            signal.connect(close_old_connections)


@schema.parametrize()
@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_no_operation_answers_a_server_error(case, token: str) -> None:  # type: ignore[no-untyped-def]
    case.call_and_validate(headers={"Authorization": f"Token {token}"}, checks=[not_a_server_error])
