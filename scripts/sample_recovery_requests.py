"""Draw the seeded sample of demo requests that `data/eval/recovery_requests.jsonl` labels.

Stratified so that every source, team and Bitext intent is present: 2 Bitext tickets per intent
(27 intents), 24 TWCS threads per team, and 30 IBM threads (20 Accounts & Technical, 5 from
each other team, as far as the team has them). A request is the customer's messages of the
ticket up to the first agent reply joined by a space (what the customer asked before anyone
answered); threads whose request is under 20 characters are skipped. Prints JSON Lines with
the fields to label (`acceptable` and `informational` are filled in by a person reading each
request: see data/eval/README.md).

    python scripts/sample_recovery_requests.py > /tmp/sample.jsonl
"""

from __future__ import annotations

import json
import random
import sys
from collections import defaultdict
from pathlib import Path

SEED = 14
DEMO = Path(__file__).resolve().parent.parent / "data" / "demo" / "tickets.jsonl"
PER_BITEXT_INTENT = 2
TWCS_PER_TEAM = 24
IBM_PER_TEAM = {"Accounts & Technical": 20, "Orders & Delivery": 5, "Billing & Payments": 5}


def request_text(ticket: dict) -> str:
    parts = []
    for message in ticket["messages"]:
        if message["author_kind"] != "customer":
            break
        parts.append(message["body"].strip())
    return " ".join(parts)


def main() -> None:
    strata: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for line in DEMO.read_text(encoding="utf-8").splitlines():
        ticket = json.loads(line)
        text = request_text(ticket)
        if len(text) < 20:
            continue
        source = ticket["external_id"].split("-")[0]
        key = (source, ticket["intent"] if source == "bitext" else ticket["team"])
        strata[key].append({**ticket, "_text": text})
    rng = random.Random(SEED)
    picked = []
    for key in sorted(strata):
        source, label = key
        if source == "bitext":
            n = PER_BITEXT_INTENT
        elif source == "twcs":
            n = TWCS_PER_TEAM
        else:
            n = IBM_PER_TEAM[label]
        pool = sorted(strata[key], key=lambda t: t["external_id"])
        picked.extend(rng.sample(pool, min(n, len(pool))))
    for ticket in picked:
        row = {
            "external_id": ticket["external_id"],
            "team": ticket["team"],
            "intent": ticket["intent"],
            "text": ticket["_text"],
        }
        sys.stdout.write(json.dumps(row, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
