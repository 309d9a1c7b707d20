from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from copilot.training import intent_model_train
from core.errors import DomainError


class Command(BaseCommand):
    help = (
        "Train the intent classifier on the organisation's own labelled tickets (Ticket.intent) "
        "and save it where the workers load it from. Prints the held-out accuracy."
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
            default=5,
            help="Labels with fewer labelled tickets are left out (too few to learn from).",
        )
        parser.add_argument(
            "--holdout",
            type=float,
            default=0.2,
            help="Share of the examples held out to report accuracy before the final fit.",
        )

    def handle(
        self, *args: Any, output: Path | None, min_examples: int, holdout: float, **options: Any
    ) -> None:
        try:
            result = intent_model_train(output=output, min_examples=min_examples, holdout=holdout)
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        if result.dropped:
            self.stdout.write(
                f"Left out (fewer than {min_examples} examples): {', '.join(result.dropped)}"
            )
        if result.accuracy is not None:
            self.stdout.write(
                f"Held-out {result.holdout_size} tickets: accuracy {result.accuracy:.1f}%; "
                f"{result.answered_share:.0f}% above the {settings.COPILOT_INTENT_THRESHOLD:.2f} "
                f"threshold, {result.accuracy_when_answered:.1f}% of those right"
            )
        self.stdout.write(
            self.style.SUCCESS(
                f"Saved intent model {result.version} ({len(result.labels)} intents, "
                f"{result.n_examples} tickets) to {result.path}. Restart the workers to use it."
            )
        )
