"""The fragments the ticket page polls every 2 s read only what they show: their query count is
exact, and the same for a short and a long transcript."""

from collections.abc import Callable

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import Team, User
from copilot.models import MessageAnalysis
from copilot.services.drafts import draft_discard
from recovery.catalogue import action_catalogue_ensure
from recovery.models import RecommendationStatus
from recovery.services import recommendation_approve, recommendations_propose
from tests.factories import MessageAnalysisFactory, TicketFactory
from tickets.models import AuthorKind, Message, Status, Ticket

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}


def busy_ticket(ticket: Ticket, agent: User, team: Team, *, messages: int) -> Ticket:
    """A ticket as agents see it mid-conversation: `messages` messages from both sides, an
    analysis with similar cases and a discarded draft, recovery proposals with one approved
    action being carried out, and a newer analysis still pending (so both panels poll)."""
    action_catalogue_ensure()
    solved = [
        TicketFactory(
            team=team, status=Status.SOLVED, resolution="Re-sent.", solved_at=timezone.now()
        )
        for _ in range(3)
    ]
    for sequence in range(2, messages + 1):
        agent_turn = sequence % 2 == 0
        Message.objects.create(
            ticket=ticket,
            sequence=sequence,
            author_kind=AuthorKind.AGENT if agent_turn else AuthorKind.CUSTOMER,
            author_user=agent if agent_turn else None,
            author_name=agent.username if agent_turn else ticket.customer.name,
            body=f"Message {sequence}",
            created_at=timezone.now(),
        )
    last_customer = messages if messages % 2 else messages - 1
    Ticket.objects.filter(pk=ticket.pk).update(transcript_version=messages)
    ticket.refresh_from_db()
    done = MessageAnalysisFactory(
        ticket=ticket,
        transcript_version=last_customer - 2,
        finished_at=timezone.now(),
        sentiment="negative",
        intent="get_refund",
        draft_reply="Hi, we are sorry. [agent name]",
        draft_reasons=["based on a similar case"],
        similar_cases=[{"ticket_id": t.pk, "similarity": 0.8} for t in solved],
        suggestions=[
            {
                "entry_id": 1,
                "text": "Hi {customer_first_name}, re-sent {order_number}.",
                "score": 0.7,
            },
            {"entry_id": 2, "text": "Sorry, {customer_first_name}. {agent_name}", "score": 0.5},
        ],
        selector_version="cosine",
    )
    proposals = recommendations_propose(analysis=done)
    approved = recommendation_approve(
        recommendation=proposals[0], user=agent, amount=proposals[0].amount, currency="EUR"
    )
    draft_discard(analysis=done, agent=agent)
    MessageAnalysis.objects.create(
        ticket=ticket,
        transcript_version=last_customer,
        message=ticket.messages.get(sequence=last_customer),
        requested_at=timezone.now(),
    )
    assert len(proposals) > 1
    assert approved.status == RecommendationStatus.APPROVED
    return ticket


# session, user, groups, teams, ticket; the analyses (latest, shown), similar cases (tickets,
# their customers, staff names, their messages' names), the decision with its agent, the
# customer's last message, the customer's messages that fill the suggestions' slots (one, for
# all of them); the recovery panel's recommendations, consent, actions, and whether a finished
# analysis still awaits its proposals (then the section keeps polling).
COPILOT_PANEL_QUERIES = 18
# session, user, groups, teams, ticket; recommendations, consent, actions, proposals awaited.
RECOVERY_PANEL_QUERIES = 9


@pytest.mark.parametrize("messages", [6, 60])
def test_polled_copilot_panel_reads_the_same_whatever_the_transcript_length(
    login: Callable[[User], Client],
    agent: User,
    team_a: Team,
    ticket_a: Ticket,
    messages: int,
    django_assert_num_queries,
) -> None:
    ticket = busy_ticket(ticket_a, agent, team_a, messages=messages)
    client = login(agent)

    with django_assert_num_queries(COPILOT_PANEL_QUERIES):
        response = client.get(reverse("desk:copilot-panel", args=[ticket.pk]), **HX)

    content = response.content.decode()
    assert response.status_code == 200
    assert content.lstrip().startswith(f'<section id="ticket-{ticket.pk}-analysis"')
    assert 'hx-trigger="every 2s"' in content  # pending: it keeps polling
    assert "Discarded by alice" in content
    assert 're-sent <mark class="slot">[order number]</mark>.' in content  # filled, marked
    assert f'id="ticket-{ticket.pk}-recovery"' in content  # out of band
    assert f'id="ticket-{ticket.pk}-transcript"' not in content


@pytest.mark.parametrize("messages", [6, 60])
def test_polled_recovery_panel_reads_the_same_whatever_the_transcript_length(
    login: Callable[[User], Client],
    agent: User,
    team_a: Team,
    ticket_a: Ticket,
    messages: int,
    django_assert_num_queries,
) -> None:
    ticket = busy_ticket(ticket_a, agent, team_a, messages=messages)
    client = login(agent)

    with django_assert_num_queries(RECOVERY_PANEL_QUERIES):
        response = client.get(reverse("desk:recovery-panel", args=[ticket.pk]), **HX)

    content = response.content.decode()
    assert response.status_code == 200
    assert content.lstrip().startswith(f'<section id="ticket-{ticket.pk}-recovery"')
    assert 'hx-trigger="every 2s"' in content  # an approved action runs: it keeps polling
    assert f'id="ticket-{ticket.pk}-analysis"' not in content


def test_ticket_page_query_count_does_not_grow_with_the_transcript(
    login: Callable[[User], Client],
    agent: User,
    team_a: Team,
) -> None:
    short = busy_ticket(TicketFactory(team=team_a), agent, team_a, messages=6)
    long = busy_ticket(TicketFactory(team=team_a), agent, team_a, messages=60)
    client = login(agent)
    counts = []
    for ticket in (short, long):
        with CaptureQueriesContext(connection) as queries:
            response = client.get(reverse("desk:ticket", args=[ticket.pk]))
        assert response.status_code == 200
        counts.append(len(queries))

    assert counts[0] == counts[1]
