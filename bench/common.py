"""Helpers shared by the benchmark scripts."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

DEMO_TICKETS = Path(__file__).resolve().parent.parent / "data" / "demo" / "tickets.jsonl"


def ensure_database() -> None:
    """Create the PostgreSQL database named in DATABASE_URL when it does not exist yet."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        return
    import psycopg
    from psycopg import sql

    base, _, name = url.rpartition("/")
    name = name.split("?")[0]
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def customer_messages(limit: int) -> list[str]:
    """The first `limit` customer messages of the demo tickets: real support text."""
    found: list[str] = []
    with DEMO_TICKETS.open() as lines:
        for line in lines:
            ticket = json.loads(line)
            found += [m["body"] for m in ticket["messages"] if m["author_kind"] == "customer"]
            if len(found) >= limit:
                break
    return found[:limit]


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile by nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def fill_synthetic_cases(*, total: int, real_vectors: Any) -> tuple[Any, int]:
    """Add solved tickets with case vectors until the database holds `total` cases: each a real
    case's embedding plus noise, spread over the teams like the real ones. Returns the
    synthetic customer and how many were added."""
    import numpy as np
    from django.utils import timezone

    from accounts.models import Team
    from copilot.engine import get_engine
    from copilot.models import SolvedCase
    from tickets.models import Customer, Status, Ticket

    version = get_engine().encoder.version
    teams = list(Team.objects.all())
    customer = Customer.objects.create(external_id="bench", name="Bench Customer")
    rng = np.random.default_rng(7)
    now = timezone.now()
    missing = max(0, total - len(real_vectors))
    for start in range(0, missing, 5_000):
        n = min(5_000, missing - start)
        tickets = Ticket.objects.bulk_create(
            Ticket(
                customer=customer,
                team=teams[(start + i) % len(teams)],
                subject=f"Synthetic case {start + i}",
                channel="email",
                status=Status.SOLVED,
                created_at=now,
                last_message_at=now,
                solved_at=now,
                resolution="Synthetic resolution.",
            )
            for i in range(n)
        )
        base = real_vectors[rng.integers(0, len(real_vectors), n)]
        noisy = base + rng.normal(scale=0.05, size=base.shape).astype(np.float32)
        noisy /= np.linalg.norm(noisy, axis=1, keepdims=True)
        SolvedCase.objects.bulk_create(
            SolvedCase(
                ticket=t, text="", embedding=v.astype(np.float32).tobytes(), model_version=version
            )
            for t, v in zip(tickets, noisy, strict=True)
        )
    return customer, missing
