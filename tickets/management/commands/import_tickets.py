from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from tickets.importing import ImportRowRefused, records_read, records_validate, tickets_import


class Command(BaseCommand):
    help = (
        "Import tickets with their transcripts from a .jsonl, .json or .csv file. "
        "Idempotent: tickets already imported (same external_id) are skipped. "
        "The file is validated first, then written in one transaction: nothing is written if "
        "any row is malformed or refused."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path)
        parser.add_argument("--source", default="", help="Recorded on each ticket's import event.")
        parser.add_argument("--no-progress", action="store_true", help="No progress bar.")

    def handle(
        self, *args: Any, path: Path, source: str, no_progress: bool, **options: Any
    ) -> None:
        if not path.is_file():
            raise CommandError(f"No such file: {path}")
        try:
            valid, problems = records_validate(records_read(path))
        except (ValueError, UnicodeDecodeError) as exc:
            raise CommandError(f"{path}: {exc}") from exc
        if problems:
            for problem in problems[:20]:
                self.stderr.write(f"{path}: {problem}")
            more = " (showing the first 20)" if len(problems) > 20 else ""
            raise CommandError(
                f"{len(problems)} malformed row(s){more}; nothing was imported. "
                "Fix them and re-run."
            )
        bar = tqdm(valid, desc="Importing", unit="ticket", disable=no_progress, file=self.stderr)
        try:
            result = tickets_import(records=bar, source=source or path.name)
        except ImportRowRefused as exc:
            raise CommandError(f"{path}: {exc.problem}; nothing was imported.") from exc
        self.stdout.write(
            self.style.SUCCESS(
                f"Imported {result.created} ticket(s); {result.skipped} already present."
            )
        )
