"""Draw the seeded sample of demo requests that `data/eval/recovery_requests.jsonl` labels.

Stratified so that every source, team and Bitext intent is present: 2 Bitext tickets per intent
(27 intents), 24 TWCS threads per team, and 30 IBM threads (20 Accounts & Technical, 5 from
each other team, as far as the team has them). A request is the customer's messages of the
ticket up to the first agent reply joined by a space (what the customer asked before anyone
answered); threads whose request is under 20 characters are skipped. Prints JSON Lines with
the fields to label (`acceptable` and `informational` are filled in by a person reading each
request: see data/eval/README.md).

    python scripts/sample_recovery_requests.py > /tmp/sample.jsonl

The held-out set (`data/eval/recovery_requests_heldout.jsonl`) was drawn with another seed, a
smaller size with the same mix, and without any request of the original set:

    python scripts/sample_recovery_requests.py --seed 41 --scale 0.77 \
        --exclude data/eval/recovery_requests.jsonl > /tmp/heldout.jsonl

`--scale` multiplies every quota (rounded); the Bitext quota is taken over all intents, one or
two per intent, the intents that get the second chosen by the seed. Scale 1 draws exactly the
original set.
"""

from __future__ import annotations

import argparse
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


def excluded_ids(paths: list[Path]) -> set[str]:
    ids: set[str] = set()
    for path in paths:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                ids.add(json.loads(line)["external_id"])
    return ids


def bitext_quotas(intents: list[str], *, scale: float, rng: random.Random) -> dict[str, int]:
    """Spread round(2 x intents x scale) over the intents: the same count each, and the
    remainder one more for intents chosen by the seed (nothing drawn when none remains, so
    scale 1 consumes the generator exactly as the original sampling did)."""
    total = round(PER_BITEXT_INTENT * len(intents) * scale)
    base, extra = divmod(total, len(intents))
    quotas = dict.fromkeys(intents, base)
    if extra:
        for intent in rng.sample(sorted(intents), extra):
            quotas[intent] += 1
    return quotas


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every quota")
    parser.add_argument(
        "--exclude", type=Path, action="append", default=[], help="JSONL of requests to skip"
    )
    args = parser.parse_args()
    skip = excluded_ids(args.exclude)
    strata: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for line in DEMO.read_text(encoding="utf-8").splitlines():
        ticket = json.loads(line)
        if ticket["external_id"] in skip:
            continue
        text = request_text(ticket)
        if len(text) < 20:
            continue
        source = ticket["external_id"].split("-")[0]
        key = (source, ticket["intent"] if source == "bitext" else ticket["team"])
        strata[key].append({**ticket, "_text": text})
    rng = random.Random(args.seed)
    intents = [label for source, label in strata if source == "bitext"]
    bitext = bitext_quotas(intents, scale=args.scale, rng=rng)
    picked = []
    for key in sorted(strata):
        source, label = key
        if source == "bitext":
            n = bitext[label]
        elif source == "twcs":
            n = round(TWCS_PER_TEAM * args.scale)
        else:
            n = round(IBM_PER_TEAM[label] * args.scale)
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
