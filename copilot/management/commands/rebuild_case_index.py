from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from tqdm import tqdm

from copilot.nlp.index import KINDS
from copilot.services.cases import case_index_rebuild, cases_to_embed


class Command(BaseCommand):
    help = (
        "Build the similar-case index from the solved tickets in the database and publish it "
        "atomically (a first start, a missing or corrupt index, a new embedding model or index "
        "kind). Solved tickets not yet embedded are embedded first."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--kind",
            choices=KINDS,
            default=None,
            help=f"Index type (default COPILOT_INDEX_KIND, now {settings.COPILOT_INDEX_KIND}).",
        )
        parser.add_argument(
            "--reembed", action="store_true", help="Embed every solved ticket again."
        )
        parser.add_argument("--no-progress", action="store_true")

    def handle(
        self, *args: Any, kind: str | None, reembed: bool, no_progress: bool, **options: Any
    ) -> None:
        total = len(cases_to_embed(reembed=reembed))
        with tqdm(
            total=total, desc="Embedding", unit="case", disable=no_progress, file=self.stderr
        ) as bar:
            result = case_index_rebuild(kind=kind, reembed=reembed, progress=bar.update)
        manifest = result.manifest
        assert manifest is not None  # a rebuild always publishes
        self.stdout.write(
            self.style.SUCCESS(
                f"Published index generation {manifest.generation}: {manifest.count} cases, "
                f"{manifest.kind} index ({total} embedded now) in {settings.COPILOT_INDEX_DIR}"
            )
        )
