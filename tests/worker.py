"""A real Celery worker in a subprocess, against the real broker and the test database."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from django.db import connection


def _database_url() -> str:
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{Path(db['NAME']).resolve()}"
    user = db.get("USER") or ""
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    auth = f"{user}{password}@" if user else ""
    return f"postgres://{auth}{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"


@contextmanager
def celery_worker(
    log_path: Path,
    *,
    extra_env: dict[str, str] | None = None,
    pool: str = "solo",
    concurrency: int = 1,
) -> Iterator[subprocess.Popen[bytes]]:
    """Start a worker consuming this test run's queue; stop it (TERM, then KILL) afterwards.

    `pool="prefork"` runs it as `./dev prod` does: a main process and `concurrency` pool
    processes."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": _database_url(),
        "CELERY_TASK_DEFAULT_QUEUE": settings.CELERY_TASK_DEFAULT_QUEUE,
        "TEST_REDIS_URL": settings.CELERY_BROKER_URL,
        "COPILOT_INDEX_DIR": str(settings.COPILOT_INDEX_DIR),
        "COPILOT_INTENT_MODEL_DIR": str(settings.COPILOT_INTENT_MODEL_DIR),
        # Last, so a test can point the worker elsewhere (another broker, say).
        **(extra_env or {}),
    }
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                f"--pool={pool}",
                f"--concurrency={concurrency}",
                "--without-gossip",
                "--without-mingle",
                "--loglevel=INFO",
                "-Q",
                settings.CELERY_TASK_DEFAULT_QUEUE,
            ],
            cwd=settings.BASE_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            yield process
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def child_pids(pid: int) -> set[int]:
    """The processes a process started (its pool processes), from /proc (Linux)."""
    found: set[int] = set()
    for children in Path(f"/proc/{pid}/task").glob("*/children"):
        found.update(int(child) for child in children.read_text().split())
    return found


@contextmanager
def busy_cpus() -> Iterator[None]:
    """Keep every core busy, as a loaded production machine is, for the duration."""
    burners = [
        subprocess.Popen([sys.executable, "-c", "while True: pass"])
        for _ in os.sched_getaffinity(0)
    ]
    try:
        yield
    finally:
        for burner in burners:
            burner.kill()
            burner.wait()


def wait_for(condition: Callable[[], bool], *, timeout: float = 180.0, what: str = "") -> None:
    """Poll until ``condition()`` holds. A worker needs a few seconds to boot and load its models
    on a quiet small machine, but about a minute when every core is busy (measured: 6 s and
    55-64 s): the bound is for a hung worker, not a slow one."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what or condition}")
