from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from copilot.services.analysis import analyses_queue_missing


class Command(BaseCommand):
    help = (
        "Queue an analysis of the latest customer request of every active (new, open, pending) "
        "ticket that has none, whoever wrote last (after an import), and with --retry-failed "
        "re-run the analyses that failed. The workers do the work; this only queues it."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--retry-failed", action="store_true")
        parser.add_argument(
            "--bulk",
            action="store_true",
            help="One task analyses them all in batches, instead of one task per message.",
        )

    def handle(self, *args: Any, retry_failed: bool, bulk: bool, **options: Any) -> None:
        queued = analyses_queue_missing(retry_failed=retry_failed, bulk=bulk)
        self.stdout.write(self.style.SUCCESS(f"Queued {queued} analyses."))
