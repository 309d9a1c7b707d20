"""The reply box in a real browser: Use fills it and focuses it without sending, a slot still
to fill is refused, and the keyboard shortcuts work but never fire while typing."""

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from accounts.models import User
from copilot.models import DraftDecision, DraftDecisionEvent
from tests.browser.conftest import log_in
from tests.factories import MessageAnalysisFactory
from tickets.models import Ticket

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DRAFT = "Hi Ann, your parcel [order number] has been re-sent.\n\nBest,\n[agent name]"
# The panel shows the suggestions (the single draft above stays stored, not shown).
SUGGESTED = (
    "Hi {customer_first_name}, your parcel {order_number} has been re-sent.\n\nBest,\n{agent_name}"
)


@pytest.fixture
def drafted(ticket_a: Ticket, agent: User) -> Ticket:
    agent.first_name = "Alice"
    agent.save(update_fields=["first_name"])
    ticket_a.customer.name = "Ann Lee"
    ticket_a.customer.save(update_fields=["name"])
    MessageAnalysisFactory(
        ticket=ticket_a,
        finished_at=timezone.now(),
        draft_reply=DRAFT,
        duration_ms=40,
        selector_version="cosine",
        suggestions=[{"entry_id": 3, "text": SUGGESTED, "score": 0.8}],
    )
    return ticket_a


def test_use_fills_and_focuses_the_reply_box_and_an_unfilled_slot_cannot_be_sent(
    live_server, page: Page, agent: User, drafted: Ticket
) -> None:
    log_in(page, live_server.url, agent)
    page.goto(f"{live_server.url}/tickets/{drafted.pk}/")
    panel = page.locator(f"#ticket-{drafted.pk}-analysis")
    expect(panel.locator("mark.slot")).to_have_text(["[order number]"])

    panel.get_by_role("button", name="Use").click()

    box = page.locator(f"#ticket-{drafted.pk}-reply textarea")
    expect(box).to_be_focused()
    expect(box).to_have_value(
        "Hi Ann, your parcel [order number] has been re-sent.\n\nBest,\nAlice"
    )
    transcript = page.locator(f"#ticket-{drafted.pk}-transcript")
    expect(transcript.locator("li.author-agent")).to_have_count(0)

    # The marker is selected: sending it as it is is refused, under the box, naming it.
    page.get_by_role("button", name="Send reply").click()
    form = page.locator(f"#ticket-{drafted.pk}-reply")
    expect(form.get_by_role("alert")).to_contain_text("Fill in [order number] before sending")
    expect(transcript.locator("li.author-agent")).to_have_count(0)

    box.fill(box.input_value().replace("[order number]", "4411"))
    page.get_by_role("button", name="Send reply").click()

    expect(transcript.locator("li.author-agent .body")).to_contain_text("parcel 4411")
    event = DraftDecisionEvent.objects.get()
    assert (event.decision, event.final_text) == (
        DraftDecision.EDITED,
        "Hi Ann, your parcel 4411 has been re-sent.\n\nBest,\nAlice",
    )


def test_shortcuts_overlay_reply_and_use_and_not_while_typing(
    live_server, page: Page, agent: User, drafted: Ticket
) -> None:
    log_in(page, live_server.url, agent)
    page.goto(f"{live_server.url}/tickets/{drafted.pk}/")
    overlay = page.locator("#shortcuts")
    expect(overlay).to_be_hidden()

    page.keyboard.press("?")
    expect(overlay).to_be_visible()
    expect(overlay).to_contain_text("Reply: go to the reply box")
    page.keyboard.press("Escape")
    expect(overlay).to_be_hidden()

    page.keyboard.press("r")
    box = page.locator(f"#ticket-{drafted.pk}-reply textarea")
    expect(box).to_be_focused()
    expect(box).to_have_value("")

    # Inside a field the keys are text: "r", "u" and "?" are typed, nothing else happens.
    page.keyboard.type("ru?")
    expect(box).to_have_value("ru?")
    expect(overlay).to_be_hidden()
    assert not DraftDecisionEvent.objects.exists()

    box.blur()
    page.keyboard.press("u")
    expect(box).to_be_focused()
    expect(box).to_have_value(
        "Hi Ann, your parcel [order number] has been re-sent.\n\nBest,\nAlice"
    )
    expect(page.locator(f"#ticket-{drafted.pk}-transcript li.author-agent")).to_have_count(0)


def test_suggestions_show_the_customers_name_u_inserts_the_first_n_the_next_then_edit_and_send(
    live_server, page: Page, agent: User, ticket_a: Ticket
) -> None:
    agent.first_name = "Alice"
    agent.save(update_fields=["first_name"])
    ticket_a.customer.name = "Ann Lee"
    ticket_a.customer.save(update_fields=["name"])
    MessageAnalysisFactory(
        ticket=ticket_a,
        finished_at=timezone.now(),
        draft_reply=DRAFT,
        duration_ms=40,
        selector_version="cosine",
        suggestions=[
            {"entry_id": 7, "text": "Hi {customer_first_name}, it is re-sent.", "score": 0.8},
            {"entry_id": 9, "text": "Sorry {customer_first_name}, we refund it.", "score": 0.6},
        ],
    )
    log_in(page, live_server.url, agent)
    page.goto(f"{live_server.url}/tickets/{ticket_a.pk}/")
    panel = page.locator(f"#ticket-{ticket_a.pk}-analysis")
    expect(panel.locator("li.suggestion")).to_have_count(2)
    expect(panel.locator("li.suggestion").first).to_contain_text("Hi Ann, it is re-sent.")

    page.keyboard.press("u")
    box = page.locator(f"#ticket-{ticket_a.pk}-reply textarea")
    expect(box).to_have_value("Hi Ann, it is re-sent.\n\nAlice")
    box.press("Escape")
    page.keyboard.press("n")
    expect(box).to_have_value("Sorry Ann, we refund it.\n\nAlice")
    page.keyboard.press("r")
    box.fill(box.input_value().replace("we refund it", "we refund it today"))
    page.get_by_role("button", name="Send reply").click()

    transcript = page.locator(f"#ticket-{ticket_a.pk}-transcript")
    expect(transcript.locator("li.author-agent .body")).to_contain_text("refund it today")
    event = DraftDecisionEvent.objects.get()
    assert (event.decision, event.suggestion_entry_id) == (DraftDecision.EDITED, 9)
