"""Few-shot BANKING77 with a calibrated "unsure" threshold, as an organisation starting out
would train: a few labelled requests per intent, some of them held out to pick the threshold.

10 examples per intent are carved (seeded) from the BANKING77 train split, as the DialoGLUE
few-shot splits do; a further 5 per intent choose the threshold for the target precision;
the 3,080 test requests measure accuracy and coverage / precision at that threshold and at the
fixed 0.5.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from pathlib import Path

from copilot.nlp.datasets import load_banking77
from copilot.nlp.embeddings import Encoder, get_encoder
from copilot.nlp.intent import (
    Calibration,
    IntentClassifier,
    ThresholdPoint,
    threshold_calibrate,
    threshold_point,
)

FIXED_THRESHOLD = 0.5


@dataclass(frozen=True)
class FewShotEvaluation:
    shots: int
    calibration_shots: int
    seed: int
    n_train: int
    n_calibration: int
    n_test: int
    accuracy: float
    calibration: Calibration
    # On the test split.
    at_calibrated: ThresholdPoint
    at_fixed: ThresholdPoint
    table: tuple[ThresholdPoint, ...]
    seconds: float


def banking77_few_shot_split(
    texts: list[str], labels: list[str], *, shots: int, calibration_shots: int, seed: int
) -> tuple[list[int], list[int]]:
    """(train rows, calibration rows): `shots` then `calibration_shots` per intent, seeded."""
    by_label: dict[str, list[int]] = {}
    for i, label in enumerate(labels):
        by_label.setdefault(label, []).append(i)
    rng = random.Random(seed)
    train: list[int] = []
    calibration: list[int] = []
    for label in sorted(by_label):
        rows = by_label[label][:]
        rng.shuffle(rows)
        train += rows[:shots]
        calibration += rows[shots : shots + calibration_shots]
    return train, calibration


def evaluate_banking77_few_shot(
    directory: Path,
    *,
    encoder: Encoder | None = None,
    shots: int = 10,
    calibration_shots: int = 5,
    target_precision: float = 0.9,
    seed: int = 0,
) -> FewShotEvaluation:
    started = time.perf_counter()
    encoder = encoder or get_encoder()
    texts, labels = load_banking77(directory, "train")
    test_texts, test_labels = load_banking77(directory, "test")
    train, held = banking77_few_shot_split(
        texts, labels, shots=shots, calibration_shots=calibration_shots, seed=seed
    )
    model = IntentClassifier.fit(
        [texts[i] for i in train], [labels[i] for i in train], encoder=encoder
    )
    held_pred = model.predict([texts[i] for i in held], encoder=encoder)
    calibration = threshold_calibrate(
        [p.confidence for p in held_pred],
        [p.best_guess == labels[i] for p, i in zip(held_pred, held, strict=True)],
        target_precision=target_precision,
    )
    test_pred = model.predict(test_texts, encoder=encoder)
    confidences = [p.confidence for p in test_pred]
    correct = [p.best_guess == g for p, g in zip(test_pred, test_labels, strict=True)]
    return FewShotEvaluation(
        shots=shots,
        calibration_shots=calibration_shots,
        seed=seed,
        n_train=len(train),
        n_calibration=len(held),
        n_test=len(test_texts),
        accuracy=100 * sum(correct) / len(correct),
        calibration=calibration,
        at_calibrated=threshold_point(confidences, correct, calibration.chosen.threshold),
        at_fixed=threshold_point(confidences, correct, FIXED_THRESHOLD),
        table=tuple(threshold_point(confidences, correct, p.threshold) for p in calibration.table),
        seconds=time.perf_counter() - started,
    )


def format_few_shot(result: FewShotEvaluation) -> str:
    chosen = result.calibration.chosen
    goal = f"{100 * result.calibration.target_precision:.0f}%"
    lines = [
        f"BANKING77 few-shot: {result.shots} per intent to train ({result.n_train}), "
        f"{result.calibration_shots} more to calibrate ({result.n_calibration}), "
        f"test {result.n_test}; seed {result.seed}; {result.seconds:.0f} s",
        f"  accuracy (best guess)      {result.accuracy:.1f}%",
        f"  calibrated threshold       {chosen.threshold:.2f} for {goal} precision"
        + ("" if result.calibration.reached else " (target not reached on calibration)")
        + f" (calibration: coverage {chosen.coverage:.1f}%, precision {chosen.precision:.1f}%)",
        f"  test at {result.at_calibrated.threshold:.2f} (calibrated)  coverage "
        f"{result.at_calibrated.coverage:.1f}%, precision {result.at_calibrated.precision:.1f}%",
        f"  test at {result.at_fixed.threshold:.2f} (fixed)       coverage "
        f"{result.at_fixed.coverage:.1f}%, precision {result.at_fixed.precision:.1f}%",
        "  threshold  coverage  precision (test)",
    ]
    lines += [
        f"       {p.threshold:.2f}    {p.coverage:5.1f}%     {p.precision:5.1f}%"
        for p in result.table
    ]
    return "\n".join(lines)
