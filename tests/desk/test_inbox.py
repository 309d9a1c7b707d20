"""The copilot's reading of each ticket in the inbox: signals shown, sort by urgency."""

from collections.abc import Callable
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import Team, User
from copilot.models import TicketInsight
from tests.factories import CustomerFactory, MessageAnalysisFactory, TicketFactory
from tickets.models import Priority, Ticket

pytestmark = pytest.mark.django_db


def read_as(ticket: Ticket, sentiment: str, intent: str = "") -> None:
    analysis = MessageAnalysisFactory(
        ticket=ticket,
        sentiment=sentiment,
        intent=intent,
    )
    TicketInsight.objects.create(
        ticket=ticket, analysis=analysis, transcript_version=1, sentiment=sentiment, intent=intent
    )


def test_inbox_shows_sentiment_and_intent(
    login: Callable[[User], Client], agent: User, ticket_a: Ticket, team_a: Team
) -> None:
    read_as(ticket_a, "negative", "track_order")
    unsure = TicketFactory(team=team_a)
    read_as(unsure, "neutral", "unsure")
    TicketFactory(team=team_a)  # not analysed yet

    response = login(agent).get(reverse("desk:inbox"), HTTP_HX_REQUEST="true")

    row = response.content.decode().split(f'id="ticket-row-{ticket_a.pk}"')[1].split("</tr>")[0]
    assert 'class="sentiment sentiment-negative">Negative' in row and ">Track order<" in row
    other = response.content.decode().split(f'id="ticket-row-{unsure.pk}"')[1].split("</tr>")[0]
    assert ">Unsure<" in other


def test_sort_by_urgency_puts_unhappy_then_priority_then_value_then_oldest(
    login: Callable[[User], Client], agent: User, team_a: Team
) -> None:
    earlier = timezone.now() - timezone.timedelta(hours=5)
    rich = CustomerFactory(lifetime_spend=Decimal("9000"))
    calm_urgent = TicketFactory(team=team_a, priority=Priority.URGENT)
    angry_low = TicketFactory(team=team_a, priority=Priority.LOW)
    angry_normal_rich = TicketFactory(team=team_a, customer=rich)
    angry_normal_old = TicketFactory(team=team_a, created_at=earlier, last_message_at=earlier)
    angry_normal = TicketFactory(team=team_a)
    unread = TicketFactory(team=team_a)
    for ticket in (angry_low, angry_normal_rich, angry_normal_old, angry_normal):
        read_as(ticket, "negative")
    read_as(calm_urgent, "positive")

    response = login(agent).get(reverse("desk:inbox"), {"sort": "urgency"})

    assert [t.pk for t in response.context["page"]] == [
        angry_normal_rich.pk,
        angry_normal_old.pk,
        angry_normal.pk,
        angry_low.pk,
        calm_urgent.pk,
        unread.pk,
    ]
