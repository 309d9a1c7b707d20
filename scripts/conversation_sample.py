"""Draw a conversation-state sample from the demo tickets (seeded, so it can be redrawn): by
default 80 Twitter (twcs), 60 Bitext and 60 IBM conversations. Writes one JSON line per
conversation with an empty "level" for the labeller to fill in.

    python scripts/conversation_sample.py > data/eval/conversation_state.jsonl
    python scripts/conversation_sample.py --seed 29 --per-source twcs=90,bitext=40,ibm=70 \
        --exclude data/eval/conversation_state.jsonl > data/eval/conversation_state_dev.jsonl

The first is the test set (measured once); the second, drawn from the other conversations, is
the development set the rules are tuned on.
"""

import argparse
import json
import random
import sys
from pathlib import Path

DEMO = Path(__file__).resolve().parent.parent / "data" / "demo" / "tickets.jsonl"
SEED = 14
PER_SOURCE = {"twcs": 80, "bitext": 60, "ibm": 60}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--per-source", default="")
    parser.add_argument("--exclude", action="append", default=[])
    args = parser.parse_args()
    per_source = dict(PER_SOURCE)
    if args.per_source:
        per_source = {k: int(v) for k, v in (p.split("=") for p in args.per_source.split(","))}
    excluded = {
        json.loads(line)["external_id"]
        for path in args.exclude
        for line in Path(path).read_text().splitlines()
        if line.strip()
    }
    by_source: dict[str, list[dict]] = {s: [] for s in per_source}
    for line in DEMO.open():
        record = json.loads(line)
        source = record["external_id"].split("-")[0]
        if record["external_id"] in excluded:
            continue
        if source in by_source and any(m["author_kind"] == "customer" for m in record["messages"]):
            by_source[source].append(record)
    rng = random.Random(args.seed)
    for source, n in per_source.items():
        for record in sorted(rng.sample(by_source[source], n), key=lambda r: r["external_id"]):
            out = {"external_id": record["external_id"], "source": source, "level": ""}
            sys.stdout.write(json.dumps(out) + "\n")


if __name__ == "__main__":
    main()
