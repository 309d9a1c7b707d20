from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from copilot.intent_sets import DEFAULT_LABEL_SET
from copilot.nlp.intent import HOLDOUT_MIN_PER_INTENT
from copilot.training import intent_model_train, selector_model_train
from core.errors import DomainError


class Command(BaseCommand):
    help = (
        "Train the intent classifier on the organisation's own labelled tickets (Ticket.intent) "
        "and save it where the workers load it from. A stratified held-out share of the tickets "
        "picks the 'unsure' threshold for the target precision and reports the accuracy. Then "
        "train the response selector on the agents' replies (COPILOT_SELECTOR_MODEL_DIR)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--output",
            type=Path,
            default=None,
            help=f"Model directory (default COPILOT_INTENT_MODEL_DIR: "
            f"{settings.COPILOT_INTENT_MODEL_DIR}).",
        )
        parser.add_argument(
            "--min-examples",
            type=int,
            default=2,
            help="Intents with fewer labelled tickets are left out (too few to learn from); "
            "the command names them.",
        )
        parser.add_argument(
            "--holdout",
            type=float,
            default=0.2,
            help="Share of the tickets held out to choose the threshold and report accuracy "
            "before the final fit on all of them (0: no calibration, threshold 0.5).",
        )
        parser.add_argument(
            "--target-precision",
            type=float,
            default=None,
            help="Share of answered (not 'unsure') intents that must be right on the held-out "
            f"tickets (default COPILOT_INTENT_TARGET_PRECISION: "
            f"{settings.COPILOT_INTENT_TARGET_PRECISION}).",
        )
        parser.add_argument("--seed", type=int, default=0, help="Seed of the held-out split.")
        parser.add_argument(
            "--label-set",
            default=DEFAULT_LABEL_SET,
            help="Train this intent label set on its own tickets (those of teams that name it, "
            "or on a channel COPILOT_INTENT_LABEL_SET_BY_CHANNEL maps to it) and save it to "
            "COPILOT_INTENT_LABEL_SETS_DIR/<name> (default: the 'default' set, "
            "COPILOT_INTENT_MODEL_DIR). Another set than the default trains no selector.",
        )
        parser.add_argument(
            "--selector-output",
            type=Path,
            default=None,
            help=f"Response selector directory (default COPILOT_SELECTOR_MODEL_DIR: "
            f"{settings.COPILOT_SELECTOR_MODEL_DIR}).",
        )
        parser.add_argument(
            "--no-replies",
            action="store_true",
            help="Train the intent classifier only, not the response selector.",
        )

    def handle(
        self,
        *args: Any,
        output: Path | None,
        min_examples: int,
        holdout: float,
        target_precision: float | None = None,
        seed: int = 0,
        selector_output: Path | None = None,
        no_replies: bool = False,
        label_set: str = DEFAULT_LABEL_SET,
        **options: Any,
    ) -> None:
        try:
            result = intent_model_train(
                output=output,
                min_examples=min_examples,
                holdout=holdout,
                target_precision=target_precision,
                seed=seed,
                label_set=label_set,
            )
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        for label, count in result.dropped:
            self.stdout.write(
                f"Left out {label}: {count} labelled ticket(s), fewer than --min-examples "
                f"{min_examples}."
            )
        for label, count in result.train_only:
            self.stdout.write(
                f"Trained on {label} but not held out: {count} labelled ticket(s), fewer than "
                f"{HOLDOUT_MIN_PER_INTENT}; its accuracy is not measured."
            )
        calibration = result.calibration
        if calibration is not None and result.accuracy is not None:
            chosen = calibration.chosen
            self.stdout.write(
                f"Held-out {result.holdout_size} tickets: accuracy {result.accuracy:.1f}%"
                + (
                    f" (model in use: {result.previous_accuracy:.1f}%)"
                    if result.previous_accuracy is not None
                    else ""
                )
            )
            goal = f"{100 * calibration.target_precision:.0f}%"
            if calibration.reached:
                self.stdout.write(
                    f"Threshold {chosen.threshold:.2f} (target precision {goal}): answers "
                    f"{chosen.coverage:.0f}% of requests, {chosen.precision:.1f}% of those right"
                )
            else:
                self.stdout.write(
                    self.style.WARNING(
                        f"No threshold reaches {goal} precision on the held-out tickets; using "
                        f"the most precise, {chosen.threshold:.2f}: answers "
                        f"{chosen.coverage:.0f}%, {chosen.precision:.1f}% of those right. "
                        "Label more tickets."
                    )
                )
            self.stdout.write("threshold  coverage  precision")
            for point in calibration.table:
                self.stdout.write(
                    f"     {point.threshold:.2f}    {point.coverage:5.1f}%     "
                    f"{point.precision:5.1f}%"
                )
        else:
            self.stdout.write(
                f"No held-out split (holdout {holdout}, or fewer than two intents with "
                f"{HOLDOUT_MIN_PER_INTENT}+ tickets): threshold {result.threshold:.2f}, "
                "accuracy not measured."
            )
        if settings.COPILOT_INTENT_THRESHOLD is not None:
            self.stdout.write(
                self.style.WARNING(
                    f"COPILOT_INTENT_THRESHOLD={settings.COPILOT_INTENT_THRESHOLD} is set and "
                    f"overrides the saved threshold {result.threshold:.2f}; unset it to use "
                    "this one."
                )
            )
        self.stdout.write(
            self.style.SUCCESS(
                f"Saved intent model {result.version} of label set {result.label_set!r} "
                f"({len(result.labels)} intents, "
                f"{result.n_examples} tickets, threshold {result.threshold:.2f}) to "
                f"{result.path}. Restart the workers to use it."
            )
        )
        # The selector learns from every team's replies, whatever their intents: trained once,
        # with the default set.
        if not no_replies and label_set == DEFAULT_LABEL_SET:
            self._train_selector(output=selector_output, seed=seed)

    def _train_selector(self, *, output: Path | None, seed: int) -> None:
        try:
            result = selector_model_train(output=output, seed=seed)
        except DomainError as exc:
            self.stdout.write(self.style.WARNING(f"Response selector not trained: {exc.message}"))
            return
        calibration = result.calibration
        if calibration is None:
            self.stdout.write(
                self.style.WARNING(
                    "Too few replies to choose the suggestion threshold on held-out tickets: "
                    "every request gets suggestions (threshold 0.00)."
                )
            )
        else:
            chosen = calibration.chosen
            goal = f"{100 * calibration.target_precision:.0f}%"
            self.stdout.write(
                f"Suggestion threshold {chosen.threshold:.2f} on {result.holdout_pairs} held-out "
                f"requests, 1 of {result.candidates} (target: true reply among the three shown "
                f"for {goal}): {chosen.coverage:.0f}% get suggestions, {chosen.precision:.1f}% "
                "of those have the true reply among them"
                + ("" if calibration.reached else " (target not reached: the most precise one)")
            )
        self.stdout.write(
            self.style.SUCCESS(
                f"Saved response selector {result.version} ({result.n_pairs} replies of "
                f"{result.n_tickets} tickets, threshold {result.threshold:.2f}) to "
                f"{result.path}. Restart the workers to use it."
            )
        )
