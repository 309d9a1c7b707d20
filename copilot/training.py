"""Training the organisation's own intent model from its labelled tickets."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from django.conf import settings

from copilot.engine import get_engine, intent_model_dir
from copilot.nlp.intent import Calibration, IntentClassifier, threshold_calibrate
from copilot.selectors import intent_training_examples
from core.errors import DomainError

# Intents with fewer labelled tickets than this are trained on all of them and kept out of the
# held-out split: one or two held-out tickets say nothing about an intent, and taking them
# away from training would leave it hardly any.
HOLDOUT_MIN_PER_INTENT = 5
# Used when there is no held-out split to calibrate on (holdout 0, or too few tickets).
DEFAULT_THRESHOLD = 0.5


@dataclass(frozen=True)
class IntentTrainingResult:
    version: str
    path: Path
    n_examples: int
    labels: tuple[str, ...]
    # (label, count) left out for having fewer than min_examples labelled tickets.
    dropped: tuple[tuple[str, int], ...]
    # (label, count) trained on but kept out of the held-out split (too few to hold any out).
    train_only: tuple[tuple[str, int], ...]
    # The threshold saved with the model (chosen on the held-out split when there is one).
    threshold: float
    # On a held-out share of the labelled tickets (None when there is none): the model fitted
    # on the rest, and the model in use before, where it knows the same labels.
    holdout_size: int
    accuracy: float | None
    calibration: Calibration | None
    previous_accuracy: float | None


def intent_model_train(
    *,
    output: Path | None = None,
    min_examples: int = 2,
    holdout: float = 0.2,
    target_precision: float | None = None,
    seed: int = 0,
) -> IntentTrainingResult:
    """Train on the labelled tickets and save the model with its "unsure" threshold.

    A stratified, seeded `holdout` share of the tickets is kept aside; a model fitted on the
    rest picks the lowest threshold whose precision on the answered held-out tickets reaches
    `target_precision` (COPILOT_INTENT_TARGET_PRECISION by default). The saved model is then
    fitted on every ticket, with that threshold.
    """
    target = (
        settings.COPILOT_INTENT_TARGET_PRECISION if target_precision is None else target_precision
    )
    if not 0.0 < target <= 1.0:
        raise DomainError("The target precision must be above 0 and at most 1.", field="target")
    texts, labels, dropped = intent_training_examples(min_examples=min_examples)
    if len(set(labels)) < 2:
        raise DomainError(
            "Need labelled tickets of at least two intents (set Ticket.intent) to train.",
            field="intent",
        )
    counts: dict[str, int] = {}
    for label in labels:
        counts[label] = counts.get(label, 0) + 1
    train_only = tuple(sorted((k, n) for k, n in counts.items() if n < HOLDOUT_MIN_PER_INTENT))
    encoder = get_engine().encoder
    embeddings = encoder.encode(texts)
    accuracy = previous = calibration = None
    test: list[int] = []
    eligible = [i for i, label in enumerate(labels) if counts[label] >= HOLDOUT_MIN_PER_INTENT]
    eligible_labels = {labels[i] for i in eligible}
    if 0 < holdout < 1 and len(eligible_labels) >= 2:
        from sklearn.model_selection import train_test_split

        size = max(len(eligible_labels), math.ceil(holdout * len(eligible)))
        _, test = train_test_split(
            eligible,
            test_size=size,
            random_state=seed,
            stratify=[labels[i] for i in eligible],
        )
        train = sorted(set(range(len(texts))) - set(test))
        model = IntentClassifier.fit(
            [texts[i] for i in train],
            [labels[i] for i in train],
            encoder=encoder,
            embeddings=embeddings[train],
        )
        predictions = model.predict(
            [texts[i] for i in test], embeddings=embeddings[test], encoder=encoder
        )
        correct = [p.best_guess == labels[i] for p, i in zip(predictions, test, strict=True)]
        accuracy = 100 * sum(correct) / len(test)
        calibration = threshold_calibrate(
            [p.confidence for p in predictions], correct, target_precision=target
        )
        current = intent_model_dir()
        if current is not None:
            in_use = IntentClassifier.load(current)
            if in_use.encoder_version == encoder.version:
                guesses = in_use.predict(
                    [texts[i] for i in test], embeddings=embeddings[test], encoder=encoder
                )
                right = sum(p.best_guess == labels[i] for p, i in zip(guesses, test, strict=True))
                previous = 100 * right / len(test)
    threshold = calibration.chosen.threshold if calibration else DEFAULT_THRESHOLD
    model = IntentClassifier.fit(
        texts, labels, encoder=encoder, threshold=threshold, embeddings=embeddings
    )
    if calibration is not None:
        model = replace(
            model,
            training={
                **model.training,
                "calibration": {
                    "holdout_size": len(test),
                    "seed": seed,
                    "target_precision": target,
                    "reached": calibration.reached,
                    "chosen": asdict(calibration.chosen),
                    "accuracy": round(accuracy or 0.0, 2),
                },
            },
        )
    target_dir = output or Path(settings.COPILOT_INTENT_MODEL_DIR)
    version = model.save(target_dir)
    return IntentTrainingResult(
        version=version,
        path=target_dir,
        n_examples=len(texts),
        labels=model.labels,
        dropped=tuple(dropped),
        train_only=train_only,
        threshold=threshold,
        holdout_size=len(test),
        accuracy=accuracy,
        calibration=calibration,
        previous_accuracy=previous,
    )
