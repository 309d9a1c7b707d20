"""Load on loopback: 20 agents browsing, opening tickets and replying (their open ticket pages
polling for changes) while customers write.

Fills the database like bench/analysis.py (the demo's real tickets plus synthetic solved ones
up to --cases indexed cases), starts gunicorn and a Celery worker on Redis (production
settings; the worker with one math thread and at nice 10, as ./dev prod starts it), runs
locust headless (bench/locustfile.py) and prints requests/s, p50/p95/p99 per endpoint, the
error ratio, the delay from a customer message to its analysis, and the CPU each part used.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/copilot_bench \\
        .venv/bin/python bench/load.py --cases 100000 --users 42 --seconds 90
"""

from __future__ import annotations

import argparse
import csv
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import ensure_database, fill_synthetic_cases  # noqa: E402

PASSWORD = "load-bench"  # noqa: S105 (a throwaway benchmark database)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument(
        "--users",
        type=int,
        default=42,
        help="20 agents, the 20 ticket pages they have open (polling), 2 customers",
    )
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--web-workers", type=int, default=3, help="gunicorn worker processes")
    parser.add_argument(
        "--worker-nice",
        type=int,
        default=10,
        help="niceness of the Celery worker, as ./dev prod starts it (0: as the web processes)",
    )
    parser.add_argument(
        "--worker-threads",
        type=int,
        default=1,
        help="OMP_NUM_THREADS of the worker, as ./dev prod (0: torch's default, one per core)",
    )
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="keep the database of a previous run when it already holds --cases cases",
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="copilot-load-"))
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.base",
        "DJANGO_SECRET_KEY": "load-bench-" + "x" * 40,
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        # Flushed before the run: a Redis database of its own.
        "CELERY_BROKER_URL": os.environ.get("LOAD_BROKER_URL", "redis://127.0.0.1:6379/14"),
        "COPILOT_INDEX_DIR": str(work / "index"),
        "LOG_LEVEL": "WARNING",
        # Loopback has no TLS: cookies marked secure would never come back.
        "DJANGO_SECURE_COOKIES": "false",
        # The customers share one token and poll for their analyses: the run measures capacity,
        # not the API's rate limit.
        "API_THROTTLE_TOKEN": "1000000/min",
        "API_THROTTLE_INTEGRATION": "1000000/min",
    }
    os.environ.update(env)
    try:
        tickets, token, sessions = prepare(args.cases, reuse=args.reuse)
        run(args, env, work, tickets, token, sessions)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def prepare(cases: int, *, reuse: bool) -> tuple[list[int], str, list[str]]:
    ensure_database()
    import django

    django.setup()
    from django.core.management import call_command

    from copilot.models import SolvedCase

    call_command("migrate", verbosity=0)
    if not (reuse and SolvedCase.objects.count() >= cases):
        fill(cases)
    return in_play()


def fill(cases: int) -> None:
    import numpy as np
    from django.core.management import call_command

    from accounts.models import Role, Team
    from accounts.services import user_create
    from copilot.models import SolvedCase

    call_command("flush", interactive=False, verbosity=0)
    call_command("migrate", verbosity=0)
    call_command("seed_demo", no_progress=True, stdout=open(os.devnull, "w"))  # noqa: SIM115
    real = np.vstack(
        [
            np.frombuffer(bytes(b), dtype=np.float32)
            for b in SolvedCase.objects.values_list("embedding", flat=True)
        ]
    )
    fill_synthetic_cases(total=cases, real_vectors=real)
    team = Team.objects.get(name="Orders & Delivery")
    for n in range(1, 21):
        user_create(username=f"load.agent.{n}", password=PASSWORD, role=Role.AGENT, teams=[team])
    user_create(
        username="load.shop", password=PASSWORD, role=Role.ADMIN, teams=list(Team.objects.all())
    )


def in_play() -> tuple[list[int], str, list[str]]:
    """The open tickets the agents work on, the shop's API token and one session per agent.

    Agents start logged in: the run measures a working day's steady state, not 20 password
    hashes at once (a login costs 0.3-0.45 s of CPU here, by design)."""
    from django.test import Client
    from rest_framework.authtoken.models import Token

    from accounts.models import Team, User
    from copilot.services.cases import case_index_rebuild
    from tickets.models import Ticket

    manifest = case_index_rebuild(progress=None).manifest
    team = Team.objects.get(name="Orders & Delivery")
    sessions = []
    for agent in User.objects.filter(username__startswith="load.agent.").order_by("pk"):
        client = Client()
        client.force_login(agent)
        sessions.append(client.cookies["sessionid"].value)
    tickets = list(
        Ticket.objects.filter(team=team, status__in=["new", "open", "pending"]).values_list(
            "pk", flat=True
        )[:200]
    )
    print(
        f"database: {Ticket.objects.count():,} tickets, {manifest.count:,} indexed cases; "  # type: ignore[union-attr]
        f"{len(tickets)} open tickets of the agents' team in play"
    )
    # seed_demo queued the demo's own open tickets: drop that backlog, so the delay measured
    # is that of the messages written during the run.
    import redis

    redis.Redis.from_url(os.environ["CELERY_BROKER_URL"]).flushdb()
    token, _ = Token.objects.get_or_create(user=User.objects.get(username="load.shop"))
    return tickets, token.key, sessions


def run(
    args: argparse.Namespace,
    env: dict[str, str],
    work: Path,
    tickets: list[int],
    token: str,
    sessions: list[str],
) -> None:
    py = sys.executable
    venv_bin = Path(py).parent
    # Production settings serve the collected, hashed static files.
    subprocess.run(
        [py, "manage.py", "collectstatic", "--no-input", "-v0"], cwd=ROOT, env=env, check=True
    )
    web = subprocess.Popen(
        [
            str(venv_bin / "gunicorn"),
            "config.wsgi",
            "--bind",
            "127.0.0.1:8799",
            "--workers",
            str(args.web_workers),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    worker_env = dict(env)
    if args.worker_threads:
        worker_env["OMP_NUM_THREADS"] = str(args.worker_threads)
    worker = subprocess.Popen(
        [
            py,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "-Q",
            "copilot.fast,copilot.index",
            "--concurrency",
            "1",
            "--loglevel",
            "WARNING",
        ],
        cwd=ROOT,
        env=worker_env,
        preexec_fn=lambda: os.nice(args.worker_nice),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    cpu: dict[str, float] = {}
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen("http://127.0.0.1:8799/health/", timeout=1)
                break
            except OSError:
                time.sleep(0.5)
        time.sleep(10)  # the worker loads its models
        started = time.monotonic()
        before = cpu_seconds(web=web.pid, worker=worker.pid)
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run(
            [
                str(venv_bin / "locust"),
                "-f",
                str(ROOT / "bench" / "locustfile.py"),
                "--headless",
                "--host",
                "http://127.0.0.1:8799",
                "-u",
                str(args.users),
                "-r",
                "5",
                "-t",
                f"{args.seconds}s",
                "--csv",
                str(work / "load"),
                "--only-summary",
            ],
            cwd=ROOT,
            env={
                **env,
                "LOAD_TICKETS": ",".join(map(str, tickets)),
                "LOAD_TOKEN": token,
                "LOAD_SESSIONS": ",".join(sessions),
            },
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=False,
        )
        after = cpu_seconds(web=web.pid, worker=worker.pid)
        elapsed = time.monotonic() - started
        cpu = {part: (after[part] - before[part]) / elapsed for part in after}
        # Locust has ended by now: its time is that of the children this process waited for.
        ended = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu["load generator (locust)"] = (
            ended.ru_utime + ended.ru_stime - children.ru_utime - children.ru_stime
        ) / elapsed
    finally:
        for process in (web, worker):
            process.terminate()
            process.wait(timeout=30)
    report(work / "load_stats.csv", args, cpu)


def cpu_seconds(*, web: int, worker: int) -> dict[str, float]:
    """CPU time used so far by each part: where the two cores went during the run."""
    import psutil

    def tree(pid: int) -> list[psutil.Process]:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]

    parts = {"web (gunicorn)": tree(web), "worker (celery)": tree(worker)}
    parts["postgresql"] = []
    parts["redis"] = []
    for process in psutil.process_iter(["name"]):
        name = process.info["name"] or ""
        if name.startswith("postgres"):
            parts["postgresql"].append(process)
        elif name.startswith("redis"):
            parts["redis"].append(process)
    used: dict[str, float] = {}
    for part, processes in parts.items():
        total = 0.0
        for process in processes:
            try:
                times = process.cpu_times()
                total += times.user + times.system
            except psutil.Error:
                continue  # ended in between
        used[part] = total
    return used


def report(path: Path, args: argparse.Namespace, cpu: dict[str, float]) -> None:
    rows = list(csv.DictReader(path.open()))
    print(f"{args.users} users for {args.seconds}s on this {os.cpu_count()}-core machine")
    print(f"{'endpoint':<28}{'requests':>9}{'fails':>7}{'req/s':>8}{'p50':>7}{'p95':>7}{'p99':>7}")
    for row in rows:
        print(
            f"{row['Name']:<28}{row['Request Count']:>9}{row['Failure Count']:>7}"
            f"{float(row['Requests/s']):>8.1f}{row['50%']:>7}{row['95%']:>7}{row['99%']:>7}"
        )
    total = next(r for r in rows if r["Name"] == "Aggregated")
    ratio = int(total["Failure Count"]) / max(1, int(total["Request Count"]))
    print(f"error ratio {ratio:.4f} (milliseconds for p50/p95/p99)")
    print("CPU used during the run, in cores: " + ", ".join(f"{k} {v:.2f}" for k, v in cpu.items()))


if __name__ == "__main__":
    main()
