"""Training the organisation's own intent model from its labelled tickets."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from copilot.engine import get_engine, intent_model_dir
from copilot.nlp.intent import UNSURE, IntentClassifier
from copilot.selectors import intent_training_examples
from core.errors import DomainError


@dataclass(frozen=True)
class IntentTrainingResult:
    version: str
    path: Path
    n_examples: int
    labels: tuple[str, ...]
    dropped: tuple[str, ...]
    # On a held-out share of the labelled tickets (None when holdout is 0): the new model, and
    # the model in use before, where it knows the same labels.
    holdout_size: int
    accuracy: float | None
    answered_share: float | None
    accuracy_when_answered: float | None
    previous_accuracy: float | None


def intent_model_train(
    *, output: Path | None = None, min_examples: int = 5, holdout: float = 0.2
) -> IntentTrainingResult:
    texts, labels, dropped = intent_training_examples(min_examples=min_examples)
    if len(set(labels)) < 2:
        raise DomainError(
            "Need labelled tickets of at least two intents (set Ticket.intent) to train.",
            field="intent",
        )
    encoder = get_engine().encoder
    threshold = settings.COPILOT_INTENT_THRESHOLD
    embeddings = encoder.encode(texts)
    accuracy = answered = right_when_answered = previous = None
    test: list[int] = []
    if 0 < holdout < 1:
        from sklearn.model_selection import train_test_split

        train, test = train_test_split(
            range(len(texts)), test_size=holdout, random_state=0, stratify=labels
        )
        model = IntentClassifier.fit(
            [texts[i] for i in train],
            [labels[i] for i in train],
            encoder=encoder,
            threshold=threshold,
            embeddings=embeddings[train],
        )
        accuracy, answered, right_when_answered = _scores(model, texts, labels, test, embeddings)
        current = intent_model_dir()
        if current is not None:
            in_use = IntentClassifier.load(current)
            if in_use.encoder_version == encoder.version:
                previous = _scores(in_use, texts, labels, test, embeddings)[0]
    model = IntentClassifier.fit(
        texts, labels, encoder=encoder, threshold=threshold, embeddings=embeddings
    )
    target = output or Path(settings.COPILOT_INTENT_MODEL_DIR)
    version = model.save(target)
    return IntentTrainingResult(
        version=version,
        path=target,
        n_examples=len(texts),
        labels=model.labels,
        dropped=tuple(dropped),
        holdout_size=len(test),
        accuracy=accuracy,
        answered_share=answered,
        accuracy_when_answered=right_when_answered,
        previous_accuracy=previous,
    )


def _scores(
    model: IntentClassifier, texts: list[str], labels: list[str], rows: list[int], embeddings
) -> tuple[float, float, float]:
    """(accuracy of the best guess, share above the threshold, accuracy on that share)."""
    predictions = model.predict(
        [texts[i] for i in rows], embeddings=embeddings[rows], encoder=get_engine().encoder
    )
    gold = [labels[i] for i in rows]
    correct = sum(p.best_guess == g for p, g in zip(predictions, gold, strict=True))
    sure = [(p, g) for p, g in zip(predictions, gold, strict=True) if p.label != UNSURE]
    right = sum(p.label == g for p, g in sure)
    return (
        100 * correct / len(rows),
        100 * len(sure) / len(rows),
        100 * right / max(1, len(sure)),
    )
