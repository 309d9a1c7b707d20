"""Training the organisation's own intent model from its labelled tickets, and its response
selector from the replies its agents sent."""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from django.conf import settings

from copilot.engine import get_engine, intent_model_dir
from copilot.intent_sets import DEFAULT_LABEL_SET, label_set_dirs, label_set_validate
from copilot.nlp.intent import (
    HOLDOUT_MIN_PER_INTENT,
    Calibration,
    IntentClassifier,
    calibration_split,
    threshold_calibrate,
)
from copilot.nlp.reply_eval import (
    CANDIDATES,
    ReplyPair,
    candidate_sets,
    split_for_calibration,
    trigger_calibrate,
)
from copilot.nlp.selector_branch import (
    SHIPPED,
    BranchTraining,
    encoder_bottom_states,
    reply_vectors,
    request_vectors,
    save_selector,
    start_branch,
    train_branch,
)
from copilot.selectors import intent_training_examples, reply_training_pairs
from core.errors import DomainError

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
    label_set: str = DEFAULT_LABEL_SET


def intent_model_train(
    *,
    output: Path | None = None,
    min_examples: int = 2,
    holdout: float = 0.2,
    target_precision: float | None = None,
    seed: int = 0,
    label_set: str = DEFAULT_LABEL_SET,
) -> IntentTrainingResult:
    """Train on the labelled tickets of one label set (copilot.intent_sets) and save the model
    with its "unsure" threshold where the workers load that set from.

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
    try:
        label_set_validate(label_set)
    except ValueError as exc:
        raise DomainError(str(exc), field="label_set") from exc
    texts, labels, dropped = intent_training_examples(
        min_examples=min_examples, label_set=label_set
    )
    if len(set(labels)) < 2:
        raise DomainError(
            f"Need labelled tickets of at least two intents in label set {label_set!r} (set "
            "Ticket.intent) to train.",
            field="intent",
        )
    counts: dict[str, int] = {}
    for label in labels:
        counts[label] = counts.get(label, 0) + 1
    train_only = tuple(sorted((k, n) for k, n in counts.items() if n < HOLDOUT_MIN_PER_INTENT))
    encoder = get_engine().encoder
    embeddings = encoder.encode(texts)
    accuracy = previous = calibration = None
    train, test = calibration_split(labels, holdout=holdout, seed=seed)
    if test:
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
        current = intent_model_dir(label_set)
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
    target_dir = output or label_set_dirs(label_set)[0]
    version = model.save(target_dir)
    return IntentTrainingResult(
        label_set=label_set,
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


# Fine-tuning the shipped branch on an organisation's own history: fewer epochs and a lower
# learning rate than the shipped training, which started from the bare encoder.
ORG_FINE_TUNING = BranchTraining(epochs=2, block_lr=1e-5, map_lr=1e-4)
# Fewer (request, reply) pairs than this teach a selector nothing worth its file.
SELECTOR_MIN_PAIRS = 20
# Below this many distinct replies there is no honest ranking test to choose a threshold on.
SELECTOR_MIN_CANDIDATES = 10


@dataclass(frozen=True)
class SelectorTrainingResult:
    version: str
    path: Path
    n_pairs: int
    n_tickets: int
    threshold: float
    # On the held-out tickets (None without any): the calibration of the trigger and the
    # candidate-set size it was measured with (100, or fewer when the history is small).
    calibration: Calibration | None
    candidates: int
    holdout_pairs: int


def selector_model_train(
    *,
    output: Path | None = None,
    holdout: float = 0.1,
    target_precision: float | None = None,
    seed: int = 0,
) -> SelectorTrainingResult:
    """Fine-tune the response selector on every (request, agent reply) pair of the tickets,
    starting from the shipped one.

    A seeded `holdout` share of the tickets chooses the trigger: a selector fitted on the rest
    ranks each held-out request's true reply among 99 others of the same team, and the lowest
    top score at which `target_precision` of the requests it lets through have the true reply
    among the three shown becomes the threshold. The saved selector is fitted on every pair.
    """
    target = (
        settings.COPILOT_REPLY_TARGET_PRECISION if target_precision is None else target_precision
    )
    if not 0.0 < target <= 1.0:
        raise DomainError("The target precision must be above 0 and at most 1.", field="target")
    found = reply_training_pairs()
    if len(found) < SELECTOR_MIN_PAIRS:
        raise DomainError(
            f"Need at least {SELECTOR_MIN_PAIRS} customer requests answered by an agent to "
            f"train the response selector; found {len(found)}.",
            field="replies",
        )
    pairs = [
        ReplyPair(
            source="org",
            company=str(p.team_id),
            ticket=str(p.ticket_id),
            request=p.request,
            reply=p.reply,
            split="train",
        )
        for p in found
    ]
    encoder = get_engine().encoder
    replies = encoder.encode([p.reply for p in pairs])
    keys = [p.reply for p in pairs]
    size = min(CANDIDATES, len(set(keys)))
    # Fine-tune from the shipped branch (or the encoder's own top block): the request side's
    # block reads the hidden state below it, computed once for every request here.
    initial, origin = start_branch(
        encoder, shipped=SHIPPED if settings.COPILOT_SELECTOR_SHIPPED else None
    )
    config = ORG_FINE_TUNING
    states = encoder_bottom_states(encoder, [p.request for p in pairs], initial.config.start_layer)
    calibration = None
    held: list[int] = []
    if 0 < holdout < 1 and size >= SELECTOR_MIN_CANDIDATES:
        fit, held = split_for_calibration(pairs, range(len(pairs)), seed=seed, share=holdout)
        if len(fit) >= 2 and held:
            first = copy.deepcopy(initial)
            train_branch(
                first,
                [states[i] for i in fit],
                replies[fit],
                reply_keys=[keys[i] for i in fit],
                config=config,
            )
            sets = candidate_sets(pairs, held, seed=seed, size=size)
            mapped = reply_vectors(first, replies)[sets.rows]
            queries = request_vectors(first, [states[i] for i in held])
            scores = (mapped @ queries[:, :, None])[:, :, 0]
            calibration = trigger_calibrate(scores, target_precision=target)
    threshold = calibration.chosen.threshold if calibration else 0.0
    model = copy.deepcopy(initial)
    record = train_branch(model, states, replies, reply_keys=keys, config=config)
    record["started_from"] = origin
    target_dir = output or Path(settings.COPILOT_SELECTOR_MODEL_DIR)
    version = save_selector(
        target_dir, model, encoder_version=encoder.version, threshold=threshold, info=record
    )
    return SelectorTrainingResult(
        version=version,
        path=target_dir,
        n_pairs=len(pairs),
        n_tickets=len({p.ticket for p in pairs}),
        threshold=threshold,
        calibration=calibration,
        candidates=size,
        holdout_pairs=len(held),
    )
