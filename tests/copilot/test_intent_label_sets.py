"""Intent label sets: each ticket is read with its team's or its channel's set of intents, and
the shipped social set (hand-labelled Twitter requests) covers the demo's social tickets."""

import json
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from pytest_django.fixtures import Settings

from accounts.models import Team
from copilot.engine import get_engine, reset_engine
from copilot.intent_sets import (
    DEFAULT_LABEL_SET,
    label_set_for,
    label_set_model_dir,
    label_set_tickets,
    label_set_validate,
    ticket_label_set,
)
from copilot.models import MessageAnalysis
from copilot.nlp.intent import UNSURE, IntentClassifier
from copilot.nlp.intent_eval import demo_opening_requests, load_intent_labels
from copilot.services.analysis import analysis_request, analysis_run
from copilot.training import intent_model_train
from core.errors import DomainError
from desk.demo import demo_intent_labels
from tests.factories import TicketFactory
from tickets.models import Channel, Ticket
from tickets.services import ticket_intents_label

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("copilot_dirs")]

DATA = Path(settings.BASE_DIR) / "data"
TRAIN_LABELS = DATA / "demo" / "intent_labels_social.jsonl"
TEST_LABELS = DATA / "eval" / "intent_social_test.jsonl"
SOCIAL_INTENTS = {
    "account_access",
    "account_restricted",
    "billing_refund",
    "complaint",
    "contact_human_agent",
    "delivery_problem",
    "no_request",
    "order_quality",
    "praise",
    "product_question",
    "report_abuse",
    "service_outage",
    "technical_problem",
    "travel",
}


def rows(path: Path) -> list[dict[str, str]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def analysed(ticket: Ticket) -> MessageAnalysis:
    message = ticket.messages.get(sequence=1)
    analysis_request(message=message, queue=False)
    done = analysis_run(ticket_id=ticket.pk, transcript_version=1)
    assert done is not None and done.error == ""
    return done


def candidates(analysis: MessageAnalysis) -> set[str]:
    return {c["label"] for c in analysis.intent_candidates}


# --- the label files ---------------------------------------------------------------------


def test_social_labels_are_real_twitter_requests_and_train_and_test_never_share_one() -> None:
    train, test = rows(TRAIN_LABELS), rows(TEST_LABELS)
    train_ids = {r["external_id"] for r in train}
    test_ids = {r["external_id"] for r in test}

    assert len(train_ids) == len(train) and len(test_ids) == len(test)
    assert not train_ids & test_ids
    assert all(i.startswith(("twcs-", "ibm-dev-")) for i in train_ids | test_ids)
    assert {r["intent"] for r in train} == SOCIAL_INTENTS
    assert {r["intent"] for r in test} <= SOCIAL_INTENTS
    tickets = demo_opening_requests(DATA / "demo" / "tickets.jsonl")
    assert train_ids | test_ids <= tickets.keys()


def test_labels_are_read_in_the_demo_files_order_whatever_the_labels_files_order(
    tmp_path: Path,
) -> None:
    tickets = {"twcs-2": "second request", "twcs-1": "first request", "twcs-3": "third"}
    labels = tmp_path / "labels.jsonl"
    labels.write_text(
        '{"external_id": "twcs-1", "intent": "b"}\n{"external_id": "twcs-2", "intent": "a"}\n'
    )

    assert load_intent_labels(labels, tickets) == (["second request", "first request"], ["a", "b"])

    labels.write_text('{"external_id": "twcs-9", "intent": "a"}\n')
    with pytest.raises(ValueError, match="no demo ticket twcs-9"):
        load_intent_labels(labels, tickets)


def test_hand_labels_are_given_to_the_tickets_by_external_id(team_a: Team) -> None:
    first = TicketFactory(team=team_a, external_id="twcs-1")
    second = TicketFactory(team=team_a, external_id="twcs-2")
    untouched = TicketFactory(team=team_a, external_id="twcs-3", intent="complaint")

    labelled = ticket_intents_label(
        intents={"twcs-1": "travel", "twcs-2": " praise ", "twcs-404": "travel"}
    )

    assert labelled == 2
    assert [Ticket.objects.get(pk=t.pk).intent for t in (first, second, untouched)] == [
        "travel",
        "praise",
        "complaint",
    ]
    with pytest.raises(DomainError) as refused:
        ticket_intents_label(intents={"twcs-1": "  "})
    assert refused.value.field == "intent"
    assert Ticket.objects.get(pk=first.pk).intent == "travel"


def test_the_demo_loads_the_training_labels_only() -> None:
    labels = demo_intent_labels(path=TRAIN_LABELS)

    assert len(labels) == len(rows(TRAIN_LABELS))
    assert not labels.keys() & {r["external_id"] for r in rows(TEST_LABELS)}


# --- which set a ticket is read with ----------------------------------------------------------


def test_a_teams_own_set_wins_then_the_channels_then_the_default(settings: Settings) -> None:
    settings.COPILOT_INTENT_LABEL_SET_BY_CHANNEL = {"social": "social"}

    assert label_set_for(channel="social", team_label_set="") == "social"
    assert label_set_for(channel="email", team_label_set="") == DEFAULT_LABEL_SET
    assert label_set_for(channel="email", team_label_set="billing") == "billing"
    assert label_set_for(channel="social", team_label_set="default") == "default"
    settings.COPILOT_INTENT_LABEL_SET_BY_CHANNEL = {}
    assert label_set_for(channel="social", team_label_set="") == DEFAULT_LABEL_SET


def test_label_set_names_are_slugs() -> None:
    assert label_set_validate("social") == "social"
    for bad in ("", "../intent", "Social", "a" * 41):
        with pytest.raises(ValueError, match="not a label set name"):
            label_set_validate(bad)


def test_the_shipped_social_set_loads_with_its_calibrated_threshold() -> None:
    directory = label_set_model_dir("social")
    assert directory is not None and directory.name == "intent-social"
    saved = json.loads((directory / "intent_model.json").read_text())
    model = get_engine().intent_for("social")

    assert model is not None
    assert set(model.labels) == SOCIAL_INTENTS
    assert (
        model.threshold
        == saved["threshold"]
        == saved["training"]["calibration"]["chosen"]["threshold"]
    )
    assert 0 < model.threshold < 1
    assert model.version == saved["version"]
    assert (directory / "intent_model.npz").stat().st_size < 2_000_000


def test_social_and_email_tickets_of_one_team_are_read_with_their_own_sets(
    team_a: Team,
) -> None:
    tweet = TicketFactory(
        team=team_a,
        channel=Channel.SOCIAL,
        first_message="@AppleSupport my iPhone keeps freezing and the battery dies at 40% "
        "since the update",
    )
    mail = TicketFactory(
        team=team_a, channel=Channel.EMAIL, first_message="where is my order 1234, I need it"
    )
    social_model = get_engine().intent_for("social")
    default_model = get_engine().intent
    assert social_model is not None and default_model is not None

    social, shop = analysed(tweet), analysed(mail)

    assert social.intent == "technical_problem"
    assert candidates(social) <= set(social_model.labels)
    assert social.model_versions["intent"] == social_model.version
    assert social.model_versions["intent_label_set"] == "social"
    assert candidates(shop) <= set(default_model.labels)
    assert not candidates(shop) & SOCIAL_INTENTS - {"complaint", "contact_human_agent"}
    assert shop.model_versions["intent"] == default_model.version
    assert shop.model_versions["intent_label_set"] == "default"


def test_a_team_naming_a_set_reads_its_email_with_it(team_a: Team) -> None:
    team_a.intent_label_set = "social"
    team_a.save()
    mail = TicketFactory(
        team=team_a, channel=Channel.EMAIL, first_message="my flight was cancelled, rebook me"
    )

    result = analysed(mail)

    assert result.model_versions["intent_label_set"] == "social"
    assert result.intent in SOCIAL_INTENTS | {UNSURE}


def test_a_set_without_a_model_gives_no_intent_and_says_how_to_train_one(team_a: Team) -> None:
    team_a.intent_label_set = "returns"
    team_a.save()
    ticket = TicketFactory(team=team_a, first_message="the shoes do not fit, can I return them")

    result = analysed(ticket)

    assert result.intent == ""
    assert "intent" not in result.model_versions
    assert any("train_intent --label-set returns" in r for r in result.draft_reasons)


def test_the_engine_cuts_at_the_sets_own_threshold_unless_one_is_set(settings: Settings) -> None:
    texts = [
        "@Delta flight 1704 delayed 3 hours and no update at the gate",
        "hmm",
        "thanks @SouthwestAir for the great flight!",
        "@comcastcares internet down again in 95608",
    ]
    model = get_engine().intent_for("social")
    assert model is not None

    _, _, intents = get_engine().signals(texts, label_sets=["social"] * len(texts))

    for prediction in intents:
        assert prediction is not None
        assert (prediction.label == UNSURE) == (prediction.confidence < model.threshold)
        assert prediction.best_guess in model.labels
    assert {p.label for p in intents if p is not None} - {UNSURE}, "every request unsure"

    settings.COPILOT_INTENT_THRESHOLD = 0.999
    reset_engine()
    _, _, strict = get_engine().signals(texts, label_sets=["social"] * len(texts))
    assert all(p is not None and p.label == UNSURE for p in strict)


# --- training a set on its own tickets --------------------------------------------------------


def test_train_intent_trains_a_set_on_its_own_tickets_and_the_engine_uses_it(
    team_a: Team, team_b: Team, copilot_dirs: Path
) -> None:
    for i in range(6):
        TicketFactory(
            team=team_a, channel=Channel.SOCIAL, first_message=f"flight {i} delayed", intent="late"
        )
        TicketFactory(
            team=team_a, channel=Channel.SOCIAL, first_message=f"love you {i}", intent="praise"
        )
        # The shop's e-mail intents belong to the default set, never to the social one.
        TicketFactory(team=team_a, first_message=f"invoice {i} please", intent="get_invoice")
    # A team that names the set brings its e-mail tickets into it.
    team_b.intent_label_set = "social"
    team_b.save()
    TicketFactory(team=team_b, first_message="lost my bag on the flight", intent="baggage")
    TicketFactory(team=team_b, first_message="bag never arrived at the belt", intent="baggage")
    out = StringIO()

    call_command("train_intent", "--label-set", "social", "--no-replies", stdout=out)

    assert "of label set 'social' (3 intents, 14 tickets" in out.getvalue()
    saved = copilot_dirs / "intent-sets" / "social"
    assert label_set_model_dir("social") == saved
    model = IntentClassifier.load(saved)
    assert set(model.labels) == {"late", "praise", "baggage"}
    reset_engine()
    in_use = get_engine().intent_for("social")
    assert in_use is not None and in_use.version == model.version
    # The default set is untouched: still the shipped one.
    assert label_set_model_dir(DEFAULT_LABEL_SET) != saved


def test_training_refuses_a_bad_set_name_naming_the_field() -> None:
    with pytest.raises(DomainError) as refused:
        intent_model_train(label_set="../../etc")
    assert refused.value.field == "label_set"


def test_the_training_filter_picks_exactly_the_tickets_the_engine_reads_with_each_set(
    settings: Settings,
) -> None:
    settings.COPILOT_INTENT_LABEL_SET_BY_CHANNEL = {"social": "social", "chat": "default"}
    for team_set in ("", "default", "social", "returns"):
        team = Team.objects.create(name=f"team {team_set or 'none'}", slug=f"t-{team_set}")
        team.intent_label_set = team_set
        team.save()
        for channel in (Channel.SOCIAL, Channel.EMAIL, Channel.CHAT):
            TicketFactory(team=team, channel=channel)
    tickets = list(Ticket.objects.select_related("team"))

    for name in ("default", "social", "returns", "unused"):
        chosen = set(
            Ticket.objects.filter(label_set_tickets(name=name)).values_list("pk", flat=True)
        )
        expected = {t.pk for t in tickets if ticket_label_set(ticket=t) == name}
        assert chosen == expected, name
    assert len(tickets) == 12


def test_intent_coverage_counts_each_teams_tickets_by_set_and_names_a_team_always_unsure(
    team_a: Team, team_b: Team, settings: Settings
) -> None:
    tweet = TicketFactory(
        team=team_a,
        channel=Channel.SOCIAL,
        first_message="@AppleSupport my iPhone keeps freezing since the update, please fix it",
    )
    analysed(tweet)
    TicketFactory(team=team_a, first_message="not analysed yet")
    settings.COPILOT_INTENT_THRESHOLD = 0.999
    reset_engine()
    analysed(TicketFactory(team=team_b, channel=Channel.SOCIAL, first_message="hmm ok"))
    out = StringIO()

    call_command("intent_coverage", stdout=out)

    text = out.getvalue()
    assert f"| {team_a.name} | default | 1 | 0.0% | 0.0% | 100.0% |" in text
    assert f"| {team_a.name} | social | 1 | 100.0% | 0.0% | 0.0% |" in text
    assert f"| {team_b.name} | social | 1 | 0.0% | 100.0% | 0.0% |" in text
    assert f"Unsure on every active ticket: {team_b.name}" in text
