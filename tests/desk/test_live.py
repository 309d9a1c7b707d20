"""The open ticket page asks every few seconds whether anything changed: a 204 from one query
on the ticket row when nothing did, the fragments that moved (out of band) when some did."""

from collections.abc import Callable

import pytest
from django.db import transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import Team, User
from copilot.models import AnalysisStatus, MessageAnalysis
from copilot.services.intake import customer_message_receive, ticket_status_change
from tests.desk.test_fragment_queries import busy_ticket
from tickets.models import Status, Ticket

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}

# session, user, groups (the role check), then the user's teams and the ticket row with its
# stamps (one query, whatever the transcript's length).
NOTHING_CHANGED_QUERIES = 5


def stamps(client: Client, ticket: Ticket) -> dict[str, str]:
    """The stamps the page was rendered with, as its script sends them."""
    page = client.get(reverse("desk:ticket", args=[ticket.pk]))
    live = page.context["live"].as_dict()
    assert f'data-live-version="{live["header"]}"' in page.content.decode()
    assert f'data-live-version="{live["transcript"]}"' in page.content.decode()
    return live


def live_url(ticket: Ticket) -> str:
    return reverse("desk:ticket-live", args=[ticket.pk])


@pytest.mark.parametrize("messages", [6, 60])
def test_poll_when_nothing_changed_is_a_204_from_one_query_after_the_teams(
    login: Callable[[User], Client],
    agent: User,
    team_a: Team,
    ticket_a: Ticket,
    messages: int,
    django_assert_num_queries,
) -> None:
    ticket = busy_ticket(ticket_a, agent, team_a, messages=messages)
    client = login(agent)
    known = stamps(client, ticket)

    with django_assert_num_queries(NOTHING_CHANGED_QUERIES):
        response = client.get(live_url(ticket), known, **HX)

    assert response.status_code == 204
    assert response.content == b""


def test_a_new_customer_message_sends_the_transcript_header_and_panel_not_the_reply_box(
    login: Callable[[User], Client], agent: User, ticket_a: Ticket
) -> None:
    client = login(agent)
    known = stamps(client, ticket_a)
    with transaction.atomic():
        customer_message_receive(ticket=ticket_a, body="Where is my parcel? Order 4711.")

    response = client.get(live_url(ticket_a), known, **HX)

    content = response.content.decode()
    assert response.status_code == 200
    assert "Where is my parcel? Order 4711." in content
    assert f'<ol id="ticket-{ticket_a.pk}-transcript"' in content
    assert f'id="ticket-{ticket_a.pk}-header"' in content
    # The new analysis is pending: the panel says so, and polls itself.
    assert f'id="ticket-{ticket_a.pk}-copilot-live"' in content
    assert "Analysing the latest message" in content
    assert content.count('hx-swap-oob="true"') == 3
    assert f'id="ticket-{ticket_a.pk}-reply"' not in content
    assert f'id="ticket-{ticket_a.pk}-recovery-live"' not in content


def test_a_finished_analysis_sends_the_panel_alone(
    login: Callable[[User], Client], agent: User, ticket_a: Ticket
) -> None:
    with transaction.atomic():
        customer_message_receive(ticket=ticket_a, body="Where is my parcel?")
    client = login(agent)
    known = stamps(client, ticket_a)
    MessageAnalysis.objects.filter(ticket=ticket_a).update(
        status=AnalysisStatus.DONE, finished_at=timezone.now(), sentiment="negative"
    )

    response = client.get(live_url(ticket_a), known, **HX)

    content = response.content.decode()
    assert response.status_code == 200
    assert f'id="ticket-{ticket_a.pk}-copilot-live"' in content
    assert "Analysing the latest message" not in content
    assert f'id="ticket-{ticket_a.pk}-transcript"' not in content
    assert f'id="ticket-{ticket_a.pk}-header"' not in content


def test_a_status_change_elsewhere_sends_the_header_alone(
    login: Callable[[User], Client], agent: User, ticket_a: Ticket
) -> None:
    client = login(agent)
    known = stamps(client, ticket_a)
    ticket_status_change(ticket=ticket_a, status=Status.PENDING, by=agent)

    response = client.get(live_url(ticket_a), known, **HX)

    content = response.content.decode()
    assert response.status_code == 200
    assert f'id="ticket-{ticket_a.pk}-header"' in content
    assert f'id="ticket-{ticket_a.pk}-transcript"' not in content
    assert f'id="ticket-{ticket_a.pk}-copilot-live"' not in content


def test_a_page_that_sends_no_stamps_gets_every_live_fragment(
    login: Callable[[User], Client], agent: User, ticket_a: Ticket
) -> None:
    response = login(agent).get(live_url(ticket_a), **HX)

    content = response.content.decode()
    assert response.status_code == 200
    for fragment in ("header", "transcript", "copilot-live", "recovery-live"):
        assert f'id="ticket-{ticket_a.pk}-{fragment}"' in content
    assert f'id="ticket-{ticket_a.pk}-reply"' not in content


def test_without_htmx_the_live_url_is_the_whole_page(
    login: Callable[[User], Client], agent: User, ticket_a: Ticket
) -> None:
    response = login(agent).get(live_url(ticket_a))

    assert response.status_code == 200
    assert "<html" in response.content.decode()
    assert f'id="ticket-{ticket_a.pk}-reply"' in response.content.decode()


def test_another_teams_ticket_is_a_404_before_anything_is_compared(
    login: Callable[[User], Client], agent: User, ticket_b: Ticket
) -> None:
    response = login(agent).get(live_url(ticket_b), **HX)

    assert response.status_code == 404
