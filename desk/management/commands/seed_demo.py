import tempfile
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from accounts.models import Role, User
from accounts.services import team_get_or_create, user_create
from copilot.services.cases import case_vectors_load
from copilot.services.replies import reply_library_build
from desk.demo import demo_file_shift
from recovery.catalogue import action_catalogue_ensure
from recovery.customer_features import customer_signals_refresh_all
from recovery.proactive.tasks_run import proactive_demo_refresh

DEMO_FILE = Path(settings.BASE_DIR) / "data" / "demo" / "tickets.jsonl"
# The solved demo cases' vectors, computed once (manage.py save_case_vectors) and checked against
# the encoder version and each case's text before use.
DEMO_VECTORS = Path(settings.BASE_DIR) / "data" / "demo" / "case_vectors.npz"
# The de-identified demo replies' vectors (manage.py build_reply_library --save-vectors): with
# them the library builds in about 5 s instead of 2 minutes of embedding on 2 cores.
DEMO_REPLY_VECTORS = Path(settings.BASE_DIR) / "data" / "demo" / "reply_vectors.npz"
# Printed on purpose: demo data on a laptop, never a deployment.
DEMO_PASSWORD = "copilot-demo"  # noqa: S105
TEAMS = ["Orders & Delivery", "Billing & Payments", "Accounts & Technical"]
# username, role, teams (indexes into TEAMS; admins see every team anyway)
DEMO_USERS = [
    ("agent", Role.AGENT, [0]),
    ("agent.billing", Role.AGENT, [1]),
    ("supervisor", Role.SUPERVISOR, [0, 1]),
    ("admin", Role.ADMIN, [0, 1, 2]),
]


class Command(BaseCommand):
    help = "Load the demo tickets (real public support conversations) and create demo users."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--file", type=Path, default=DEMO_FILE)
        parser.add_argument("--vectors", type=Path, default=DEMO_VECTORS)
        parser.add_argument("--no-progress", action="store_true")

    def handle(
        self, *args: Any, file: Path, vectors: Path, no_progress: bool, **options: Any
    ) -> None:
        teams = [team_get_or_create(name=name) for name in TEAMS]
        # The conversations date from 2016-2017: moved as one block so the newest message is a
        # few minutes old, the inbox reads "4 minutes ago", not "9 years ago".
        with tempfile.TemporaryDirectory() as folder:
            recent = Path(folder) / file.name
            offset = demo_file_shift(source=file, target=recent, now=timezone.now())
            self.stdout.write(f"Demo dates moved forward by {offset.days} days.")
            call_command(
                "import_tickets",
                str(recent),
                source="demo",
                no_progress=no_progress,
                stdout=self.stdout,
            )
        # The copilot's evidence: the solved demo tickets become the similar-case index, and
        # the open ones are queued for the worker, so their analyses fill in as the demo runs.
        # Their vectors ship with the data; only what the file lacks is embedded here.
        loaded = case_vectors_load(path=vectors)
        self.stdout.write(f"Similar cases: {loaded} vectors taken from {vectors.name}.")
        call_command("rebuild_case_index", no_progress=no_progress, stdout=self.stdout)
        library = reply_library_build(vectors_path=DEMO_REPLY_VECTORS)
        self.stdout.write(
            f"Reply library: {sum(t.kept for t in library.teams)} entries from "
            f"{sum(t.read for t in library.teams)} past replies in {library.seconds:.1f} s."
        )
        created = action_catalogue_ensure()
        self.stdout.write(f"Recovery catalogue: {created} action(s) added.")
        refreshed = customer_signals_refresh_all()
        self.stdout.write(f"Customer signals computed for {refreshed} customers.")
        self.stdout.write(f"Proactive queue: {proactive_demo_refresh()}")
        # One task analyses them all in batches (per-message tasks cost the worker a broker round
        # trip and a forward pass each).
        call_command("analyse_tickets", bulk=True, stdout=self.stdout)
        self.stdout.write(f"Demo logins (password for all: {DEMO_PASSWORD}):")
        for username, role, team_idx in DEMO_USERS:
            if not User.objects.filter(username=username).exists():
                user_create(
                    username=username,
                    password=DEMO_PASSWORD,
                    role=role,
                    teams=[teams[i] for i in team_idx],
                    first_name=username.split(".")[0].title(),
                    email=f"{username}@example.com",
                )
            names = ", ".join(TEAMS[i] for i in team_idx)
            self.stdout.write(f"  {username:<14} {role.label:<10} teams: {names}")
