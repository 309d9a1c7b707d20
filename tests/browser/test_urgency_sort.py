import pytest
from django.db import transaction
from playwright.sync_api import Page, expect

from accounts.models import User
from copilot.models import MessageAnalysis
from copilot.services.analysis import analysis_run
from copilot.services.intake import customer_message_receive
from tests.browser.conftest import log_in
from tests.factories import TicketFactory
from tickets.models import AuthorKind, Priority, Ticket
from tickets.services import message_append

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("copilot_dirs"),
]


def analysed(ticket: Ticket, *turns: tuple[str, str]) -> None:
    """Append the turns as they would arrive and analyse the customer's latest request."""
    for kind, body in turns:
        with transaction.atomic():
            if kind == AuthorKind.CUSTOMER:
                customer_message_receive(ticket=ticket, body=body)
            else:
                message_append(ticket=ticket, body=body, author_kind=kind)
    latest = MessageAnalysis.objects.filter(ticket=ticket).order_by("-transcript_version").first()
    assert latest is not None
    analysis_run(ticket_id=ticket.pk, transcript_version=latest.transcript_version)


def test_a_customer_leaving_after_a_polite_last_line_is_first_by_urgency_with_the_reason(
    live_server, page: Page, agent: User, ticket_a: Ticket
) -> None:
    # Like demo ticket #745: angry messages, a threat to leave, then a short closing line.
    analysed(
        ticket_a,
        (AuthorKind.CUSTOMER, "Bye AA. I have flown with you for ten years."),
        (AuthorKind.AGENT, "We're sorry to see you go."),
        (
            AuthorKind.CUSTOMER,
            "This $50 just cost you thousands of dollars moving forward. "
            "I hope your CEO learns from this!",
        ),
        (AuthorKind.CUSTOMER, "Thanks."),
    )
    calm_urgent = TicketFactory(team=ticket_a.team, priority=Priority.URGENT)
    analysed(calm_urgent, (AuthorKind.CUSTOMER, "Could you tell me your opening hours?"))
    log_in(page, live_server.url, agent)

    page.goto(f"{live_server.url}/?sort=urgency")

    first = page.locator("table.tickets tbody tr").first
    expect(first).to_have_id(f"ticket-row-{ticket_a.pk}")
    expect(first.locator(".conversation")).to_have_text("At risk of leaving")
    # The newest threat is the reason shown.
    expect(first.locator(".reason")).to_have_text(
        'threatens to leave or escalate: "cost you thousands"'
    )

    first.get_by_role("link", name=str(ticket_a.pk)).click()
    panel = page.locator(f"#ticket-{ticket_a.pk}-analysis")
    expect(panel.locator(".conversation")).to_have_text("At risk of leaving")
    expect(panel.locator(".conversation-reasons")).to_contain_text("cost you thousands")
