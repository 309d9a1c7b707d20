"""Done-when for suggested replies: a real demo conversation of one company (British Airways,
from data/demo/tickets.jsonl) shows up to three suggestions in that company's voice, with the
customer's own name and no one else's; Use puts one in the reply box without sending, the
agent edits it and sends it.

The demo lines are imported as they ship (BA's whole history, and Delta's, another airline of
the same team), the library and the case index are built from the shipped vectors, and the
open ticket is analysed in-process, so the test needs no worker (about 15 s, most of it the
encoder loading)."""

import json
import re
from pathlib import Path

import pytest
from django.conf import settings
from playwright.sync_api import Page, expect
from pytest_django.fixtures import Settings

from accounts.models import Role, Team, User
from copilot.engine import reset_engine
from copilot.models import DraftDecision, DraftDecisionEvent, MessageAnalysis, ReplyEntry
from copilot.selectors import suggestion_texts_for_agent
from copilot.services.analysis import analysis_request, analysis_run
from copilot.services.cases import case_index_rebuild, case_vectors_load
from copilot.services.replies import reply_library_build
from tests.browser.conftest import log_in
from tests.factories import UserFactory
from tickets.importing import records_validate, tickets_import
from tickets.models import AuthorKind, Customer, Ticket

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("copilot_dirs"),
]

DEMO = Path(settings.BASE_DIR) / "data" / "demo"
BA = "British_Airways"
# A real BA thread: the customer's flight was cancelled and they ask about an upgrade.
THREAD = "twcs-872"


def demo_lines(*companies: str) -> list[tuple[int, dict[str, object]]]:
    with (DEMO / "tickets.jsonl").open(encoding="utf-8") as fh:
        records = [json.loads(line) for line in fh]
    return [(i, r) for i, r in enumerate(records, start=1) if r["company"] in companies]


@pytest.fixture(autouse=True)
def shipped_selector(settings: Settings) -> None:
    """As a fresh install ranks: with the shipped selector (the test settings turn it off)."""
    settings.COPILOT_SELECTOR_SHIPPED = True
    reset_engine()


@pytest.fixture
def ba_desk() -> tuple[Ticket, User]:
    valid, problems = records_validate(iter(demo_lines(BA, "Delta")))
    assert problems == []
    tickets_import(records=valid, source="demo")
    case_vectors_load(path=DEMO / "case_vectors.npz")
    case_index_rebuild(progress=None)
    reply_library_build(vectors_path=DEMO / "reply_vectors.npz")
    ticket = Ticket.objects.select_related("customer").get(external_id=THREAD)
    team = Team.objects.get(pk=ticket.team_id)
    agent = UserFactory(username="maya", first_name="Maya", role=Role.AGENT, teams=[team])
    last_request = ticket.messages.filter(author_kind=AuthorKind.CUSTOMER).last()
    assert last_request is not None
    analysis = analysis_request(message=last_request, queue=False)
    analysis_run(ticket_id=ticket.pk, transcript_version=analysis.transcript_version)
    return ticket, agent


def test_a_ba_conversation_gets_ba_suggestions_with_its_customers_name_use_edit_send(
    live_server, page: Page, ba_desk: tuple[Ticket, User]
) -> None:
    ticket, agent = ba_desk
    analysis = MessageAnalysis.objects.filter(ticket=ticket).latest("transcript_version")
    entries = ReplyEntry.objects.filter(pk__in=[s["entry_id"] for s in analysis.suggestions])
    assert 1 <= len(analysis.suggestions) <= 3
    assert set(entries.values_list("company", flat=True)) == {BA}  # BA's voice only
    assert ReplyEntry.objects.filter(company="Delta").exists()  # though Delta's were there
    first_name = ticket.customer.name.split()[0]
    expected = suggestion_texts_for_agent(analysis=analysis, agent=agent)
    others = {
        word
        for name in Customer.objects.exclude(pk=ticket.customer_id).values_list("name", flat=True)
        for word in name.split()
    } - set(ticket.customer.name.split())

    log_in(page, live_server.url, agent)
    page.goto(f"{live_server.url}/tickets/{ticket.pk}/")
    expect(page.locator(f"#ticket-{ticket.pk}-header .company")).to_have_text(BA)
    panel = page.locator(f"#ticket-{ticket.pk}-analysis")
    suggestions = panel.locator("li.suggestion")
    expect(suggestions).to_have_count(len(expected))
    shown = suggestions.locator(".draft").all_inner_texts()
    assert any(first_name in text for text in shown)  # the customer's own name...
    for text in shown:
        assert not set(re.findall(r"[A-Z][a-z]+", text)) & others, text  # ...and no one else's
        assert "Delta" not in text

    panel.get_by_role("button", name="Use").first.click()

    box = page.locator(f"#ticket-{ticket.pk}-reply textarea")
    expect(box).to_be_focused()
    expect(box).to_have_value(expected[0])
    transcript = page.locator(f"#ticket-{ticket.pk}-transcript")
    agent_replies = transcript.locator("li.author-agent")
    replies_before = ticket.messages.filter(author_kind=AuthorKind.AGENT).count()
    expect(agent_replies).to_have_count(replies_before)  # Use never sends
    assert not DraftDecisionEvent.objects.exists()

    # A slot nothing on this ticket fills stays marked: the agent fills it in while editing.
    edited = re.sub(r"\[[a-z ]+\]", "your booking", expected[0])
    edited = edited.replace("\n\nMaya", " We can quote you an upgrade instead.\n\nMaya")
    box.fill(edited)
    page.get_by_role("button", name="Send reply").click()

    expect(agent_replies).to_have_count(replies_before + 1)
    expect(agent_replies.last.locator(".body")).to_contain_text("quote you an upgrade instead")
    sent = ticket.messages.filter(author_kind=AuthorKind.AGENT).last()
    assert sent is not None and sent.body == edited
    event = DraftDecisionEvent.objects.get()
    assert (event.decision, event.final_text, event.agent) == (DraftDecision.EDITED, edited, agent)
    assert event.suggestion_entry_id == analysis.suggestions[0]["entry_id"]
