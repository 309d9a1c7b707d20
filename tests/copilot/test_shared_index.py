"""Several worker processes share one index directory: after a publish, each one picks up
the same new generation on its next search."""

import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone

from copilot.services.cases import case_index_rebuild
from tests.factories import TicketFactory
from tests.worker import _database_url
from tickets.models import Status

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("copilot_dirs")]

READER = """
import sys, time, django
django.setup()
from copilot.engine import get_engine
engine = get_engine()
print(engine.current_index().generation, flush=True)
sys.stdin.readline()  # the test publishes a new generation meanwhile
print(engine.current_index().generation, len(engine.current_index().index), flush=True)
"""


def test_two_processes_see_the_same_generation_after_a_publish(team_a) -> None:  # type: ignore[no-untyped-def]
    TicketFactory(team=team_a, status=Status.SOLVED, solved_at=timezone.now(), resolution="A")
    first = case_index_rebuild(progress=None).manifest
    env = {
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": _database_url(),
        "COPILOT_INDEX_DIR": str(settings.COPILOT_INDEX_DIR),
        "PATH": "/usr/bin:/bin",
        "HF_HUB_OFFLINE": "1",
    }
    readers = [
        subprocess.Popen(
            [sys.executable, "-c", READER],
            cwd=Path(settings.BASE_DIR),
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    assert first is not None
    for reader in readers:
        assert reader.stdout is not None
        assert reader.stdout.readline().strip() == str(first.generation)

    TicketFactory(team=team_a, status=Status.SOLVED, solved_at=timezone.now(), resolution="B")
    second = case_index_rebuild(progress=None).manifest
    assert second is not None

    seen = [reader.communicate("go\n", timeout=60)[0].strip() for reader in readers]
    assert seen == [f"{second.generation} 2", f"{second.generation} 2"]
