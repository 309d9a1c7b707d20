import pytest
from playwright.sync_api import Page, expect

from accounts.models import User
from recovery.catalogue import action_catalogue_ensure
from recovery.models import Recommendation
from recovery.services import recommendations_propose
from tests.browser.conftest import log_in
from tests.factories import MessageAnalysisFactory
from tickets.models import Ticket

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_agent_rejects_with_a_reason_and_the_supervisor_sees_it_in_the_queue(
    live_server, page: Page, agent: User, supervisor: User, ticket_a: Ticket
) -> None:
    action_catalogue_ensure()
    analysis = MessageAnalysisFactory(
        ticket=ticket_a,
        sentiment="negative",
        sentiment_score=-0.8,
        intent="get_refund",
    )
    recommendations_propose(analysis=analysis)
    refund = Recommendation.objects.get(action__key="refund-partial")

    log_in(page, live_server.url, agent)
    page.goto(f"{live_server.url}/tickets/{ticket_a.pk}/")
    card = page.locator(f"#recommendation-{refund.pk}")
    expect(card).to_contain_text("Partial refund")
    card.get_by_label("Reason").fill("The parcel was delivered; tracking shows it signed for.")
    card.get_by_role("button", name="Reject").click()
    expect(page.locator(f"#recommendation-{refund.pk} .decision")).to_contain_text(
        "Rejected by alice"
    )

    log_in(page, live_server.url, supervisor)
    page.goto(f"{live_server.url}/supervision/")
    queue = page.locator("#override-queue")
    expect(queue).to_contain_text("Recommendation rejected")
    expect(queue).to_contain_text("The parcel was delivered; tracking shows it signed for.")
    expect(queue).to_contain_text("by alice")
