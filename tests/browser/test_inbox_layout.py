"""The inbox on a phone: no horizontal scroll; saving a view works in place."""

import pytest
from playwright.sync_api import Page, expect

from accounts.models import User
from desk.models import SavedView
from tests.browser.conftest import log_in
from tests.factories import CustomerFactory, TicketFactory
from tickets.models import Priority, Ticket

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_inbox_at_a_phones_width_has_no_horizontal_scroll(
    live_server, page: Page, agent: User, ticket_a: Ticket
) -> None:
    long_name = CustomerFactory(name="Maximiliana Wolfeschlegelsteinhausenbergerdorff")
    TicketFactory(
        team=ticket_a.team,
        customer=long_name,
        priority=Priority.URGENT,
        subject="My order #4411 never arrived and nobody answers " * 3,
    )
    log_in(page, live_server.url, agent)
    page.set_viewport_size({"width": 390, "height": 844})

    page.goto(f"{live_server.url}/")

    expect(page.locator(f"#ticket-row-{ticket_a.pk}")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390


def test_saving_the_current_filters_adds_a_view_in_place(
    live_server, page: Page, agent: User, ticket_a: Ticket
) -> None:
    log_in(page, live_server.url, agent)
    page.goto(f"{live_server.url}/?priority=urgent")

    page.get_by_label("Save these filters as a view").fill("Urgent ones")
    page.get_by_role("button", name="Save").click()

    expect(page.locator("#inbox-views a.current")).to_have_text("Urgent ones")
    assert SavedView.objects.get(owner=agent).query == "priority=urgent"
