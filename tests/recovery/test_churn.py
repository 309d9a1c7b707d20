"""The churn model: the heuristic on a fresh install, training on a time split, saving and
loading, refusing too little data, and the train_churn command."""

import datetime as dt
import json
import math
import random
from collections.abc import Iterator
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from pytest_django.fixtures import Settings

from accounts.models import Team
from core.errors import DomainError
from privacy.models import ConsentRecord
from recovery.churn.dataset import customer_histories_as_of
from recovery.churn.model import HEURISTIC_VERSION, ChurnModel
from recovery.churn.service import churn_model_current, churn_model_train, churn_risk_for
from recovery.churn.storage import churn_model_forget, churn_model_load, churn_model_path
from recovery.customer_features import customer_signals_compute
from recovery.models import ChurnModelRun, CustomerSignals
from tests.factories import CustomerFactory, MessageAnalysisFactory, TicketFactory
from tickets.consent import ConsentPurpose
from tickets.models import (
    AuthorKind,
    Customer,
    Message,
    Ticket,
    TicketEvent,
    TicketEventKind,
)

pytestmark = pytest.mark.django_db

CUTOFF = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
HORIZON_DAYS = 60
NOW = CUTOFF + dt.timedelta(days=HORIZON_DAYS)


@pytest.fixture(autouse=True)
def churn_dir(settings: Settings, tmp_path: Path) -> Iterator[Path]:
    """A model directory of the test's own, and no model held by the process."""
    settings.RECOVERY_CHURN_MODEL_DIR = str(tmp_path / "churn")
    churn_model_forget()
    yield tmp_path / "churn"
    churn_model_forget()


def before(days: float) -> dt.datetime:
    return CUTOFF - dt.timedelta(days=days)


def contact(
    customer: Customer, team: Team, *, at: dt.datetime, sentiment: str = "", reopened: bool = False
) -> Ticket:
    """A ticket opened by the customer at `at`, analysed when a sentiment is given."""
    ticket = TicketFactory(customer=customer, team=team, created_at=at)
    if sentiment:
        MessageAnalysisFactory(
            ticket=ticket,
            requested_at=at,
            sentiment=sentiment,
        )
    if reopened:
        event = TicketEvent.objects.create(
            ticket=ticket,
            kind=TicketEventKind.STATUS_CHANGED,
            data={"from": "solved", "to": "open"},
        )
        # created_at is auto_now_add: date the reopening back into the history.
        TicketEvent.objects.filter(pk=event.pk).update(created_at=at + dt.timedelta(days=2))
    return ticket


def build_history(team: Team, *, stayers: int, churners: int, seed: int = 7) -> list[Customer]:
    """Customers before CUTOFF, and whether they wrote in the HORIZON_DAYS after it.

    Plausible and overlapping, not separable by one rule: stayers are mostly long-standing
    customers who wrote recently and calmly and come back; churners mostly have few orders, have
    been quiet for a while, were upset or had a ticket reopened, and do not write again.
    """
    rng = random.Random(seed)
    customers = []
    for churner in [False] * stayers + [True] * churners:
        if churner:
            orders = rng.randint(1, 8)
            signup = CUTOFF.date() - dt.timedelta(days=rng.randint(100, 1500))
            last_seen = rng.uniform(15, 300)
            n_tickets, p_negative, p_reopened = rng.randint(1, 2), 0.7, 0.3
        else:
            orders = rng.randint(4, 25)
            signup = CUTOFF.date() - dt.timedelta(days=rng.randint(300, 2000))
            last_seen = rng.uniform(2, 80)
            n_tickets, p_negative, p_reopened = rng.randint(1, 3), 0.2, 0.05
        customer = CustomerFactory(
            signup_date=signup,
            order_count=orders,
            lifetime_spend=Decimal(f"{orders * rng.uniform(20, 80):.2f}"),
        )
        for k in range(n_tickets):
            contact(
                customer,
                team,
                at=before(last_seen + 30 * k),
                sentiment="negative" if rng.random() < p_negative else "positive",
                reopened=rng.random() < p_reopened,
            )
        if not churner:
            contact(customer, team, at=CUTOFF + dt.timedelta(days=rng.uniform(1, 55)))
        customers.append(customer)
    return customers


@pytest.fixture
def history(team_a: Team) -> list[Customer]:
    customers = build_history(team_a, stayers=40, churners=40)
    # Not in the population: last wrote more than a year before the cutoff...
    gone = CustomerFactory()
    contact(gone, team_a, at=before(400))
    # ...and a customer who withdrew consent to model training (older "yes" superseded).
    opted_out = CustomerFactory(order_count=12)
    contact(opted_out, team_a, at=before(5))
    for granted in (True, False):
        ConsentRecord.objects.create(
            customer=opted_out, purpose=ConsentPurpose.TRAINING, granted=granted, source="api"
        )
    return customers


def expected_risk(run: ChurnModelRun, customer: Customer, *, now: dt.datetime) -> float:
    """The churn probability recomputed by hand from the numbers the run recorded."""
    details = run.details
    x = customer_histories_as_of(as_of=now, customer_ids=[customer.pk])[customer.pk].vector()
    z = details["intercept"] + sum(
        c * (v - m) / s
        for v, m, s, c in zip(
            x, details["means"], details["scales"], details["coefficients"], strict=True
        )
    )
    return 1 / (1 + math.exp(-z))


# --- without a model ---------------------------------------------------------------------------


def test_without_a_trained_model_the_heuristic_scores(team_a: Team) -> None:
    # given an upset one-order customer who last wrote 30 days ago, and one who never wrote
    upset = CustomerFactory(order_count=1)
    contact(upset, team_a, at=NOW - dt.timedelta(days=30), sentiment="negative")
    silent = CustomerFactory(order_count=3)

    # then the heuristic's terms add up as documented
    assert churn_model_current() is None
    risk, version = churn_risk_for(customer=upset, now=NOW)
    assert version == HEURISTIC_VERSION
    assert risk == pytest.approx(0.10 + 0.40 * 30 / 180 + 0.30 + 0.10, abs=1e-9)
    assert churn_risk_for(customer=silent, now=NOW) == (pytest.approx(0.50), HEURISTIC_VERSION)


def test_history_after_the_moment_is_not_seen(team_a: Team) -> None:
    customer = CustomerFactory()
    contact(customer, team_a, at=before(100), sentiment="positive")
    contact(customer, team_a, at=before(10), sentiment="negative", reopened=True)

    history = customer_histories_as_of(as_of=before(50), customer_ids=[customer.pk])[customer.pk]

    assert history.days_since_contact == pytest.approx(50.0)
    assert history.tickets_90d == 1
    assert history.negative_share == 0.0
    assert history.reopened_tickets == 0


# --- training ----------------------------------------------------------------------------------


def test_training_learns_churners_from_stayers_and_records_the_run(
    history: list[Customer], churn_dir: Path
) -> None:
    run = churn_model_train(cutoff=CUTOFF, horizon_days=HORIZON_DAYS, now=NOW)

    assert run.n_customers == 80
    assert run.n_churned == 40
    assert run.validation_auc is not None and run.validation_auc >= 0.8
    assert run.baseline_auc is not None and 0.5 < run.baseline_auc <= 1.0
    validation = run.details["training"]["validation"]
    assert (validation["n_test"], validation["n_test_churned"]) == (20, 10)
    assert run.details["training"]["cutoff"] == "2026-03-01T00:00:00+00:00"
    assert churn_model_current() == run
    assert churn_model_path() == churn_dir / "churn_model.json"
    assert sorted(p.name for p in churn_dir.iterdir()) == ["churn_model.json"]  # no temp left


def test_the_saved_model_gives_the_predictions_it_was_trained_to(
    history: list[Customer],
) -> None:
    run = churn_model_train(cutoff=CUTOFF, horizon_days=HORIZON_DAYS, now=NOW)
    stored = json.loads(churn_model_path().read_text())
    version = stored.pop("version")

    risks = [churn_risk_for(customer=c, now=CUTOFF) for c in history]
    churn_model_forget()  # as a fresh process would read it
    reloaded = [churn_risk_for(customer=c, now=CUTOFF) for c in history]

    assert version == run.version == ChurnModel.content_version(stored)
    assert reloaded == risks
    assert {v for _, v in risks} == {run.version}
    for customer, (risk, _) in zip(history, risks, strict=True):
        assert risk == pytest.approx(expected_risk(run, customer, now=CUTOFF), abs=1e-12)
    stayers, churners = [r for r, _ in risks[:40]], [r for r, _ in risks[40:]]
    assert sum(churners) / 40 > sum(stayers) / 40 + 0.3


def test_a_newer_model_file_is_picked_up_without_a_restart(history: list[Customer]) -> None:
    first = churn_model_train(cutoff=CUTOFF, horizon_days=HORIZON_DAYS, now=NOW)
    loaded = churn_model_load()
    assert loaded is not None and loaded.version == first.version

    second = churn_model_train(cutoff=before(5), horizon_days=HORIZON_DAYS, now=NOW)

    reloaded = churn_model_load()
    assert second.version != first.version
    assert reloaded is not None and reloaded.version == second.version
    assert churn_model_current() == second


def test_training_twice_on_the_same_history_records_one_run(history: list[Customer]) -> None:
    first = churn_model_train(cutoff=CUTOFF, horizon_days=HORIZON_DAYS, now=NOW)
    second = churn_model_train(cutoff=CUTOFF, horizon_days=HORIZON_DAYS, now=NOW)

    assert second.pk == first.pk
    assert ChurnModelRun.objects.count() == 1
    assert second.trained_at >= first.trained_at


def test_signals_use_the_trained_model(history: list[Customer]) -> None:
    run = churn_model_train(cutoff=CUTOFF, horizon_days=HORIZON_DAYS, now=NOW)
    customer = history[0]

    signals = customer_signals_compute(customer=customer, now=NOW)

    assert signals.churn_model_version == run.version
    assert signals.churn_risk == pytest.approx(expected_risk(run, customer, now=NOW), abs=1e-12)


# --- refusals ----------------------------------------------------------------------------------


def test_too_few_customers_is_refused_and_nothing_is_written(team_a: Team) -> None:
    build_history(team_a, stayers=10, churners=9)

    with pytest.raises(DomainError) as refused:
        churn_model_train(cutoff=CUTOFF, horizon_days=HORIZON_DAYS, now=NOW)

    assert refused.value.code == "too_little_data"
    assert refused.value.message == (
        "Too little data to train: 19 customer(s) active in the 365 days before 2026-03-01 00:00, "
        "9 of them silent in the 60 days after; at least 20 needed."
    )
    assert ChurnModelRun.objects.count() == 0
    assert not churn_model_path().exists()


def test_a_single_class_is_refused(team_a: Team) -> None:
    build_history(team_a, stayers=0, churners=25)

    with pytest.raises(DomainError) as refused:
        churn_model_train(cutoff=CUTOFF, horizon_days=HORIZON_DAYS, now=NOW)

    assert refused.value.code == "too_little_data"
    assert "at least 5 who churned and 5 who stayed" in refused.value.message
    assert ChurnModelRun.objects.count() == 0
    assert not churn_model_path().exists()


def test_a_horizon_not_yet_over_is_refused(history: list[Customer]) -> None:
    # The default end of history is the newest customer message, 55 days after the cutoff at most.
    newest = Message.objects.filter(author_kind=AuthorKind.CUSTOMER).latest("created_at")

    with pytest.raises(DomainError) as refused:
        churn_model_train(cutoff=CUTOFF, horizon_days=HORIZON_DAYS)

    assert refused.value.code == "horizon_not_observed"
    assert newest.created_at < NOW
    assert ChurnModelRun.objects.count() == 0


# --- the command -------------------------------------------------------------------------------


def test_train_churn_prints_the_figures_and_refreshes_signals(history: list[Customer]) -> None:
    out = StringIO()

    call_command(
        "train_churn",
        "--cutoff=2026-03-01",
        f"--horizon={HORIZON_DAYS}",
        "--now=2026-04-30",
        "--refresh",
        "--no-progress",
        stdout=out,
        stderr=StringIO(),
    )

    run = ChurnModelRun.objects.get()
    assert out.getvalue().splitlines() == [
        "Customers: 80 active in the 365 days before 2026-03-01T00:00:00+00:00; churned "
        "(no message in the 60 days after): 40",
        f"Validation AUC on 20 held-out customers: {run.validation_auc:.3f} "
        f"(baseline, days since last contact: {run.baseline_auc:.3f})",
        f"Saved churn model {run.version} to {churn_model_path()}",
        f"Refreshed the signals of {Customer.objects.count()} customers.",
    ]
    assert CustomerSignals.objects.count() == Customer.objects.count() == 82
    assert set(CustomerSignals.objects.values_list("churn_model_version", flat=True)) == {
        run.version
    }


def test_train_churn_explains_a_refusal(team_a: Team) -> None:
    build_history(team_a, stayers=3, churners=3)

    with pytest.raises(CommandError, match="Too little data to train: 6 customer"):
        call_command("train_churn", "--cutoff=2026-03-01", "--now=2026-06-01", stdout=StringIO())

    assert ChurnModelRun.objects.count() == 0
