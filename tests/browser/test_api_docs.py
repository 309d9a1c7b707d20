import pytest
from playwright.sync_api import Page, expect

from accounts.models import User
from tests.browser.conftest import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_api_docs_render_under_csp(live_server, page: Page, agent: User) -> None:
    """The API link of the menu opens a working Swagger page under the site's own strict policy
    (no inline script or style): the page fixture fails on any CSP violation it logs."""
    log_in(page, live_server.url, agent)
    page.goto(f"{live_server.url}/")

    with page.expect_response(lambda r: r.url.endswith("/api/docs/")) as docs:
        page.get_by_role("link", name="API", exact=True).click()

    policy = docs.value.headers["content-security-policy"]
    assert "'unsafe-inline'" not in policy and "script-src 'self';" in policy
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Copilot API")
    operations = page.locator(".opblock-summary-path")
    expect(operations.filter(has_text="/api/tickets/{ticket_id}/messages/")).to_have_count(1)
    expect(page.locator(".opblock-summary-method")).to_have_count(19)
