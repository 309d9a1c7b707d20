"""seed_demo on a slice of the demo data: it prints each step with its time, its users log in
with the demo password (they share one hash), and a second run adds nothing."""

import json
import re
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command

from accounts.models import User
from copilot.models import MessageAnalysis, ReplyEntry, SolvedCase
from desk.management.commands.seed_demo import DEMO_PASSWORD, DEMO_USERS
from tickets.models import Customer, Message, Ticket, TicketEvent

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("copilot_dirs")]
DEMO = Path(settings.BASE_DIR) / "data" / "demo" / "tickets.jsonl"


@pytest.fixture
def demo_slice(tmp_path: Path) -> Path:
    """Sixty demo conversations, open and solved."""
    rows = [json.loads(line) for line in DEMO.read_text().splitlines()[:60]]
    assert {r["status"] for r in rows} & {"new", "open", "pending"}
    assert {r["status"] for r in rows} & {"solved", "closed"}
    path = tmp_path / "demo.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    return path


def _counts() -> dict[str, int]:
    return {
        model.__name__: model.objects.count()
        for model in (Customer, Ticket, Message, TicketEvent, SolvedCase, MessageAnalysis, User)
    } | {"ReplyEntry": ReplyEntry.objects.filter(active=True).count()}


def test_seed_demo_times_its_steps_and_a_second_run_adds_nothing(
    demo_slice: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DEMO_STARTED", raising=False)
    out = StringIO()

    call_command("seed_demo", file=demo_slice, no_progress=True, stdout=out)

    steps = re.findall(r"^\[\s*([\d.]+) s\] (.+) \(([\d.]+) s\)$", out.getvalue(), re.M)
    assert [re.sub(r"\d+", "N", what.split(":")[0]) for _, what, _ in steps] == [
        "demo dates moved forward by N days",
        "tickets imported",
        "similar cases",
        "similar-case index published",
        "reply library",
        "demo users",
        "recovery catalogue (N action(s) added), signals of N customers",
        "N analyses queued for the worker",
        "proactive queue",
    ]
    since_start = [float(at) for at, _, _ in steps]
    assert since_start == sorted(since_start)
    first = _counts()
    assert first["Ticket"] == 60 and first["MessageAnalysis"] > 0
    hashes = set(User.objects.values_list("password", flat=True))
    assert len(hashes) == 1  # one hash for the four
    for username, _, _ in DEMO_USERS:
        assert User.objects.get(username=username).check_password(DEMO_PASSWORD)

    call_command("seed_demo", file=demo_slice, no_progress=True, stdout=StringIO())

    assert _counts() == first
