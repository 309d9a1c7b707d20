from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import Team
from copilot.services.replies import reply_library_build, reply_vectors_save


class Command(BaseCommand):
    help = (
        "Build the reply library from the agents' replies in solved and closed tickets: "
        "de-identified, near-duplicates collapsed, per team. Saved replies and admins' edits "
        "and disables are kept."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--team", help="Only this team (its slug).")
        parser.add_argument(
            "--vectors", type=Path, help="Take the texts' vectors from this file where it has them."
        )
        parser.add_argument(
            "--save-vectors",
            type=Path,
            help="Write every de-identified reply's vector to this file (for shipping with data); "
            "with --vectors, only the texts that file lacks are embedded.",
        )

    def handle(
        self,
        *args: Any,
        team: str | None,
        vectors: Path | None,
        save_vectors: Path | None,
        **options: Any,
    ) -> None:
        team_ids = None
        if team:
            found = Team.objects.filter(slug=team).values_list("pk", flat=True).first()
            if found is None:
                raise CommandError(f"No team with the slug {team!r}.")
            team_ids = [found]
        report = reply_library_build(team_ids=team_ids, vectors_path=vectors)
        self.stdout.write(
            f"Reply library build {report.build_id}: {report.seconds:.1f} s, "
            f"{report.embedded} texts embedded, {report.from_file} vectors from a file, "
            f"near-duplicates at cosine >= {report.near_duplicate_cosine}."
        )
        for t in report.teams:
            dropped = ", ".join(f"{n} {why}" for why, n in t.dropped.most_common()) or "none"
            self.stdout.write(
                f"  {t.team}: {t.read} replies read, {t.kept} entries, "
                f"{t.collapsed_exact} exact and {t.collapsed_near} near duplicates collapsed, "
                f"{t.removed} old entries removed, {t.curated_kept} curated kept; "
                f"dropped: {dropped}"
            )
        if save_vectors is not None:
            saved = reply_vectors_save(path=save_vectors, reuse=vectors)
            self.stdout.write(f"{saved} reply vectors written to {save_vectors}.")
