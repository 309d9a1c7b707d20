from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from copilot.engine import get_engine
from recovery.evaluation import evaluate, format_report, requests_load

BASE = Path(settings.BASE_DIR) / "data"


class Command(BaseCommand):
    help = (
        "Measure recovery proposals on the labelled demo requests: precision@1 and the rate of "
        "money offered to informational requests, today's ranking next to the one that reads "
        "what the customer asks for, in the same run."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--data",
            "--file",
            type=Path,
            default=BASE / "eval" / "recovery_requests.jsonl",
            help="labelled requests; data/eval/recovery_requests_heldout.jsonl is the held-out set",
        )
        parser.add_argument("--demo", type=Path, default=BASE / "demo" / "tickets.jsonl")

    def handle(self, *args: Any, data: Path, demo: Path, **options: Any) -> None:
        if not data.is_file() or not demo.is_file():
            raise CommandError(f"Need {data} and {demo} (see data/eval/README.md)")
        requests = requests_load(path=data, demo=demo)
        readings = get_engine().sentiment.analyse([r.text for r in requests])
        sentiments = [(s.label, s.score) for s in readings]
        name = (
            data.relative_to(settings.BASE_DIR) if data.is_relative_to(settings.BASE_DIR) else data
        )
        self.stdout.write(format_report(evaluate(requests, sentiments), data=str(name)))
