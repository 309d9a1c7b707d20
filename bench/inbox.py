"""Inbox latency with a large ticket table.

Fills a database with N synthetic tickets (one message each) spread over three teams, then times
the inbox page (full page and htmx fragment) and the API list for common filters, through Django's
test client (no network, so the figures are the app's own time: queries + rendering).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/copilot_inbox \\
        .venv/bin/python bench/inbox.py --tickets 100000

The database named in DATABASE_URL is created if missing and its tables are replaced.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")

from bench.common import ensure_database


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()

    ensure_database()
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.utils import timezone

    from accounts.models import Role
    from accounts.services import team_get_or_create, user_create
    from tickets.models import Customer, Message, Ticket

    print(f"database: {connection.vendor} {connection.settings_dict['NAME']}")
    call_command("flush", interactive=False, verbosity=0)
    call_command("migrate", verbosity=0)
    teams = [team_get_or_create(name=n) for n in ("Orders", "Billing", "Technical")]
    agent = user_create(username="bench", password="x", role=Role.AGENT, teams=teams[:1])

    rng = random.Random(7)
    words = "parcel refund order late broken charge card login password delivery invoice".split()
    now = timezone.now()
    started = time.perf_counter()
    batch = 5_000
    customers = Customer.objects.bulk_create(
        Customer(external_id=f"bench-{i}", name=f"Customer {i}", email=f"c{i}@example.com")
        for i in range(args.tickets // 3)
    )
    for start in range(0, args.tickets, batch):
        tickets = []
        for i in range(start, min(start + batch, args.tickets)):
            created = now - timedelta(minutes=rng.randint(0, 60 * 24 * 365))
            status = rng.choices(["new", "open", "pending", "solved", "closed"], [2, 3, 2, 8, 5])[0]
            done = status in ("solved", "closed")
            tickets.append(
                Ticket(
                    customer=customers[i % len(customers)],
                    team=teams[i % 3],
                    subject=" ".join(rng.choices(words, k=5)) + f" #{i}",
                    channel=rng.choice(["email", "chat", "social", "phone", "api"]),
                    status=status,
                    priority=rng.choices(["low", "normal", "high", "urgent"], [2, 8, 2, 1])[0],
                    created_at=created,
                    last_message_at=created,
                    solved_at=created if done else None,
                    resolution="Resolved." if done else "",
                    transcript_version=1,
                )
            )
        Ticket.objects.bulk_create(tickets)
        Message.objects.bulk_create(
            Message(
                ticket=t,
                sequence=1,
                author_kind="customer",
                body=t.subject,
                created_at=t.created_at,
            )
            for t in tickets
        )
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    print(f"filled {args.tickets:,} tickets in {time.perf_counter() - started:.1f}s")

    client = Client(SERVER_NAME="localhost")
    client.force_login(agent)
    cases = {
        "inbox (active, page 1)": ("/", {}),
        "inbox fragment (htmx)": ("/", {"HTTP_HX_REQUEST": "true"}),
        "inbox page 50": ("/?page=50", {}),
        "inbox status=all": ("/?status=all", {}),
        "inbox priority=urgent": ("/?priority=urgent", {}),
        "inbox search 'refund'": ("/?q=refund", {}),
        "inbox search customer": ("/?q=Customer 1234", {}),
        "inbox sorted by urgency": ("/?sort=urgency", {}),
        "api ticket list": ("/api/tickets/", {}),
    }
    print(f"{'case':<28}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}")
    for name, (url, headers) in cases.items():
        client.get(url, **headers)  # warm
        timings = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            response = client.get(url, **headers)
            timings.append((time.perf_counter() - t0) * 1000)
            assert response.status_code == 200, (url, response.status_code)
        timings.sort()
        p95 = timings[max(0, int(len(timings) * 0.95) - 1)]
        print(f"{name:<28}{statistics.median(timings):>9.1f}{p95:>9.1f}{timings[-1]:>9.1f}")


if __name__ == "__main__":
    main()
