"""The customer's state across the conversation, stored with the analysis and the inbox insight,
shown on the panel and in the inbox, and first in the urgency sort."""

from collections.abc import Callable

import pytest
from django.db import transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import Team, User
from copilot.models import MessageAnalysis, TicketInsight
from copilot.selectors import customer_repeat_contacts
from copilot.services.analysis import analysis_run
from copilot.services.intake import customer_message_receive
from tests.factories import MessageAnalysisFactory, TicketFactory
from tickets.models import AuthorKind, Priority, Ticket
from tickets.services import message_append

pytestmark = pytest.mark.django_db

LEAVING = (
    "Bye AA. This $50 just cost you thousands of dollars moving forward. "
    "I hope your CEO learns from this!"
)


def say(ticket: Ticket, body: str, kind: str = AuthorKind.CUSTOMER) -> None:
    with transaction.atomic():
        if kind == AuthorKind.CUSTOMER:
            customer_message_receive(ticket=ticket, body=body)
        else:
            message_append(ticket=ticket, body=body, author_kind=kind)


@pytest.mark.usefixtures("copilot_dirs")
def test_insight_carries_the_conversation_level_after_a_sarcastic_thanks(
    ticket_a: Ticket,
) -> None:
    say(ticket_a, LEAVING)
    say(ticket_a, "We are sorry to hear that.", AuthorKind.AGENT)
    say(ticket_a, "Thanks.")
    latest = MessageAnalysis.objects.get(ticket=ticket_a, transcript_version=4)

    analysis = analysis_run(ticket_id=ticket_a.pk, transcript_version=latest.transcript_version)

    assert analysis is not None
    assert analysis.conversation_level == "at_risk"
    assert analysis.conversation_score is not None and analysis.conversation_score >= 0.85
    assert analysis.conversation_reasons[0] == 'threatens to leave or escalate: "Bye AA"'
    insight = TicketInsight.objects.get(ticket=ticket_a)
    assert (insight.conversation_level, insight.transcript_version) == ("at_risk", 4)
    assert insight.conversation_score == analysis.conversation_score


def test_repeat_contacts_count_the_customers_other_recent_tickets_of_the_same_intent(
    team_a: Team,
) -> None:
    ticket = TicketFactory(team=team_a)
    customer = ticket.customer
    TicketFactory(team=team_a, customer=customer, intent="track_order")
    read = TicketFactory(team=team_a, customer=customer)
    TicketInsight.objects.create(
        ticket=read,
        analysis=MessageAnalysisFactory(ticket=read, intent="track_order"),
        transcript_version=1,
        intent="track_order",
    )
    TicketFactory(team=team_a, customer=customer, intent="recover_password")
    long_ago = timezone.now() - timezone.timedelta(days=90)
    TicketFactory(team=team_a, customer=customer, intent="track_order", created_at=long_ago)
    TicketFactory(team=team_a, intent="track_order")  # another customer

    assert customer_repeat_contacts(ticket=ticket, intent="track_order") == 2
    assert customer_repeat_contacts(ticket=ticket, intent="unsure") == 0


def read_as(ticket: Ticket, *, sentiment: str, level: str, reasons: list[str]) -> None:
    analysis = MessageAnalysisFactory(
        ticket=ticket,
        sentiment=sentiment,
        conversation_level=level,
        conversation_reasons=reasons,
    )
    TicketInsight.objects.create(
        ticket=ticket,
        analysis=analysis,
        transcript_version=1,
        sentiment=sentiment,
        conversation_level=level,
    )


def test_urgency_sort_puts_a_conversation_at_risk_before_a_calm_one(
    login: Callable[[User], Client], agent: User, team_a: Team
) -> None:
    calm_urgent = TicketFactory(team=team_a, priority=Priority.URGENT)
    negative_last = TicketFactory(team=team_a)
    frustrated = TicketFactory(team=team_a)
    # Its last message reads positive ("Thanks."): the conversation decides, not that line.
    leaving = TicketFactory(team=team_a, priority=Priority.LOW)
    read_as(calm_urgent, sentiment="neutral", level="calm", reasons=[])
    read_as(negative_last, sentiment="negative", level="concerned", reasons=[])
    read_as(frustrated, sentiment="neutral", level="frustrated", reasons=['still waiting: "x"'])
    read_as(
        leaving,
        sentiment="positive",
        level="at_risk",
        reasons=['threatens to leave or escalate: "Bye AA"'],
    )

    response = login(agent).get(reverse("desk:inbox"), {"sort": "urgency"})

    assert [t.pk for t in response.context["page"]] == [
        leaving.pk,
        frustrated.pk,
        negative_last.pk,
        calm_urgent.pk,
    ]
    html = response.content.decode()
    row = html.split(f'id="ticket-row-{leaving.pk}"')[1].split("</tr>")[0]
    assert 'class="conversation conversation-at_risk"' in row
    assert "At risk of leaving" in row
    assert "threatens to leave or escalate: &quot;Bye AA&quot;" in row


def test_panel_shows_the_customer_state_and_why(
    login: Callable[[User], Client], agent: User, ticket_a: Ticket
) -> None:
    MessageAnalysisFactory(
        ticket=ticket_a,
        message=ticket_a.messages.get(),
        sentiment="positive",
        conversation_level="frustrated",
        conversation_score=0.5,
        conversation_reasons=['angry words: "ridiculous"', 'still waiting: "still waiting"'],
    )

    response = login(agent).get(
        reverse("desk:copilot-panel", args=[ticket_a.pk]), HTTP_HX_REQUEST="true"
    )

    text = " ".join(response.content.decode().split())
    assert '<span class="conversation conversation-frustrated">Frustrated</span>' in text
    assert "<li>angry words: &quot;ridiculous&quot;</li>" in text
    assert "<li>still waiting: &quot;still waiting&quot;</li>" in text
