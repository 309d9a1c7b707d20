import datetime as dt

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from accounts.models import Team, User
from recovery.models import ProactiveDecision, ProactiveEntry
from recovery.proactive.queue import proactive_queue_refresh
from tests.browser.conftest import log_in
from tests.factories import CustomerFactory
from tests.recovery.test_proactive import opt_out, solved_ticket
from tickets.consent import ConsentPurpose
from tickets.models import AuthorKind, Message

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_supervisor_sees_reasons_sends_one_outreach_and_never_an_opted_out_customer(
    live_server, page: Page, supervisor: User, team_a: Team
) -> None:
    now = timezone.now()
    tickets = {}
    for name in ("Ada Reach", "Ben Reach", "Cy Optout"):
        customer = CustomerFactory(name=name)
        solved_ticket(
            customer=customer,
            team=team_a,
            created=now - dt.timedelta(days=20),
            intent="track_refund",
        )
        tickets[name] = solved_ticket(
            customer=customer,
            team=team_a,
            created=now - dt.timedelta(days=3),
            intent="track_refund",
        )
    opt_out(tickets["Cy Optout"].customer, ConsentPurpose.PROACTIVE)
    proactive_queue_refresh(now=now)

    log_in(page, live_server.url, supervisor)
    page.goto(f"{live_server.url}/")
    page.get_by_role("link", name="Proactive").click()

    entries = page.locator(".proactive-entry")
    expect(entries).to_have_count(2)
    for i in range(2):
        expect(entries.nth(i).locator(".proactive-reasons li").first).to_contain_text("write again")
        expect(entries.nth(i)).to_contain_text("Wrote 2 times about track refund")
    expect(page.get_by_text("Cy Optout")).to_have_count(0)
    expect(page.locator("#proactive-left-out")).to_contain_text("1 left out because they opted")

    entry = ProactiveEntry.objects.get(customer__name="Ada Reach")
    card = page.locator(f"#proactive-{entry.pk}")
    box = card.get_by_label("Message")
    # The agent's name is filled in for whoever opens the entry.
    expect(box).to_contain_text("Hi Ada,")
    expect(box).not_to_contain_text("{agent_name}")
    box.fill("Hi Ada, is your refund through now? Reply here if not.")
    card.get_by_role("button", name="Send").click()
    expect(card.locator(".proactive-outcome")).to_contain_text("Sent")

    sent = Message.objects.get(
        ticket=tickets["Ada Reach"], author_kind=AuthorKind.AGENT, sequence=3
    )
    assert sent.body == "Hi Ada, is your refund through now? Reply here if not."
    assert sent.author_user_id == supervisor.pk
    assert list(ProactiveDecision.objects.values_list("kind", flat=True)) == ["edited"]
    page.reload()
    expect(page.get_by_text("Cy Optout")).to_have_count(0)
