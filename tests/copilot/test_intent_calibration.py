"""The "unsure" threshold is calibrated on the organisation's own held-out tickets."""

import csv
import json
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command

from accounts.models import Team
from copilot.engine import get_engine, reset_engine
from copilot.nlp.intent import IntentClassifier, threshold_calibrate
from copilot.training import intent_model_train
from tests.factories import TicketFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("copilot_dirs")]

BANKING77 = Path(settings.BASE_DIR) / "data" / "eval" / "banking77" / "train.csv"
# Close pairs (card delivery / card linking, top-up / transfer failures) so that a held-out
# split has errors and low-confidence answers for the threshold to cut.
INTENTS = ("card_arrival", "card_linking", "top_up_failed", "transfer_not_received_by_recipient")


def banking77_examples(per_intent: int) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {label: [] for label in INTENTS}
    with BANKING77.open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            texts = out.get(row["category"])
            if texts is not None and len(texts) < per_intent:
                texts.append(row["text"])
    return out


def test_threshold_calibrate_picks_the_lowest_threshold_reaching_the_target_precision() -> None:
    confidences = [0.95, 0.9, 0.8, 0.7, 0.6, 0.4, 0.3]
    correct = [True, True, False, True, False, True, False]

    calibration = threshold_calibrate(confidences, correct, target_precision=0.75)

    # From 0.61 up the answered ones are 0.95, 0.9, 0.8, 0.7: three of four right.
    assert calibration.reached is True
    assert calibration.chosen.threshold == 0.61
    assert calibration.chosen.precision == 75.0
    assert calibration.chosen.coverage == pytest.approx(100 * 4 / 7)
    assert [p.threshold for p in calibration.table] == [0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]
    assert calibration.table[3].precision == 60.0  # at 0.5: 3 of 5 right


def test_threshold_calibrate_says_when_the_target_precision_is_unreachable() -> None:
    calibration = threshold_calibrate([0.9, 0.5], [False, True], target_precision=1.0)

    assert calibration.reached is False
    assert (calibration.chosen.threshold, calibration.chosen.precision) == (0.0, 50.0)


def test_train_intent_threshold_reaches_target_precision_on_held_out_tickets(
    team_a: Team, copilot_dirs: Path
) -> None:
    for label, texts in banking77_examples(25).items():
        for text in texts:
            TicketFactory(team=team_a, first_message=text, intent=label)

    result = intent_model_train(holdout=0.4, target_precision=0.95, seed=3)

    calibration = result.calibration
    assert calibration is not None and calibration.reached is True
    assert result.holdout_size == 40
    assert calibration.chosen.precision >= 95.0
    assert calibration.chosen.coverage > 0
    # The lowest such threshold: one step lower misses the target (or it is already 0).
    lower = [p for p in calibration.table if p.threshold < calibration.chosen.threshold]
    assert all(p.precision < 95.0 for p in lower)
    saved = json.loads((copilot_dirs / "intent" / "intent_model.json").read_text())
    assert saved["threshold"] == result.threshold == calibration.chosen.threshold
    assert saved["training"]["calibration"]["target_precision"] == 0.95


def test_engine_uses_the_threshold_saved_with_the_model_unless_set_explicitly(
    team_a: Team, copilot_dirs: Path, settings
) -> None:
    settings.COPILOT_INTENT_THRESHOLD = None
    model = IntentClassifier.fit(
        ["my parcel never arrived", "package lost", "forgot my password", "reset password"],
        ["parcel", "parcel", "password", "password"],
        encoder=get_engine().encoder,
        threshold=0.37,
    )
    model.save(copilot_dirs / "intent")
    reset_engine()

    assert get_engine().intent is not None and get_engine().intent.threshold == 0.37

    settings.COPILOT_INTENT_THRESHOLD = 0.8
    reset_engine()
    assert get_engine().intent is not None and get_engine().intent.threshold == 0.8


def test_train_intent_reports_rare_intents_it_leaves_out_or_keeps_out_of_the_holdout(
    team_a: Team, copilot_dirs: Path
) -> None:
    for label, texts in banking77_examples(8).items():
        for text in texts:
            TicketFactory(team=team_a, first_message=text, intent=label)
    TicketFactory(team=team_a, first_message="I want to close my account", intent="close_account")
    for text in ("my pin is blocked", "PIN locked after three tries", "unblock my pin"):
        TicketFactory(team=team_a, first_message=text, intent="pin_blocked")
    out = StringIO()

    call_command("train_intent", stdout=out)

    text = out.getvalue()
    assert "Left out close_account: 1 labelled ticket(s), fewer than --min-examples 2." in text
    assert "Trained on pin_blocked but not held out: 3 labelled ticket(s), fewer than 5" in text
    model = get_engine().intent
    assert model is not None
    assert set(model.labels) == {*INTENTS, "pin_blocked"}
    assert "threshold  coverage  precision" in text
