"""Suggestions from the team's reply library: ranked per analysis, shown on the panel, used by
the agent with this ticket's values only, and never naming anyone else."""

from collections.abc import Callable
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import transaction
from django.test import Client
from django.urls import reverse
from pytest_django.fixtures import Settings

from accounts.models import Team, User
from copilot import replies_selectors
from copilot.engine import get_engine, reset_engine
from copilot.models import DraftDecision, DraftDecisionEvent, MessageAnalysis, ReplyEntry
from copilot.nlp.selector import ResponseSelector
from copilot.nlp.selector_branch import SHIPPED, load_selector
from copilot.selectors import (
    customer_text_for_version,
    draft_leaks_for_open_tickets,
    suggestion_texts_for_agent,
)
from copilot.services.analysis import analyses_run_pending, analysis_request, analysis_run
from copilot.services.intake import customer_message_receive
from copilot.services.replay import replay_report_html, replay_run
from copilot.services.replies import reply_entry_create, reply_library_build
from tests.copilot.test_reply_library import LEAKY_REPLIES, solved_ticket
from tests.factories import CustomerFactory, TicketFactory, UserFactory
from tickets.models import Ticket

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("copilot_dirs")]

HX = {"HTTP_HX_REQUEST": "true"}
PARCEL = "Hi {customer_first_name}, we have re-sent your parcel {order_number} by express post."
REFUND = "Hi {customer_first_name}, your refund has been issued and shows in 3 to 5 days."
PASSWORD = "Use the Forgot password link on the sign-in page to set a new password."
OTHER_TEAM = "Team B only: we have re-sent your missing parcel by express post today."


@pytest.fixture(autouse=True)
def cosine_until_trained(settings: Settings) -> None:
    """These tests are about the library, the panel and the fallback ranking: the encoder's
    cosine (the shipped selector has tests of its own below)."""
    settings.COPILOT_SELECTOR_SHIPPED = False
    reset_engine()


@pytest.fixture
def library(team_a: Team, team_b: Team, admin_user: User) -> dict[str, int]:
    return {
        name: reply_entry_create(team=team, text=text, by=admin_user).pk
        for name, team, text in (
            ("parcel", team_a, PARCEL),
            ("refund", team_a, REFUND),
            ("password", team_a, PASSWORD),
            ("other", team_b, OTHER_TEAM),
        )
    }


def customer_says(ticket: Ticket, body: str) -> MessageAnalysis:
    with transaction.atomic():
        message = customer_message_receive(ticket=ticket, body=body)
    return MessageAnalysis.objects.get(ticket=ticket, transcript_version=message.sequence)


def run(analysis: MessageAnalysis) -> MessageAnalysis:
    done = analysis_run(
        ticket_id=analysis.ticket_id, transcript_version=analysis.transcript_version
    )
    assert done is not None
    return done


def parcel_ticket(team: Team, agent: User | None = None) -> Ticket:
    return TicketFactory(
        team=team,
        assignee=agent,
        customer=CustomerFactory(name="Ann Lee"),
        first_message="My parcel for order 55120 never arrived, where is it?",
    )


def test_analysis_stores_up_to_three_of_its_own_teams_entries_best_first(
    team_a: Team, library: dict[str, int]
) -> None:
    analysis = run(customer_says(parcel_ticket(team_a), "Still no parcel, please resend it."))

    ids = [s["entry_id"] for s in analysis.suggestions]
    scores = [s["score"] for s in analysis.suggestions]
    assert 1 <= len(ids) <= 3
    assert ids[0] == library["parcel"]
    assert library["other"] not in ids  # another team's entry never appears
    assert scores == sorted(scores, reverse=True)
    assert analysis.suggestions[0]["text"] == PARCEL  # slots kept, as in the library
    assert analysis.selector_version == "cosine"


def test_below_the_trigger_nothing_is_suggested(
    team_a: Team, library: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(replies_selectors, "COSINE_TRIGGER", 0.99)

    analysis = run(customer_says(parcel_ticket(team_a), "Still no parcel, please resend it."))

    assert analysis.suggestions == []
    assert analysis.selector_version == "cosine"


def test_a_trained_selector_ranks_and_its_version_and_trigger_are_recorded(
    team_a: Team, library: dict[str, int], settings: Settings, tmp_path: Path
) -> None:
    encoder_version = get_engine().encoder.version
    model = ResponseSelector.identity(384, encoder_version=encoder_version, threshold=0.0)
    model.save(tmp_path / "selector")
    settings.COPILOT_SELECTOR_MODEL_DIR = str(tmp_path / "selector")
    reset_engine()

    analysis = run(customer_says(parcel_ticket(team_a), "Still no parcel, please resend it."))

    assert analysis.selector_version == model.version
    assert len(analysis.suggestions) == 3  # threshold 0: the team's three entries
    assert analysis.suggestions[0]["entry_id"] == library["parcel"]


@pytest.mark.skipif(not SHIPPED.is_file(), reason="no shipped selector")
def test_the_shipped_selector_ranks_with_its_branch_until_one_is_trained(
    team_a: Team, library: dict[str, int], settings: Settings, tmp_path: Path
) -> None:
    """A fresh install ranks with the shipped selector: its request branch reads the message
    in the analysis pass, its version is recorded, and the bulk path agrees."""
    settings.COPILOT_SELECTOR_SHIPPED = True
    settings.COPILOT_SELECTOR_MODEL_DIR = str(tmp_path / "none-trained")
    reset_engine()
    shipped = load_selector(SHIPPED.parent)

    single = run(customer_says(parcel_ticket(team_a), "Still no parcel, please resend it."))

    assert single.selector_version == shipped.version
    ticket = parcel_ticket(team_a)
    with transaction.atomic():
        message = customer_message_receive(ticket=ticket, body="Still no parcel, please resend it.")
    MessageAnalysis.objects.filter(ticket=ticket).delete()
    with transaction.atomic():
        analysis_request(message=message, queue=False)
    assert analyses_run_pending() == 1
    bulk = MessageAnalysis.objects.get(ticket=ticket)
    assert bulk.selector_version == shipped.version
    assert [s["entry_id"] for s in bulk.suggestions] == [s["entry_id"] for s in single.suggestions]
    # The scores are the selector's on the branch's request vector, not on the embedding.
    engine = get_engine()
    text, _ = customer_text_for_version(
        ticket_id=single.ticket_id, transcript_version=single.transcript_version
    )
    inputs = shipped.request_inputs([text], engine.encoder)
    entries, vectors = replies_selectors.reply_entries_for_team(team_id=team_a.pk)
    expected = shipped.scores(inputs, vectors)[0]
    for s in single.suggestions:
        j = [e.pk for e in entries].index(s["entry_id"])
        assert abs(s["score"] - float(expected[j])) < 1e-3
    ids = [s["entry_id"] for s in single.suggestions]
    assert library["other"] not in ids
    if ids:
        assert ids[0] == library["parcel"]


def test_the_bulk_path_stores_the_same_suggestions(team_a: Team, library: dict[str, int]) -> None:
    single = run(customer_says(parcel_ticket(team_a), "Still no parcel, please resend it."))
    ticket = parcel_ticket(team_a)
    with transaction.atomic():
        message = customer_message_receive(ticket=ticket, body="Still no parcel, please resend it.")
    MessageAnalysis.objects.filter(ticket=ticket).delete()
    with transaction.atomic():
        analysis_request(message=message, queue=False)

    assert analyses_run_pending() == 1

    bulk = MessageAnalysis.objects.get(ticket=ticket)
    assert [s["entry_id"] for s in bulk.suggestions] == [s["entry_id"] for s in single.suggestions]
    assert bulk.selector_version == "cosine"


def test_panel_shows_suggestions_filled_for_this_ticket_and_agent(
    login: Callable[[User], Client], agent: User, team_a: Team, library: dict[str, int]
) -> None:
    agent.first_name = "Sam"
    agent.save()
    analysis = run(customer_says(parcel_ticket(team_a, agent), "Still no parcel, resend it."))

    content = (
        login(agent).get(reverse("desk:copilot-panel", args=[analysis.ticket_id]), **HX).content
    ).decode()

    assert "Suggested replies" in content
    assert "Hi Ann, we have re-sent your parcel 55120 by express post." in content
    assert 'data-shortcut="use"' in content and 'data-suggestion-use="0"' in content
    assert "Team B only" not in content


def test_panel_says_when_no_suggestion_fits(
    login: Callable[[User], Client],
    agent: User,
    team_a: Team,
    library: dict[str, int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(replies_selectors, "COSINE_TRIGGER", 0.99)
    analysis = run(customer_says(parcel_ticket(team_a, agent), "Still no parcel, resend it."))

    content = (
        login(agent).get(reverse("desk:copilot-panel", args=[analysis.ticket_id]), **HX).content
    ).decode()

    assert "No suggestion fits this message well enough" in content


def test_use_fills_slots_from_this_ticket_and_agent_and_send_records_the_entry(
    login: Callable[[User], Client], agent: User, team_a: Team, library: dict[str, int]
) -> None:
    agent.first_name = "Sam"
    agent.save()
    analysis = run(customer_says(parcel_ticket(team_a, agent), "Still no parcel, resend it."))
    client = login(agent)

    box = client.get(
        reverse("desk:draft-use", args=[analysis.ticket_id, analysis.pk]) + "?s=0", **HX
    ).content.decode()

    text = suggestion_texts_for_agent(analysis=analysis, agent=agent)[0]
    assert text == "Hi Ann, we have re-sent your parcel 55120 by express post.\n\nSam"
    assert "Hi Ann, we have re-sent your parcel 55120 by express post." in box
    assert 'name="suggestion" value="0"' in box
    assert not DraftDecisionEvent.objects.exists()

    client.post(
        reverse("desk:ticket-reply", args=[analysis.ticket_id]),
        {"body": text, "draft": analysis.pk, "suggestion": 0},
        **HX,
    )

    event = DraftDecisionEvent.objects.get()
    assert event.decision == DraftDecision.ACCEPTED
    assert event.suggestion_entry_id == library["parcel"]
    assert event.final_text == text


def test_a_slot_this_ticket_cannot_fill_stays_marked(
    agent: User, team_a: Team, library: dict[str, int]
) -> None:
    ticket = TicketFactory(
        team=team_a,
        assignee=agent,
        customer=CustomerFactory(name="Ann Lee"),
        first_message="My parcel never arrived, where is it?",
    )
    analysis = run(customer_says(ticket, "Still no parcel, please resend it."))

    text = suggestion_texts_for_agent(analysis=analysis, agent=agent)[0]

    assert "[order number]" in text  # no number of anyone else's: the box refuses it as is


def test_suggestions_made_from_a_library_full_of_identifiers_leak_nothing(
    team_a: Team, agent: User, capsys: pytest.CaptureFixture[str]
) -> None:
    UserFactory(username="jsmith", first_name="Jane", last_name="Smith")
    for body in LEAKY_REPLIES:
        solved_ticket(team_a, "Margaret Thornton", body)
    reply_library_build()
    asks = [
        "Sorry, my order never arrived. Can you refund my card?",
        "Where can I track my parcel? Please call me.",
        "Who do I e-mail about my booking?",
        "When will the engineer call me?",
    ]
    analyses = [run(customer_says(TicketFactory(team=team_a, assignee=agent), ask)) for ask in asks]
    assert sum(len(a.suggestions) for a in analyses) >= 4  # the check below checks something

    report = draft_leaks_for_open_tickets()

    assert [r.suggested for r in report if r.suggested] == []
    call_command("draft_leaks")
    assert "Drafts suggested (slots filled): 0 of" in capsys.readouterr().out


def test_replay_holds_each_tickets_own_reply_out_and_counts_no_leaks(
    team_a: Team, tmp_path: Path
) -> None:
    shared = "We have re-sent your parcel by express post; it arrives within two days."
    first = solved_ticket(team_a, "Ann Lee", shared)
    solved_ticket(team_a, "Bo Chan", shared)
    alone = solved_ticket(team_a, "Cy Dunn", "Your refund of the duplicate charge is on its way.")
    for body in LEAKY_REPLIES:
        solved_ticket(team_a, "Margaret Thornton", body)
    reply_library_build()

    report = replay_run()
    replay_report_html(report=report, path=tmp_path / "replay.html")

    assert report.total.requests == 8
    assert report.leaks == 0
    assert report.total.hits >= 2  # both parcel tickets find the reply the other one gave
    assert report.selector_version == "cosine"
    assert "Sent reply among them" in (tmp_path / "replay.html").read_text()
    own = ReplyEntry.objects.get(examples=[alone.pk])
    ranked, _ = replies_selectors.reply_suggestions_rank(
        team_id=team_a.pk,
        request_vecs=get_engine().encoder.encode(["Your refund of the duplicate charge"]),
        selector=None,
        exclude_ticket_ids=[alone.pk],
    )
    assert own.pk not in [s.entry_id for s in ranked[0]]
    assert first.pk  # the shared entry's examples are both parcel tickets
