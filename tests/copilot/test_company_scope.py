"""Company scope: one team serves several brands, and a brand's customer gets suggestions and
similar cases from that brand's own tickets only, never another brand's voice."""

import numpy as np
import pytest
from django.db import transaction
from django.test import Client
from django.urls import reverse

from accounts.models import Team, User
from copilot.engine import get_engine
from copilot.models import MessageAnalysis, ReplyEntry
from copilot.services.analysis import analyses_run_pending, analysis_run
from copilot.services.cases import case_index_rebuild
from copilot.services.intake import customer_message_receive
from copilot.services.replay import replay_run
from copilot.services.replies import reply_entry_create, reply_library_build
from tests.copilot.test_reply_library import solved_ticket
from tests.factories import CustomerFactory, TicketFactory
from tickets.models import Ticket

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("copilot_dirs")]

BA = "British_Airways"
REQUEST = "My flight was cancelled, how do I get a refund for my booking?"
# Another airline's replies say the request back almost word for word: without the company
# scope they are the nearest entries and cases, so these tests fail without it.
DELTA_REPLY = (
    "Sorry your flight was cancelled. To get a refund for your booking fill in the Delta "
    "refund form and we process it within 7 days."
)
AMERICAN_REPLY = (
    "So sorry your flight was cancelled! For a refund of the booking, use the AmericanAir "
    "refund request page and it is processed within 7 days."
)
BA_REPLY = (
    "We're sorry about the cancellation. British Airways returns the fare to the card you "
    "paid with, usually within a week."
)


@pytest.fixture
def airlines(team_a: Team) -> dict[str, Ticket]:
    """Solved tickets of three airlines in one team (as the demo's "Orders & Delivery")."""
    cases = {
        "Delta": solved_ticket(
            team_a, "Jo Park", DELTA_REPLY, company="Delta", first_message=REQUEST
        ),
        "AmericanAir": solved_ticket(
            team_a, "Sam Ortiz", AMERICAN_REPLY, company="AmericanAir", first_message=REQUEST
        ),
        BA: solved_ticket(
            team_a,
            "Kim Wells",
            BA_REPLY,
            company=BA,
            first_message="Cancelled flight to Rome, I want my money back.",
        ),
    }
    reply_library_build()
    case_index_rebuild(progress=None)
    return cases


def ba_ticket(team: Team) -> Ticket:
    return TicketFactory(
        team=team, company=BA, customer=CustomerFactory(name="Ann Lee"), first_message=REQUEST
    )


def analysed(ticket: Ticket) -> MessageAnalysis:
    with transaction.atomic():
        message = customer_message_receive(ticket=ticket, body=REQUEST)
    done = analysis_run(ticket_id=ticket.pk, transcript_version=message.sequence)
    assert done is not None
    return done


def test_the_library_keeps_each_companys_replies_apart_even_when_they_read_the_same(
    team_a: Team,
) -> None:
    same = "Please send us a direct message with your booking details and we will check."
    solved_ticket(team_a, "Jo Park", same, company="Delta")
    solved_ticket(team_a, "Kim Wells", same, company=BA)

    report = reply_library_build()

    entries = list(ReplyEntry.objects.order_by("company").values_list("company", "text", "count"))
    assert entries == [(BA, same, 1), ("Delta", same, 1)]
    assert report.teams[0].companies == 2


def test_a_ba_ticket_never_gets_another_companys_entry_or_similar_case(
    team_a: Team, airlines: dict[str, Ticket]
) -> None:
    analysis = analysed(ba_ticket(team_a))

    suggested = ReplyEntry.objects.filter(pk__in=[s["entry_id"] for s in analysis.suggestions])
    assert set(suggested.values_list("company", flat=True)) == {BA}
    assert analysis.suggestions[0]["text"] == BA_REPLY
    cited = [c["ticket_id"] for c in analysis.similar_cases]
    assert cited == [airlines[BA].pk]
    assert "Delta" not in analysis.draft_reply and "AmericanAir" not in analysis.draft_reply


def test_the_bulk_path_keeps_the_company_scope(team_a: Team, airlines: dict[str, Ticket]) -> None:
    ba = ba_ticket(team_a)
    delta = TicketFactory(team=team_a, company="Delta", first_message=REQUEST)
    for ticket in (ba, delta):
        with transaction.atomic():
            customer_message_receive(ticket=ticket, body=REQUEST)

    assert analyses_run_pending() == 2

    for ticket, company in ((ba, BA), (delta, "Delta")):
        analysis = MessageAnalysis.objects.filter(ticket=ticket).latest("transcript_version")
        entries = ReplyEntry.objects.filter(pk__in=[s["entry_id"] for s in analysis.suggestions])
        assert set(entries.values_list("company", flat=True)) == {company}
        assert [c["ticket_id"] for c in analysis.similar_cases] == [airlines[company].pk]


def test_a_ticket_without_a_company_gets_none_of_the_brands_entries(
    team_a: Team, airlines: dict[str, Ticket], admin_user: User
) -> None:
    saved = reply_entry_create(
        team=team_a,
        text="Sorry about the cancelled flight: your refund is on its way within 7 days.",
        by=admin_user,
    )
    ticket = TicketFactory(team=team_a, first_message=REQUEST)

    analysis = analysed(ticket)

    assert [s["entry_id"] for s in analysis.suggestions] == [saved.pk]
    assert analysis.similar_cases == []


def test_similar_case_search_api_narrows_to_a_company(
    api: object, agent: User, airlines: dict[str, Ticket]
) -> None:
    client = api(agent)  # type: ignore[operator]
    url = reverse("api:similar-case-search")

    everyone = client.post(url, {"text": REQUEST, "k": 5}, format="json")
    only_ba = client.post(url, {"text": REQUEST, "k": 5, "company": BA}, format="json")

    assert everyone.status_code == only_ba.status_code == 200
    assert len(everyone.json()["results"]) == 3  # the agent's team, every brand
    assert [r["ticket_id"] for r in only_ba.json()["results"]] == [airlines[BA].pk]
    bad = client.post(url, {"text": REQUEST, "company": "x" * 101}, format="json")
    assert bad.status_code == 400 and "company" in bad.json()


def test_engine_scopes_the_index_by_team_and_company(
    team_a: Team, team_b: Team, airlines: dict[str, Ticket]
) -> None:
    other_team = solved_ticket(team_b, "Lu Chen", DELTA_REPLY, company=BA, first_message=REQUEST)
    case_index_rebuild(progress=None)
    engine = get_engine()
    stored = engine.current_index()

    ids = engine.team_case_ids(stored, [team_a.pk], BA)
    every_brand = engine.team_case_ids(stored, [team_a.pk])

    assert ids.tolist() == [airlines[BA].pk]
    assert sorted(every_brand.tolist()) == sorted(t.pk for t in airlines.values())
    assert other_team.pk not in every_brand.tolist()
    assert ids.dtype == np.int64


def test_replay_ranks_each_ticket_against_its_own_company(
    team_a: Team, airlines: dict[str, Ticket]
) -> None:
    report = replay_run()

    # Each airline's only reply is its own ticket's (held out): nothing of another airline
    # can stand in for it, so no ticket gets a suggestion.
    assert sum(g.suggested for g in report.groups.values()) == 0


def test_the_admins_list_filters_by_company(
    login: object, admin_user: User, airlines: dict[str, Ticket]
) -> None:
    client: Client = login(admin_user)  # type: ignore[operator]

    page = client.get(reverse("replies:list"), {"company": BA})

    assert page.status_code == 200
    assert list(page.context["page"].object_list) == list(ReplyEntry.objects.filter(company=BA))
    assert b"British_Airways" in page.content
