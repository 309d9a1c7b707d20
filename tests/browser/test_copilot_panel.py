import re

import pytest
from django.db import transaction
from playwright.sync_api import Page, expect

from accounts.models import User
from copilot.models import DraftDecision, DraftDecisionEvent
from copilot.services.cases import case_index_rebuild
from copilot.services.intake import customer_message_receive
from copilot.services.replies import reply_library_build
from tests.browser.conftest import log_in
from tests.factories import TicketFactory
from tests.worker import celery_worker
from tickets.models import AuthorKind, Message, Status, Ticket

pytestmark = [
    pytest.mark.browser,
    pytest.mark.worker,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("copilot_dirs", "empty_queue"),
]


def test_panel_fills_in_live_and_agent_uses_a_suggestion(
    live_server, page: Page, agent: User, ticket_a: Ticket, tmp_path
) -> None:
    case = TicketFactory(
        team=ticket_a.team,
        status=Status.SOLVED,
        solved_at=ticket_a.created_at,
        subject="Lost parcel",
        first_message="My order has not arrived, my parcel never came.",
        resolution="We have sent a replacement parcel by express delivery.",
    )
    Message.objects.create(
        ticket=case,
        sequence=2,
        author_kind=AuthorKind.AGENT,
        body=case.resolution,
        created_at=ticket_a.created_at,
    )
    agent.first_name = "Alice"
    agent.save(update_fields=["first_name"])
    case_index_rebuild(progress=None)
    reply_library_build()
    with transaction.atomic():
        customer_message_receive(
            ticket=ticket_a,
            body="This is awful. My parcel never came and nobody answers. Order 55123.",
        )
    log_in(page, live_server.url, agent)

    page.goto(f"{live_server.url}/tickets/{ticket_a.pk}/")
    panel = page.locator(f"#ticket-{ticket_a.pk}-analysis")
    expect(panel.get_by_role("status")).to_have_text("Analysing the latest message…")

    # The worker starts only now: the panel must fill in by itself, without a reload.
    with celery_worker(tmp_path / "worker.log"):
        expect(panel.locator(".sentiment")).to_have_text("Negative", timeout=60_000)
    expect(panel.get_by_role("link", name=f"#{case.pk} Lost parcel")).to_be_visible()
    # The suggestion, from the library built from the team's past replies.
    expect(panel.locator("li.suggestion .draft")).to_contain_text("express delivery")
    expect(panel.get_by_text("Drafted reply")).to_have_count(0)

    panel.get_by_role("button", name="Use").click()

    # Use fills the reply box, signed by the agent, and gives it the cursor: nothing is sent.
    box = page.locator(f"#ticket-{ticket_a.pk}-reply textarea")
    expect(box).to_be_focused()
    expect(box).to_have_value(re.compile(r"express delivery(.|\n)*\n\nAlice$"))
    transcript = page.locator(f"#ticket-{ticket_a.pk}-transcript")
    expect(transcript.locator("li.author-agent")).to_have_count(0)
    assert not DraftDecisionEvent.objects.exists()

    box.press("End")
    box.type(" Tracking: XY12.")
    page.get_by_role("button", name="Send reply").click()

    expect(transcript.locator("li.author-agent .body")).to_contain_text("Tracking: XY12.")
    expect(panel.locator(".decision")).to_contain_text("Edited by alice")
    event = DraftDecisionEvent.objects.get()
    assert (event.decision, event.agent) == (DraftDecision.EDITED, agent)
    assert ticket_a.messages.last().body == event.final_text
    assert event.final_text.endswith("Alice Tracking: XY12.")
