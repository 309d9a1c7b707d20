"""Backup and restore as docs/operations.md describes it, against the real PostgreSQL."""

import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from copilot.services.cases import case_index_rebuild
from recovery.catalogue import action_catalogue_ensure
from recovery.models import RecoveryAction
from recovery.services import recommendation_add
from tests.factories import TicketFactory
from tickets.models import Status

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("copilot_dirs")]
TABLES = [
    "tickets_customer",
    "tickets_ticket",
    "tickets_message",
    "tickets_consentrecord",
    "copilot_solvedcase",
    "recovery_recommendation",
    "recovery_auditevent",
]


def _url(name: str) -> str:
    db = connection.settings_dict
    host = f"{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
    return f"postgres://{db['USER'] or 'postgres'}@{host}/{name}"


def _counts(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}  # noqa: S608


def test_dump_restore_and_rebuild_give_back_everything(team_a, agent, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    if connection.vendor != "postgresql":
        pytest.skip("pg_dump backs up PostgreSQL, the production database")
    action_catalogue_ensure()
    for i in range(3):
        TicketFactory(
            team=team_a, status=Status.SOLVED, solved_at=timezone.now(), resolution=f"R{i}"
        )
    open_ticket = TicketFactory(team=team_a)
    recommendation_add(
        ticket=open_ticket,
        user=agent,
        action=RecoveryAction.objects.get(key="callback"),
        reason="asked for a call",
    )
    built = case_index_rebuild(progress=None).manifest
    source = _url(connection.settings_dict["NAME"])
    restored_name = f"copilot_restore_{os.getpid()}"
    restored = _url(restored_name)
    dump = tmp_path / "copilot.dump"

    subprocess.run(["pg_dump", "--format=custom", "--file", str(dump), source], check=True)
    subprocess.run(
        ["dropdb", "--if-exists", "--maintenance-db", _url("postgres"), restored_name], check=True
    )
    subprocess.run(["createdb", "--maintenance-db", _url("postgres"), restored_name], check=True)
    try:
        subprocess.run(["pg_restore", "--no-owner", "--dbname", restored, str(dump)], check=True)
        rebuilt = subprocess.run(
            [sys.executable, "manage.py", "rebuild_case_index", "--no-progress"],
            cwd=settings.BASE_DIR,
            env={
                **os.environ,
                "DJANGO_SETTINGS_MODULE": "config.settings.test",
                "DATABASE_URL": restored,
                "COPILOT_INDEX_DIR": str(tmp_path / "restored-index"),
            },
            capture_output=True,
            text=True,
            check=True,
        )

        assert _counts(restored) == _counts(source)
        assert built is not None
        assert f": {built.count} cases" in rebuilt.stdout
    finally:
        subprocess.run(
            ["dropdb", "--if-exists", "--maintenance-db", _url("postgres"), restored_name],
            check=False,
        )
