"""How many math threads the encoder should get: one message against a batch.

Encodes real customer messages from the demo data, one at a time and in batches of 64, with 1
thread and with one per core, and prints wall time and CPU time for each. A worker that
analyses one message at a time wants the thread count where the wall time stops falling and
the CPU time does not grow (docs/operations.md).

    .venv/bin/python bench/threads.py
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import customer_messages


def main() -> None:
    import torch

    from copilot.nlp.embeddings import get_encoder

    encoder = get_encoder()
    texts = customer_messages(640)
    encoder.encode(texts[:64])  # load and warm up
    print(f"{'threads':>7}  {'case':<22}{'wall p50 ms':>12}{'CPU p50 ms':>12}")
    for threads in sorted({1, os.cpu_count() or 1}):
        torch.set_num_threads(threads)
        for case, size in (("one message", 1), ("batch of 64 messages", 64)):
            walls, cpus = [], []
            for start in range(0, len(texts) if size > 1 else 100, size):
                batch = texts[start : start + size]
                wall, cpu = time.perf_counter(), time.process_time()
                encoder.encode(batch)
                walls.append((time.perf_counter() - wall) * 1000)
                cpus.append((time.process_time() - cpu) * 1000)
            print(
                f"{threads:>7}  {case:<22}{statistics.median(walls):>12.1f}"
                f"{statistics.median(cpus):>12.1f}"
            )


if __name__ == "__main__":
    main()
