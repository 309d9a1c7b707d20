"""The agent's ticket page at work: it refreshes by itself without touching what the agent
types, its copilot column and reply box are in the first screen, and the shortcuts work (and
stay quiet in text fields)."""

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import Page, expect
from rest_framework.test import APIClient

from accounts.models import Team, User
from copilot.models import AnalysisStatus, MessageAnalysis
from recovery.catalogue import action_catalogue_ensure
from recovery.services import recommendations_propose
from tests.browser.conftest import log_in
from tests.factories import MessageAnalysisFactory, TicketFactory
from tickets.models import AuthorKind, Message, Status, Ticket

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREEN = {"width": 1440, "height": 900}
SHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"


def demo_like(ticket: Ticket, agent: User, team: Team, *, messages: int = 24) -> Ticket:
    """A long conversation as in the demo, analysed, with a draft, similar cases and proposals."""
    action_catalogue_ensure()
    solved = [
        TicketFactory(
            team=team,
            status=Status.SOLVED,
            subject=f"Parcel lost in transit, order {1000 + n}",
            resolution="We re-sent the parcel by express delivery and refunded the shipping.",
            solved_at=timezone.now(),
        )
        for n in range(3)
    ]
    for sequence in range(2, messages + 1):
        agent_turn = sequence % 2 == 0
        Message.objects.create(
            ticket=ticket,
            sequence=sequence,
            author_kind=AuthorKind.AGENT if agent_turn else AuthorKind.CUSTOMER,
            author_user=agent if agent_turn else None,
            author_name=agent.username if agent_turn else ticket.customer.name,
            body=(
                "Thanks for waiting, I am checking with the carrier now."
                if agent_turn
                else "It has been two weeks. The tracking page has said 'in transit' since "
                "the 3rd and nobody answers my e-mails. I want my money back."
            ),
            created_at=timezone.now(),
        )
    Ticket.objects.filter(pk=ticket.pk).update(transcript_version=messages)
    ticket.refresh_from_db()
    last = messages if messages % 2 else messages - 1
    analysis = MessageAnalysisFactory(
        ticket=ticket,
        transcript_version=last,
        message=ticket.messages.get(sequence=last),
        finished_at=timezone.now(),
        sentiment="negative",
        intent="where_is_my_order",
        conversation_level="frustrated",
        conversation_score=0.7,
        conversation_reasons=["Has asked three times", "Mentions a refund"],
        draft_reply=(
            "Hi [customer first name], I am sorry your parcel has not arrived. I have asked "
            "the carrier to trace it and sent a replacement by express delivery; you will have "
            "the tracking number by e-mail today. [agent name]"
        ),
        draft_reasons=[f"based on case #{solved[0].pk}"],
        # What the panel shows: the suggestions (the draft above is stored, not shown).
        selector_version="cosine",
        suggestions=[
            {
                "entry_id": 5,
                "text": "Hi {customer_first_name}, I am sorry your parcel has not arrived. I have "
                "asked the carrier to trace it and sent a replacement by express delivery.",
                "score": 0.8,
            }
        ],
        similar_cases=[
            {"ticket_id": t.pk, "similarity": 0.8 - n / 10} for n, t in enumerate(solved)
        ],
    )
    assert recommendations_propose(analysis=analysis)
    return ticket


def open_ticket(page: Page, live_server, agent: User, ticket: Ticket) -> None:
    page.set_viewport_size(SCREEN)
    log_in(page, live_server.url, agent)
    page.goto(f"{live_server.url}/tickets/{ticket.pk}/")


def in_viewport(page: Page, selector: str) -> None:
    box = page.locator(selector).first.bounding_box()
    assert box is not None, selector
    assert box["y"] >= 0 and box["y"] + box["height"] <= SCREEN["height"], (selector, box)
    assert box["x"] >= 0 and box["x"] + box["width"] <= SCREEN["width"], (selector, box)


def test_draft_first_proposal_and_reply_box_are_in_the_first_screen(
    live_server, page: Page, agent: User, team_a: Team, ticket_a: Ticket
) -> None:
    ticket = demo_like(ticket_a, agent, team_a)

    open_ticket(page, live_server, agent, ticket)

    expect(page.locator(".analysis .draft")).to_be_visible()
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "ticket-1440x900.png"))
    in_viewport(page, ".analysis .draft")
    in_viewport(page, "[data-shortcut='use']")
    in_viewport(page, ".analysis .draft-actions")
    in_viewport(page, ".recovery .recommendation")
    in_viewport(page, ".recovery form.decide button[value='approve']")
    in_viewport(page, f"#ticket-{ticket.pk}-reply textarea")
    in_viewport(page, f"#ticket-{ticket.pk}-reply button[type='submit']")
    # The transcript opens on its latest message, the page itself does not scroll away.
    in_viewport(page, f"#message-{ticket.messages.order_by('-sequence').first().pk}")
    # Similar cases are a line each, their resolution on demand.
    snippet = page.locator(".similar-case .resolution-snippet").first
    expect(snippet).to_be_hidden()
    page.locator(".similar-case summary").first.click(position={"x": 2, "y": 2})
    expect(snippet).to_be_visible()


def test_api_message_and_its_analysis_appear_live_and_the_typed_reply_stays(
    live_server,
    page: Page,
    agent: User,
    ticket_a: Ticket,
    api: Callable[[User], APIClient],
) -> None:
    open_ticket(page, live_server, agent, ticket_a)
    box = page.locator(f"#ticket-{ticket_a.pk}-reply textarea")
    box.fill("Hello, I am looking into it")
    box.press("End")

    response = api(agent).post(
        reverse("api:message-create", args=[ticket_a.pk]),
        {"body": "Any news about my parcel? Order 4711."},
        format="json",
    )
    assert response.status_code == 201

    transcript = page.locator(f"#ticket-{ticket_a.pk}-transcript")
    expect(transcript).to_contain_text("Any news about my parcel? Order 4711.", timeout=8_000)
    panel = page.locator(f"#ticket-{ticket_a.pk}-analysis")
    expect(panel.get_by_role("status")).to_have_text("Analysing the latest message…")
    # The worker's part, done here: the page shows the finished analysis by itself.
    MessageAnalysis.objects.filter(ticket=ticket_a).update(
        status=AnalysisStatus.DONE,
        finished_at=timezone.now(),
        sentiment="negative",
        sentiment_score=-0.6,
        sentiment_confidence=0.9,
        intent="where_is_my_order",
        intent_confidence=0.8,
        draft_reply="Hi [customer first name], your parcel is on its way.",
        selector_version="cosine",
        suggestions=[
            {
                "entry_id": 5,
                "text": "Hi {customer_first_name}, your parcel is on its way.",
                "score": 0.7,
            }
        ],
    )
    expect(panel.locator(".sentiment")).to_have_text("Negative", timeout=8_000)
    expect(panel.locator(".draft")).to_contain_text("your parcel is on its way")

    # What the agent typed, and where, is untouched by both refreshes.
    expect(box).to_have_value("Hello, I am looking into it")
    expect(box).to_be_focused()
    box.press_sequentially(" right now.")
    expect(box).to_have_value("Hello, I am looking into it right now.")


def test_shortcuts_work_and_stay_quiet_in_text_fields(
    live_server, page: Page, agent: User, team_a: Team, ticket_a: Ticket
) -> None:
    ticket = demo_like(ticket_a, agent, team_a, messages=5)
    neighbour = TicketFactory(team=team_a, subject="The next one in the inbox")
    page.set_viewport_size(SCREEN)
    log_in(page, live_server.url, agent)

    # The inbox: j picks a row, o opens it.
    page.goto(f"{live_server.url}/")
    rows = page.locator("#inbox-results tbody tr")
    page.keyboard.press("j")
    expect(rows.first).to_have_attribute("aria-selected", "true")
    page.keyboard.press("j")
    expect(rows.nth(1)).to_have_attribute("aria-selected", "true")
    page.keyboard.press("k")
    expect(rows.first).to_have_attribute("aria-selected", "true")
    first_id = rows.first.get_attribute("id").split("-")[-1]
    page.keyboard.press("o")
    expect(page).to_have_url(f"{live_server.url}/tickets/{first_id}/")
    assert {int(first_id)} <= {ticket.pk, neighbour.pk}

    page.goto(f"{live_server.url}/tickets/{ticket.pk}/")
    box = page.locator(f"#ticket-{ticket.pk}-reply textarea")

    # In the reply box the keys are text.
    page.keyboard.press("r")
    expect(box).to_be_focused()
    page.keyboard.type("a sure u")
    expect(box).to_have_value("a sure u")
    expect(page.locator(".recovery button[value='approve']").first).not_to_be_focused()
    # Esc leaves the field, its text kept; then the shortcuts work.
    page.keyboard.press("Escape")
    expect(box).not_to_be_focused()
    expect(box).to_have_value("a sure u")

    page.keyboard.press("?")
    expect(page.locator("#shortcuts")).to_be_visible()
    expect(page.locator("#shortcuts")).to_contain_text("Approve")
    page.keyboard.press("Escape")
    expect(page.locator("#shortcuts")).to_be_hidden()

    # a: the first proposal's Approve button takes the focus; nothing is decided yet.
    page.keyboard.press("a")
    approve = page.locator(".recovery form.decide button[value='approve']").first
    expect(approve).to_be_focused()
    assert not ticket.recommendations.exclude(status="proposed").exists()

    # s: Solved chosen, the cursor in the resolution; nothing sent.
    page.locator("body").click(position={"x": 5, "y": 5})
    page.keyboard.press("s")
    expect(page.locator(f"#ticket-{ticket.pk}-header select[name='status']")).to_have_value(
        "solved"
    )
    expect(page.locator(f"#ticket-{ticket.pk}-header [name='resolution']")).to_be_focused()
    ticket.refresh_from_db()
    assert ticket.status != Status.SOLVED

    # u: the first suggestion goes into the reply box (which had been emptied).
    box.fill("")
    page.locator("body").click(position={"x": 5, "y": 5})
    page.keyboard.press("u")
    expect(box).to_have_value(re.compile("parcel has not arrived"))

    # j/k on a ticket: the inbox's next ticket, as the inbox was last shown.
    page.locator("body").click(position={"x": 5, "y": 5})
    box.fill("")
    page.locator("body").click(position={"x": 5, "y": 5})
    order = page.evaluate("JSON.parse(sessionStorage.getItem('desk.inbox-order'))")
    at = order.index(str(ticket.pk))
    if at + 1 < len(order):
        page.keyboard.press("j")
        expect(page).to_have_url(f"{live_server.url}/tickets/{order[at + 1]}/")
    else:
        page.keyboard.press("k")
        expect(page).to_have_url(f"{live_server.url}/tickets/{order[at - 1]}/")
