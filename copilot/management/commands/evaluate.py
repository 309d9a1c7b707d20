from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from copilot.engine import get_engine
from copilot.nlp.evaluation import evaluate_tweeteval, format_report, format_sentiment, run_all

DEFAULT_DATA = Path(settings.BASE_DIR) / "data" / "eval"


class Command(BaseCommand):
    help = (
        "Measure the copilot's models on public data the team did not write: intent on "
        "BANKING77, sentiment on TweetEval, similar-case retrieval on Bitext and IBM customer "
        "care, each next to the simplest baseline. Trains on train splits, reports on test."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
        parser.add_argument(
            "--sentiment-only",
            action="store_true",
            help="only (b): the sentiment model, the previous one and VADER on TweetEval test",
        )

    def handle(self, *args: Any, data: Path, sentiment_only: bool, **options: Any) -> None:
        if not (data / "banking77").is_dir():
            raise CommandError(f"No evaluation data in {data} (see data/eval/README.md)")
        if sentiment_only:
            report = evaluate_tweeteval(data / "tweeteval_sentiment", encoder=get_engine().encoder)
            self.stdout.write("\n".join(format_sentiment(report)))
            return
        self.stdout.write(format_report(run_all(data, encoder=get_engine().encoder)))
