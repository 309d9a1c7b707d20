"""CSRF on every state-changing route: a logged-in browser session without the token is
refused everywhere (pages, htmx fragments, the admin, and the API under session auth)."""

import re

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from accounts.models import User

pytestmark = pytest.mark.django_db


def routes() -> list[str]:
    found: list[str] = []

    def walk(patterns: list, prefix: str) -> None:  # type: ignore[type-arg]
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, route)
            elif isinstance(pattern, URLPattern):
                found.append(route)

    walk(get_resolver().url_patterns, "")
    return found


def concrete(route: str) -> str:
    # Any id will do: the CSRF check runs before the view looks anything up.
    path = re.sub(r"<(?:int|id):\w+>", "999999", route)
    path = re.sub(r"<(?:str|slug|path):\w+>", "x", path)
    path = re.sub(r"<\w+>", "x", path)
    path = path.lstrip("^").rstrip("$").replace("\\Z", "").replace("\\", "")
    return "/" + path


ROUTES = sorted({concrete(r) for r in routes() if not r.startswith("^static")})


def test_every_route_was_found() -> None:
    assert "/tickets/999999/reply/" in ROUTES
    assert "/api/recommendations/999999/decision/" in ROUTES
    assert "/privacy/customers/999999/erase/" in ROUTES
    assert len(ROUTES) > 40


@pytest.mark.parametrize("path", ROUTES)
def test_post_without_csrf_token_is_refused(admin_user: User, path: str) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)

    response = client.post(path, {"body": "x"}, HTTP_HX_REQUEST="true")

    # 403: the CSRF check refused it. 405: the route takes no POST at all.
    assert response.status_code in (403, 405), (path, response.status_code)
