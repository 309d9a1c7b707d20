"""Similar-case index at scale: build time, memory, query latency and recall, per index kind.

Synthetic 384-d unit vectors (the encoder's shape) drawn around 2,000 topic centres, so
neighbours are clustered as sentence embeddings are, not uniform noise. Recall@10 of each
approximate kind is measured against exact search on the same queries. No database involved:
this measures `copilot.nlp.index.SimilarCaseIndex` itself.

    .venv/bin/python bench/index_scale.py --cases 1000000 --kinds flat ivf hnsw
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import percentile
from copilot.nlp.index import SimilarCaseIndex

DIM = 384


def vectors(n: int, rng: np.random.Generator, centres: np.ndarray) -> np.ndarray:
    out = np.empty((n, DIM), dtype=np.float32)
    for start in range(0, n, 100_000):
        m = min(100_000, n - start)
        picked = centres[rng.integers(0, len(centres), m)]
        # Noise of norm ~0.8 around a unit centre: nearest neighbours at cosine 0.6-0.9, as
        # between paraphrased support requests.
        noise = rng.standard_normal((m, DIM)).astype(np.float32) * 0.04
        block = picked + noise
        out[start : start + m] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--kinds", nargs="+", default=["flat", "ivf", "hnsw"])
    args = parser.parse_args()
    rng = np.random.default_rng(11)
    centres = rng.standard_normal((2_000, DIM)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    started = time.perf_counter()
    data = vectors(args.cases, rng, centres)
    queries = vectors(args.queries, rng, centres)
    ids = np.arange(1, args.cases + 1, dtype=np.int64)
    print(f"{args.cases:,} vectors of {DIM} dims generated in {time.perf_counter() - started:.0f}s")
    print(f"CPUs: {os.cpu_count()}; peak RSS so far {rss_mb():,.0f} MB")
    exact: list[set[int]] | None = None
    print(f"{'kind':<6}{'build s':>9}{'index MB':>10}{'p50 ms':>8}{'p95 ms':>8}{'recall@10':>11}")
    for kind in args.kinds:
        started = time.perf_counter()
        index = SimilarCaseIndex.build(ids, data, kind=kind)  # type: ignore[arg-type]
        build = time.perf_counter() - started
        size_mb = len(index.to_bytes()) / 1e6
        timings, found = [], []
        for query in queries:
            t0 = time.perf_counter()
            [hits] = index.search(query, 10)
            timings.append((time.perf_counter() - t0) * 1000)
            found.append({h.id for h in hits})
        if kind == "flat":
            exact = found
        recall = (
            "exact"
            if kind == "flat"
            else "n/a"
            if exact is None
            else f"{np.mean([len(f & e) / 10 for f, e in zip(found, exact, strict=True)]):.3f}"
        )
        print(
            f"{kind:<6}{build:>9.1f}{size_mb:>10.0f}{percentile(timings, 50):>8.1f}"
            f"{percentile(timings, 95):>8.1f}{recall:>11}",
            flush=True,
        )
        del index
    print(f"peak RSS {rss_mb():,.0f} MB")


if __name__ == "__main__":
    main()
