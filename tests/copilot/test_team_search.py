"""A message's similar cases come from its own team's copy of the exact index: the same hits as
filtering the whole index by the team's cases, refreshed with every new generation."""

import pytest
from django.utils import timezone
from pytest_django.fixtures import Settings

from accounts.models import Team
from copilot.engine import get_engine
from copilot.services.cases import case_index_rebuild, case_index_sync, case_record
from tests.factories import TeamFactory, TicketFactory
from tickets.models import Status, Ticket

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("copilot_dirs")]

REQUESTS = [
    "My parcel never arrived, the tracking has not moved for a week.",
    "I forgot my password and cannot log in.",
    "Please refund the second charge on my card.",
    "The app crashes when I open my orders.",
    "Can I change the delivery address of my order?",
    "I was charged twice for the same order.",
    "My package arrived damaged, the box was crushed.",
    "How do I reset the PIN of my account?",
    "I want my money back for the cancelled subscription.",
    "The website shows an error at checkout.",
    "Please send the invoice to my new address.",
    "Where is my order? It is two weeks late.",
]
QUERIES = ["where is my package?", "refund me please", "cannot sign in", "wrong address"]


def solved(team: Team, request: str) -> Ticket:
    return TicketFactory(
        team=team,
        status=Status.SOLVED,
        solved_at=timezone.now(),
        first_message=request,
        resolution="Done.",
    )


@pytest.fixture
def cases(team_a: Team, team_b: Team) -> dict[int, set[int]]:
    out: dict[int, set[int]] = {team_a.pk: set(), team_b.pk: set()}
    # Distinct texts: tied scores could come back in either order.
    for i, request in enumerate(REQUESTS):
        team = team_a if i % 3 else team_b
        out[team.pk].add(solved(team, request).pk)
    case_index_rebuild(progress=None)
    return out


def search(
    team_ids: list[int], k: int = 4, exclude: tuple[int, ...] = (), company: str | None = ""
) -> list[list]:
    # The factories' tickets have no company (""), as on a single-brand desk.
    engine = get_engine()
    stored = engine.current_index()
    vectors = engine.encoder.encode(QUERIES)
    return engine.team_search(
        stored, vectors, k, team_ids=team_ids, exclude=exclude, company=company
    )


def test_a_teams_own_copy_gives_the_hits_of_the_filtered_index(
    cases: dict[int, set[int]], settings: Settings
) -> None:
    for team, ids in cases.items():
        own = search([team])
        excluded = search([team], exclude=(min(ids),))
        settings.COPILOT_INDEX_PER_TEAM = False
        assert own == search([team])
        assert excluded == search([team], exclude=(min(ids),))
        settings.COPILOT_INDEX_PER_TEAM = True
        assert all(len(row) == 4 and {n.id for n in row} <= ids for row in own)
        assert all(min(ids) not in {n.id for n in row} for row in excluded)
        # Every company of the team (None) is searched through the filter: the same hits here.
        assert own == search([team], company=None)
    # Both teams at once, and a team without cases.
    assert {n.id for row in search(list(cases)) for n in row} <= set().union(*cases.values())
    assert search([TeamFactory().pk]) == [[] for _ in QUERIES]


def test_a_new_generation_refreshes_the_teams_copies(
    team_a: Team, cases: dict[int, set[int]]
) -> None:
    before = search([team_a.pk], k=1)
    assert before[0][0].id in cases[team_a.pk]

    new = solved(team_a, "Where is my package? It has not come.")
    case_record(ticket_id=new.pk)
    case_index_sync()

    assert search([team_a.pk], k=1)[0][0].id == new.pk
