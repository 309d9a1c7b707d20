import pytest
from playwright.sync_api import Page, expect

from accounts.models import User
from tests.browser.conftest import log_in
from tickets.models import Ticket

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_admin_opts_a_customer_out_and_the_agents_ticket_page_follows(
    live_server, page: Page, admin_user: User, agent: User, ticket_a: Ticket
) -> None:
    log_in(page, live_server.url, agent)
    page.goto(f"{live_server.url}/tickets/{ticket_a.pk}/")
    expect(page.get_by_text("Opted out of")).to_have_count(0)

    log_in(page, live_server.url, admin_user)
    page.goto(f"{live_server.url}/privacy/")
    page.get_by_label("Search").fill(ticket_a.customer.name)
    page.get_by_role("link", name=ticket_a.customer.name).click()
    consent = page.locator(f"#customer-{ticket_a.customer_id}-consent")
    consent.get_by_label("Purpose").select_option("personalisation")
    consent.get_by_label("Decision").select_option("no")
    consent.get_by_label("Source").fill("phone")
    consent.get_by_role("button", name="Record").click()
    expect(consent.locator(".consent-personalisation")).to_have_text("Opted out")

    log_in(page, live_server.url, agent)
    page.goto(f"{live_server.url}/tickets/{ticket_a.pk}/")
    expect(page.get_by_role("note")).to_have_text("Opted out of: personalised recommendations.")
    expect(page.locator(f"#ticket-{ticket_a.pk}-recovery .opt-out")).to_contain_text(
        "opted out of personalisation"
    )
