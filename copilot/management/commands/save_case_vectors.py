from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from copilot.services.cases import case_vectors_save


class Command(BaseCommand):
    help = (
        "Write the stored solved cases' vectors to a file, keyed by ticket external id and the "
        "encoder version (how data/demo/case_vectors.npz is made, after seed_demo)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path)

    def handle(self, *args: Any, path: Path, **options: Any) -> None:
        written = case_vectors_save(path=path)
        self.stdout.write(self.style.SUCCESS(f"Wrote {written} case vectors to {path}."))
