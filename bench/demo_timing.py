"""How long `./dev demo` takes, step by step, from a fresh clone.

Clones the repository (the committed HEAD of this checkout, or --source) into an empty folder,
links an existing virtualenv into it (the packages-installed case: `pip install` is not timed),
runs `./dev demo` there on a free port and prints, in seconds from the start:

- every line `./dev demo` printed (its own step timings included),
- when the login page first answered, and when the inbox of a demo agent first listed tickets,
- when every analysis of the demo's open tickets was done (read from the demo's SQLite file).

Then it stops the demo (its process group only) and removes the clone.

    .venv/bin/python bench/demo_timing.py --venv /path/to/.venv [--port 8765] [--keep]
"""

from __future__ import annotations

import argparse
import http.cookiejar
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _clone(source: str, ref: str, target: Path, venv: Path) -> None:
    subprocess.run(["git", "clone", "--quiet", source, str(target)], check=True)  # noqa: S607
    if ref:
        checkout = ["git", "-C", str(target), "checkout", "--quiet", ref]
        subprocess.run(checkout, check=True)
    (target / ".venv").symlink_to(venv)


class Clock:
    def __init__(self) -> None:
        self.start = time.monotonic()
        self.marks: list[tuple[float, str]] = []
        self.lock = threading.Lock()

    def mark(self, what: str) -> float:
        elapsed = time.monotonic() - self.start
        with self.lock:
            self.marks.append((elapsed, what))
        print(f"[{elapsed:7.1f} s] {what}", flush=True)
        return elapsed


def _read_output(proc: subprocess.Popen[str], clock: Clock, log: list[str]) -> None:
    assert proc.stdout is not None
    for line in proc.stdout:
        line = line.rstrip()
        log.append(line)
        # Celery's per-task lines are many; the worker's progress lines and the rest are kept.
        if re.search(r"Task .* (received|succeeded)", line):
            continue
        clock.mark(f"| {line[:150]}")


def _user_exists(database: Path, username: str) -> bool:
    try:
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=1) as conn:
            row = conn.execute(
                "SELECT 1 FROM accounts_user WHERE username = ?", [username]
            ).fetchone()
    except sqlite3.Error:
        return False
    return row is not None


def _web(clock: Clock, base: str, database: Path, stop: threading.Event) -> None:
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    while not stop.is_set():
        try:
            with opener.open(f"{base}/login/", timeout=5) as response:
                page = response.read().decode()
            break
        except (urllib.error.URLError, OSError):
            time.sleep(0.2)
    else:
        return
    clock.mark("== login page answered")
    # Log in once the demo user exists: failed logins would be throttled, then locked out.
    while not stop.is_set() and not _user_exists(database, "agent"):
        time.sleep(0.2)
    clock.mark("== demo users exist")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert token, "no CSRF token on the login page"
    form = urllib.parse.urlencode(
        {"username": "agent", "password": "copilot-demo", "csrfmiddlewaretoken": token.group(1)}
    ).encode()
    request = urllib.request.Request(  # noqa: S310 (the demo started here)
        f"{base}/login/", data=form, headers={"Referer": base + "/"}
    )
    while not stop.is_set():
        try:
            with opener.open(request, timeout=10) as response:
                response.read()
            with opener.open(f"{base}/", timeout=10) as response:
                inbox = response.read().decode()
                at = response.geturl()
            if "/login/" not in at and "/tickets/" in inbox:
                clock.mark("== inbox of a demo agent answered with tickets")
                return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)


def _analyses(clock: Clock, database: Path, stop: threading.Event) -> None:
    reported = None
    while not stop.is_set():
        time.sleep(0.5)
        if not database.exists():
            continue
        try:
            with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=1) as conn:
                counts = dict(
                    conn.execute(
                        "SELECT status, COUNT(*) FROM copilot_messageanalysis GROUP BY status"
                    ).fetchall()
                )
        except sqlite3.Error:
            continue
        pending = counts.get("pending", 0)
        total = sum(counts.values())
        if total and reported is None:
            reported = clock.mark(f"== {total} analyses requested")
        if total and not pending:
            clock.mark(f"== every demo analysis done: {counts}")
            return


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", default=str(ROOT), help="git repository to clone")
    parser.add_argument("--ref", default="", help="commit to check out (default: HEAD)")
    parser.add_argument("--venv", type=Path, default=(ROOT / ".venv").resolve())
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--keep", action="store_true", help="leave the clone in place")
    parser.add_argument("--timeout", type=float, default=400)
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="democlone-"))
    clone = folder / "copilot"
    _clone(args.source, args.ref, clone, args.venv)
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.pop("CELERY_BROKER_URL", None)
    env["PORT"] = str(args.port)
    load = os.getloadavg()
    print(f"load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    clock = Clock()
    proc = subprocess.Popen(
        ["./dev", "demo"],
        cwd=clone,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    log: list[str] = []
    stop = threading.Event()
    reader = threading.Thread(target=_read_output, args=(proc, clock, log), daemon=True)
    database = clone / "var" / "copilot.sqlite3"
    web = threading.Thread(
        target=_web, args=(clock, f"http://127.0.0.1:{args.port}", database, stop)
    )
    work = threading.Thread(target=_analyses, args=(clock, database, stop))
    for thread in (reader, web, work):
        thread.start()
    deadline = time.monotonic() + args.timeout
    while (web.is_alive() or work.is_alive()) and time.monotonic() < deadline:
        if proc.poll() is not None:
            print("./dev demo ended early")
            break
        time.sleep(0.5)
    stop.set()
    load = os.getloadavg()
    print(f"load average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
    web.join(timeout=5)
    work.join(timeout=5)
    print("\nsummary (s from the start):")
    for elapsed, what in clock.marks:
        if what.startswith("=="):
            print(f"  {elapsed:7.1f}  {what[3:]}")
    if args.keep:
        print(f"clone kept in {clone}")
    else:
        shutil.rmtree(folder, ignore_errors=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
