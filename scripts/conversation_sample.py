"""Draw the conversation-state evaluation sample from the demo tickets (seeded, so it can be
redrawn): 80 Twitter (twcs), 60 Bitext and 60 IBM conversations. Writes one JSON line per
conversation with an empty "level" for the labeller to fill in.

    python scripts/conversation_sample.py > data/eval/conversation_state.jsonl
"""

import json
import random
import sys
from pathlib import Path

DEMO = Path(__file__).resolve().parent.parent / "data" / "demo" / "tickets.jsonl"
SEED = 14
PER_SOURCE = {"twcs": 80, "bitext": 60, "ibm": 60}


def main() -> None:
    by_source: dict[str, list[dict]] = {s: [] for s in PER_SOURCE}
    for line in DEMO.open():
        record = json.loads(line)
        source = record["external_id"].split("-")[0]
        if source in by_source and any(m["author_kind"] == "customer" for m in record["messages"]):
            by_source[source].append(record)
    rng = random.Random(SEED)
    for source, n in PER_SOURCE.items():
        for record in sorted(rng.sample(by_source[source], n), key=lambda r: r["external_id"]):
            out = {"external_id": record["external_id"], "source": source, "level": ""}
            sys.stdout.write(json.dumps(out) + "\n")


if __name__ == "__main__":
    main()
