"""Says when the demo is ready, in seconds since `./dev demo` started (DEMO_STARTED): when the
web server first answers, and how many of the demo's analyses are done until all are.

Plain Python (no Django: it starts in a few milliseconds and costs the seed and the worker no
CPU), run in the background by `./dev demo`. It reads the embedded SQLite database read-only;
on another database (DATABASE_URL set) it reports the web server only.

    python scripts/demo_ready.py URL [SQLITE_FILE]
"""

from __future__ import annotations

import os
import sqlite3
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

POLL_SECONDS = 0.5
# A progress line at most this often while analyses run.
PROGRESS_SECONDS = 10.0
# Stop watching after this long: a demo whose analyses take longer has another problem.
GIVE_UP_SECONDS = 900.0


def elapsed(origin: float) -> str:
    return f"[{time.time() - origin:6.1f} s]"


def analysis_counts(database: Path) -> tuple[int, int] | None:
    """(done, all) of the analyses requested so far, or None while the table is not readable."""
    try:
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=1) as conn:
            rows = conn.execute(
                "SELECT status = 'pending', COUNT(*) FROM copilot_messageanalysis GROUP BY 1"
            ).fetchall()
    except sqlite3.Error:
        return None
    counts = {bool(pending): count for pending, count in rows}
    return counts.get(False, 0), counts.get(False, 0) + counts.get(True, 0)


def web_answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 (our own server)
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def watch(url: str, database: Path | None, origin: float) -> None:
    web_up = False
    analysed = database is None  # nothing to watch there
    last_progress = 0.0
    deadline = time.monotonic() + GIVE_UP_SECONDS
    while not (web_up and analysed) and time.monotonic() < deadline:
        if not web_up and web_answers(url):
            web_up = True
            print(f"{elapsed(origin)} the web server answers: {url}", flush=True)
        counts = analysis_counts(database) if not analysed and database is not None else None
        if counts is not None and counts[1]:
            done, total = counts
            if done == total:
                analysed = True
                print(f"{elapsed(origin)} every demo analysis done: {total}", flush=True)
            elif time.monotonic() - last_progress >= PROGRESS_SECONDS:
                last_progress = time.monotonic()
                print(f"{elapsed(origin)} {done} of {total} demo analyses done", flush=True)
        time.sleep(POLL_SECONDS)


def main(argv: list[str]) -> int:
    started = os.environ.get("DEMO_STARTED", "")
    origin = float(started) if started else time.time()
    database = Path(argv[1]) if len(argv) > 1 and not os.environ.get("DATABASE_URL") else None
    watch(argv[0], database, origin)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
