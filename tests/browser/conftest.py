import os
from collections.abc import Iterator

import pytest
from django.test import Client
from playwright.sync_api import Browser, Page, sync_playwright

from accounts.models import User

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    # Playwright's sync API runs an event loop in this thread; the ORM calls that fixtures make
    # around it are still plain synchronous calls.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            # Debian's Chromium as root needs --no-sandbox; the machine has no outside network,
            # so background calls home are switched off rather than left to fail.
            args=[
                "--no-sandbox",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-gpu",
                "--no-first-run",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context()
    page = context.new_page()
    # Any script error (a CSP violation included) fails the test that caused it.
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # A 422 is a form answered with its errors (swapped in by design), which the browser still
    # logs as a failed load: not a script error.
    page.on(
        "console",
        lambda msg: (
            errors.append(msg.text)
            if msg.type == "error" and "status of 422" not in msg.text
            else None
        ),
    )
    yield page
    context.close()
    assert errors == [], errors


def log_in(page: Page, url: str, user: User) -> None:
    """Start the browser on a session of `user` (the login form has its own test)."""
    client = Client()
    client.force_login(user)
    page.context.clear_cookies()
    page.context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": url}]
    )
