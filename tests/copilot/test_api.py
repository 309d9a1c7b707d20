"""The copilot's REST API: a ticket's analyses and the similar-case search, scoped by team."""

from collections.abc import Callable

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import Team, User
from copilot.models import AnalysisStatus, MessageAnalysis
from copilot.services.cases import case_index_rebuild
from tests.factories import TicketFactory
from tickets.models import Status, Ticket

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("copilot_dirs")]
Api = Callable[[User | None], APIClient]


def analysis_of(ticket: Ticket, version: int, **fields: object) -> MessageAnalysis:
    return MessageAnalysis.objects.create(
        ticket=ticket,
        transcript_version=version,
        message=ticket.messages.first(),
        requested_at=timezone.now(),
        **fields,
    )


def test_latest_and_by_version(api: Api, agent: User, ticket_a: Ticket) -> None:
    analysis_of(ticket_a, 1, status=AnalysisStatus.DONE, sentiment="negative", intent="refund")
    analysis_of(ticket_a, 2, status=AnalysisStatus.SUPERSEDED)
    analysis_of(ticket_a, 3, status=AnalysisStatus.PENDING)
    client = api(agent)

    latest = client.get(reverse("api:ticket-analysis", args=[ticket_a.pk]))
    first = client.get(reverse("api:ticket-analysis-version", args=[ticket_a.pk, 1]))
    by_query = client.get(reverse("api:ticket-analysis", args=[ticket_a.pk]), {"version": 1})

    assert latest.status_code == 200
    assert (latest.data["transcript_version"], latest.data["status"]) == (3, "pending")
    assert (first.data["sentiment"], first.data["intent"]) == ("negative", "refund")
    assert by_query.data == first.data


def test_analysis_errors_name_the_problem(
    api: Api, agent: User, ticket_a: Ticket, ticket_b: Ticket
) -> None:
    analysis_of(ticket_b, 1, status=AnalysisStatus.DONE)
    client = api(agent)

    other_team = client.get(reverse("api:ticket-analysis", args=[ticket_b.pk]))
    none_yet = client.get(reverse("api:ticket-analysis", args=[ticket_a.pk]))
    bad_version = client.get(reverse("api:ticket-analysis", args=[ticket_a.pk]), {"version": "x"})

    assert other_team.status_code == 404
    assert none_yet.status_code == 404
    assert (bad_version.status_code, list(bad_version.data)) == (400, ["version"])
    assert api(None).get(reverse("api:ticket-analysis", args=[ticket_a.pk])).status_code == 401


def test_similar_case_search_returns_only_the_callers_teams(
    api: Api, agent: User, admin_user: User, team_a: Team, team_b: Team
) -> None:
    mine = TicketFactory(
        team=team_a,
        status=Status.SOLVED,
        solved_at=timezone.now(),
        first_message="My parcel never arrived",
        resolution="We re-sent it.",
    )
    theirs = TicketFactory(
        team=team_b,
        status=Status.SOLVED,
        solved_at=timezone.now(),
        first_message="My parcel never arrived!",
        resolution="Team B's answer.",
    )
    case_index_rebuild(progress=None)
    url = reverse("api:similar-case-search")

    as_agent = api(agent).post(url, {"text": "parcel did not arrive", "k": 5}, format="json")
    as_admin = api(admin_user).post(url, {"text": "parcel did not arrive"}, format="json")

    assert as_agent.status_code == 200
    assert [r["ticket_id"] for r in as_agent.data["results"]] == [mine.pk]
    assert as_agent.data["results"][0]["resolution"] == "We re-sent it."
    assert 0.5 < as_agent.data["results"][0]["similarity"] <= 1.0
    assert {r["ticket_id"] for r in as_admin.data["results"]} == {mine.pk, theirs.pk}


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "text"),
        ({"text": "  "}, "text"),
        ({"text": "x", "k": 0}, "k"),
        ({"text": "x", "k": 51}, "k"),
    ],
)
def test_similar_case_search_validates_input(
    api: Api, agent: User, payload: dict[str, object], field: str
) -> None:
    response = api(agent).post(reverse("api:similar-case-search"), payload, format="json")

    assert response.status_code == 400
    assert field in response.data


def test_similar_case_search_without_an_index_is_a_clear_503(api: Api, agent: User) -> None:
    response = api(agent).post(
        reverse("api:similar-case-search"), {"text": "parcel"}, format="json"
    )

    assert response.status_code == 503
    assert "rebuild_case_index" in response.data["detail"]


def test_analysis_api_carries_the_conversation_state(
    api: Api, agent: User, ticket_a: Ticket
) -> None:
    analysis_of(
        ticket_a,
        1,
        status=AnalysisStatus.DONE,
        conversation_level="at_risk",
        conversation_score=0.9,
        conversation_reasons=['threatens to leave or escalate: "Bye AA"'],
    )

    response = api(agent).get(reverse("api:ticket-analysis", args=[ticket_a.pk]))

    assert response.status_code == 200
    assert response.data["conversation_level"] == "at_risk"
    assert response.data["conversation_score"] == 0.9
    assert response.data["conversation_reasons"] == ['threatens to leave or escalate: "Bye AA"']
