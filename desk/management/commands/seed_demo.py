import os
import tempfile
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from accounts.models import Role, Team, User
from accounts.services import team_get_or_create, user_create
from copilot.services.analysis import analyses_queue_missing
from copilot.services.cases import case_vectors_load
from copilot.services.replies import reply_library_build
from desk.demo import demo_file_shift, demo_intent_labels
from recovery.catalogue import action_catalogue_ensure
from recovery.customer_features import customer_signals_refresh_all
from recovery.proactive.tasks_run import proactive_demo_refresh
from tickets.services import ticket_intents_label

DEMO_FILE = Path(settings.BASE_DIR) / "data" / "demo" / "tickets.jsonl"
# The solved demo cases' vectors, computed once (manage.py save_case_vectors) and checked against
# the encoder version and each case's text before use.
DEMO_VECTORS = Path(settings.BASE_DIR) / "data" / "demo" / "case_vectors.npz"
# The de-identified demo replies' vectors (manage.py build_reply_library --save-vectors): with
# them the library builds in about 5 s instead of 2 minutes of embedding on 2 cores.
DEMO_REPLY_VECTORS = Path(settings.BASE_DIR) / "data" / "demo" / "reply_vectors.npz"
# The Twitter requests' intents, hand-labelled in the social label set (copilot.intent_sets);
# the held-out test labels live in data/eval/ and are not loaded.
DEMO_SOCIAL_INTENTS = Path(settings.BASE_DIR) / "data" / "demo" / "intent_labels_social.jsonl"
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


class StepClock:
    """Prints each step of the seed with the seconds since `./dev demo` started (DEMO_STARTED,
    seconds since the epoch, set by ./dev) or else since the command started, and how long the
    step took: where the demo's start-up time goes, in its own output."""

    def __init__(self, write: Any) -> None:
        started = os.environ.get("DEMO_STARTED", "")
        try:
            self.origin = float(started) if started else time.time()
        except ValueError:
            self.origin = time.time()
        self.last = time.time()
        self.write = write

    def step(self, what: str) -> None:
        now = time.time()
        self.write(f"[{now - self.origin:6.1f} s] {what} ({now - self.last:.1f} s)")
        self.last = now


class Command(BaseCommand):
    help = "Load the demo tickets (real public support conversations) and create demo users."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--file", type=Path, default=DEMO_FILE)
        parser.add_argument("--vectors", type=Path, default=DEMO_VECTORS)
        parser.add_argument("--no-progress", action="store_true")

    def handle(
        self, *args: Any, file: Path, vectors: Path, no_progress: bool, **options: Any
    ) -> None:
        clock = StepClock(self.stdout.write)
        teams = [team_get_or_create(name=name) for name in TEAMS]
        # The conversations date from 2016-2017: moved as one block so the newest message is a
        # few minutes old, the inbox reads "4 minutes ago", not "9 years ago".
        with tempfile.TemporaryDirectory() as folder:
            recent = Path(folder) / file.name
            offset = demo_file_shift(source=file, target=recent, now=timezone.now())
            clock.step(f"demo dates moved forward by {offset.days} days")
            call_command(
                "import_tickets",
                str(recent),
                source="demo",
                no_progress=no_progress,
                stdout=self.stdout,
            )
        labelled = ticket_intents_label(intents=demo_intent_labels(path=DEMO_SOCIAL_INTENTS))
        self.stdout.write(f"Intent labels: {labelled} Twitter requests labelled by hand.")
        clock.step("tickets imported")
        # The copilot's evidence: the solved demo tickets become the similar-case index, and
        # the open ones are queued for the worker, so their analyses fill in as the demo runs.
        # Their vectors ship with the data; only what the file lacks is embedded here.
        loaded = case_vectors_load(path=vectors)
        clock.step(f"similar cases: {loaded} vectors taken from {vectors.name}")
        # ./dev demo starts the worker once this generation is published (it would otherwise
        # find no index and rebuild one itself, embedding every case).
        call_command("rebuild_case_index", no_progress=no_progress, stdout=self.stdout)
        clock.step("similar-case index published")
        library = reply_library_build(vectors_path=DEMO_REPLY_VECTORS)
        clock.step(
            f"reply library: {sum(t.kept for t in library.teams)} entries from "
            f"{sum(t.read for t in library.teams)} past replies"
        )
        # The web server starts beside the seed: its login works from here. Not before the
        # library: the library's de-identification takes every account's names as people's
        # names, and the demo accounts' ("Agent", "Admin") would change what it keeps.
        self._users_ensure(teams)
        clock.step("demo users")
        created = action_catalogue_ensure()
        refreshed = customer_signals_refresh_all()
        clock.step(
            f"recovery catalogue ({created} action(s) added), signals of {refreshed} customers"
        )
        # One task analyses them all in batches (per-message tasks cost the worker a broker round
        # trip and a forward pass each).
        queued = analyses_queue_missing(bulk=True)
        clock.step(f"{queued} analyses queued for the worker")
        # After the queue, so the worker's analyses are not kept waiting by it.
        clock.step(f"proactive queue: {proactive_demo_refresh()}")
        self.stdout.write(f"Demo logins (password for all: {DEMO_PASSWORD}):")
        for username, role, team_idx in DEMO_USERS:
            names = ", ".join(TEAMS[i] for i in team_idx)
            self.stdout.write(f"  {username:<14} {role.label:<10} teams: {names}")

    def _users_ensure(self, teams: list[Team]) -> None:
        missing = [u for u in DEMO_USERS if not User.objects.filter(username=u[0]).exists()]
        # One hash for the four (one password): each costs 0.4 s on purpose.
        hashed = make_password(DEMO_PASSWORD) if missing else ""
        for username, role, team_idx in missing:
            user_create(
                username=username,
                password=DEMO_PASSWORD,
                password_hash=hashed,
                role=role,
                teams=[teams[i] for i in team_idx],
                first_name=username.split(".")[0].title(),
                email=f"{username}@example.com",
            )
