"""The inbox's views (built-in and saved per agent), its search, and the count of new tickets."""

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import Team, User
from desk.inbox_views import inbox_query_normalise
from desk.models import SavedView
from tests.factories import TicketFactory, UserFactory
from tickets.models import Status, Ticket

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}


def rows(response: Any) -> list[int]:
    return [t.pk for t in response.context["page"]]


def test_the_search_is_labelled_and_says_what_it_searches(
    login: Callable[[User], Client], agent: User
) -> None:
    html = login(agent).get(reverse("desk:inbox")).content.decode()

    assert '<label for="id_q">Search</label>' in html
    assert 'aria-describedby="inbox-search-help"' in html
    assert (
        '<p id="inbox-search-help" class="muted small">Finds subjects and customer names '
        "containing your words, and an exact customer e-mail, customer ID or ticket number.</p>"
    ) in html


def test_builtin_views_link_to_their_filters_and_mark_the_current_one(
    login: Callable[[User], Client], agent: User, team_a: Team
) -> None:
    mine = TicketFactory(team=team_a, assignee=agent)
    nobodys = TicketFactory(team=team_a)
    waiting = TicketFactory(team=team_a, status=Status.PENDING, assignee=agent)
    client = login(agent)

    html = client.get(reverse("desk:inbox")).content.decode()
    unassigned = client.get(reverse("desk:inbox"), {"unassigned": "on", "sort": "urgency"})
    pending = client.get(reverse("desk:inbox"), {"status": "pending"})

    for name, query in [
        ("Mine and urgent", "?mine=on&amp;sort=urgency"),
        ("Waiting on customer", "?status=pending"),
        ("Unassigned", "?sort=urgency&amp;unassigned=on"),
    ]:
        assert f'href="/{query}">{name}</a>' in html
    assert 'href="/" aria-current="page" class="current">All open</a>' in html
    assert rows(unassigned) == [nobodys.pk]
    assert 'aria-current="page" class="current">Unassigned</a>' in unassigned.content.decode()
    assert rows(pending) == [waiting.pk]
    assert mine.pk not in rows(pending)


def test_an_agent_saves_the_current_filters_as_a_view_only_they_see(
    login: Callable[[User], Client], agent: User, team_a: Team
) -> None:
    colleague = UserFactory(username="colleague", role="agent", teams=[team_a])
    client = login(agent)

    response = client.post(
        reverse("desk:saved-view-create"),
        {"name": "  Urgent   refunds ", "query": "priority=urgent&q=refund&page=3&evil=1"},
    )

    assert response.status_code == 302
    assert response["Location"] == "/?priority=urgent&q=refund"
    view = SavedView.objects.get()
    assert (view.owner, view.name, view.query) == (
        agent,
        "Urgent refunds",
        "priority=urgent&q=refund",
    )
    page = client.get(response["Location"]).content.decode()
    assert 'aria-current="page" class="current">Urgent refunds</a>' in page
    theirs = login(colleague).get(reverse("desk:inbox")).content.decode()
    assert "Urgent refunds" not in theirs


def test_saving_with_htmx_answers_with_the_views_list(
    login: Callable[[User], Client], agent: User
) -> None:
    response = login(agent).post(
        reverse("desk:saved-view-create"), {"name": "Refunds", "query": "q=refund"}, **HX
    )

    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<aside id="inbox-views"')
    assert ">Refunds</a>" in html


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("", "View name: This field is required."),
        ("x" * 61, "View name: Ensure this value has at most 60 characters (it has 61)."),
        ("Unassigned", "View name: A built-in view has this name already."),
        ("refunds", "View name: You have a view with this name already."),
    ],
)
def test_a_bad_name_is_refused_naming_the_field_and_nothing_is_saved(
    login: Callable[[User], Client], agent: User, name: str, error: str
) -> None:
    SavedView.objects.create(owner=agent, name="Refunds", query="q=refund")

    response = login(agent).post(
        reverse("desk:saved-view-create"), {"name": name, "query": "mine=on"}, **HX
    )

    assert response.status_code == 422
    assert error in response.content.decode()
    assert list(SavedView.objects.values_list("name", flat=True)) == ["Refunds"]


def test_without_javascript_a_bad_name_comes_back_in_the_whole_page(
    login: Callable[[User], Client], agent: User
) -> None:
    response = login(agent).post(reverse("desk:saved-view-create"), {"query": "mine=on"})

    assert response.status_code == 422
    assert "<title>Inbox" in response.content.decode()
    assert "View name: This field is required." in response.content.decode()
    assert not SavedView.objects.exists()


def test_an_agent_renames_and_deletes_their_own_view(
    login: Callable[[User], Client], agent: User
) -> None:
    view = SavedView.objects.create(owner=agent, name="Refunds", query="q=refund")
    client = login(agent)

    renamed = client.post(reverse("desk:saved-view-rename", args=[view.pk]), {"name": "Money"})
    view.refresh_from_db()
    assert (renamed.status_code, view.name) == (302, "Money")

    refused = client.post(reverse("desk:saved-view-rename", args=[view.pk]), {"name": ""}, **HX)
    assert refused.status_code == 422
    assert "Renaming “Money”: New name: This field is required." in refused.content.decode()

    deleted = client.post(reverse("desk:saved-view-delete", args=[view.pk]), **HX)
    assert deleted.status_code == 200
    assert not SavedView.objects.exists()


def test_another_agents_view_cannot_be_renamed_or_deleted(
    login: Callable[[User], Client], agent: User, team_a: Team
) -> None:
    colleague = UserFactory(username="colleague", role="agent", teams=[team_a])
    view = SavedView.objects.create(owner=colleague, name="Theirs", query="mine=on")
    client = login(agent)

    rename = client.post(reverse("desk:saved-view-rename", args=[view.pk]), {"name": "Mine"})
    delete = client.post(reverse("desk:saved-view-delete", args=[view.pk]))

    assert (rename.status_code, delete.status_code) == (404, 404)
    assert list(SavedView.objects.values_list("owner", "name")) == [(colleague.pk, "Theirs")]


def test_saving_needs_the_csrf_token(agent: User) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(agent)

    response = client.post(reverse("desk:saved-view-create"), {"name": "Refunds"})

    assert response.status_code == 403
    assert not SavedView.objects.exists()


def test_queries_are_normalised_so_the_same_filters_read_the_same() -> None:
    assert inbox_query_normalise(params={"sort": "urgency", "mine": "on", "page": "2"}) == (
        "mine=on&sort=urgency"
    )
    assert inbox_query_normalise(params={"sort": "recent", "q": " "}) == ""


def test_new_tickets_since_the_page_loaded_are_counted_with_the_pages_filters(
    login: Callable[[User], Client],
    agent: User,
    team_a: Team,
    team_b: Team,
    django_assert_num_queries: Callable[..., Any],
) -> None:
    client = login(agent)
    page = client.get(reverse("desk:inbox"), {"priority": "urgent"})
    new_url = page.content.decode().split('hx-get="/inbox/new/?')[1].split('"')[0]
    loaded = timezone.now()
    TicketFactory(team=team_a, priority="urgent", created_at=loaded - timedelta(minutes=1))
    TicketFactory(team=team_a, priority="urgent", created_at=loaded + timedelta(seconds=5))
    TicketFactory(team=team_a, priority="urgent", created_at=loaded + timedelta(seconds=6))
    TicketFactory(team=team_a, priority="low", created_at=loaded + timedelta(seconds=6))
    TicketFactory(team=team_b, priority="urgent", created_at=loaded + timedelta(seconds=6))

    # session, user, their role's group, their teams (the filter's choices), their team ids
    # (the tickets they may see), the count: the same few however many tickets there are
    with django_assert_num_queries(6):
        response = client.get(f"/inbox/new/?{new_url.replace('&amp;', '&')}", **HX)

    html = response.content.decode()
    assert 'id="inbox-new"' in html and 'hx-trigger="every 10s"' in html
    assert '<a href="/?priority=urgent">2 new tickets: show</a>' in html


def test_nothing_new_shows_nothing_and_a_bad_since_counts_nothing(
    login: Callable[[User], Client], agent: User, ticket_a: Ticket
) -> None:
    response = login(agent).get(reverse("desk:inbox-new"), {"since": "yesterday"}, **HX)

    assert response.status_code == 200
    assert "new ticket" not in response.content.decode()


def test_rows_carry_a_stable_id_and_their_ticket_url(
    login: Callable[[User], Client], agent: User, ticket_a: Ticket
) -> None:
    html = login(agent).get(reverse("desk:inbox")).content.decode()

    assert f'<tr id="ticket-row-{ticket_a.pk}" data-ticket-url="/tickets/{ticket_a.pk}/"' in html


def test_the_inbox_page_reads_the_same_few_queries_for_ten_rows_or_thirty(
    login: Callable[[User], Client], agent: User, team_a: Team
) -> None:
    client = login(agent)
    counts = []
    for total in (10, 30):
        TicketFactory.create_batch(total - Ticket.objects.count(), team=team_a)
        with CaptureQueriesContext(connection) as queries:
            response = client.get(reverse("desk:inbox"))
        assert len(rows(response)) == total
        counts.append(len(queries))

    assert counts[0] == counts[1]
