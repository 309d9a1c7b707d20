import re

import pytest
from playwright.sync_api import Page, expect

from accounts.models import User
from tickets.models import Ticket

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_agent_logs_in_opens_ticket_and_replies(
    live_server, page: Page, agent: User, ticket_a: Ticket
) -> None:
    page.goto(f"{live_server.url}/")
    expect(page).to_have_url(re.compile(r"/login/"))
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill("pw")
    page.get_by_role("button", name="Log in").click()

    expect(page.get_by_role("heading", name="Inbox")).to_be_visible()
    page.get_by_role("link", name="Parcel never arrived").click()
    expect(page.get_by_role("heading", name=f"#{ticket_a.pk} Parcel never arrived")).to_be_visible()

    reply = "A replacement is on its way <b>today</b>."
    page.get_by_label("Reply").fill(reply)
    page.get_by_role("button", name="Send reply").click()

    transcript = page.locator(f"#ticket-{ticket_a.pk}-transcript")
    expect(transcript.locator("li.author-agent .body")).to_have_text(reply)
    expect(page.get_by_label("Reply")).to_have_value("")  # a fresh reply box, no page reload
    ticket_a.refresh_from_db()
    assert ticket_a.transcript_version == 2
    assert ticket_a.messages.last().body == reply
