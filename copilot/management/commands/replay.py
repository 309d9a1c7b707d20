from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from copilot.services.replay import replay_report_html, replay_run


class Command(BaseCommand):
    help = (
        "Run the suggestion pipeline over past solved tickets, each ticket's own replies held "
        "out of its team's library, and report how often the reply the agent sent was among "
        "the suggestions (per team and intent) and how many identifiers of someone else the "
        "filled suggestions hold. Writes var/reports/replay.html."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--limit", type=int, default=None, help="at most this many tickets")
        parser.add_argument(
            "--out", default=str(Path(settings.BASE_DIR) / "var" / "reports" / "replay.html")
        )

    def handle(self, *args: Any, limit: int | None, out: str, **options: Any) -> None:
        report = replay_run(limit=limit)
        total = report.total
        self.stdout.write(
            f"Replayed {total.requests} solved tickets ({report.selector_version}): "
            f"{total.suggested} got suggestions, the sent reply among them in {total.hits}; "
            f"identifiers of someone else in the filled suggestions: {report.leaks}."
        )
        for (team, intent), g in sorted(report.groups.items()):
            self.stdout.write(f"  {team} / {intent}: {g.hits} of {g.suggested} of {g.requests}")
        for example in report.leak_examples[:10]:
            self.stdout.write(f"  leak {example}")
        replay_report_html(report=report, path=Path(out))
        self.stdout.write(f"Report: {out}")
