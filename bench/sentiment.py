"""Per-message time of embedding + sentiment, one message at a time on 1 thread.

What a worker pays for each message: the embedding (similar cases, intent) and its sentiment.
Compared in the same run, message by message in rotating order so that load from other
processes falls on every variant alike:

- embedding only (`Encoder.encode`), the floor;
- the earlier head: one pass giving the embedding and layer means, then the logistic head
  with its VADER lexicon features;
- the fine-tuned branch on the shared pass, in fp32 and with int8 Linear layers (the default).

    .venv/bin/python bench/sentiment.py [--messages 200]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import customer_messages, percentile


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=200)
    args = parser.parse_args()

    import torch

    from copilot.nlp.embeddings import get_encoder
    from copilot.nlp.sentiment import (
        DEFAULT_BRANCH_PATH,
        DEFAULT_HEAD_PATH,
        BranchSentimentAnalyzer,
        HeadSentimentAnalyzer,
        SentimentHead,
    )

    torch.set_num_threads(1)
    encoder = get_encoder()
    head = HeadSentimentAnalyzer(SentimentHead.load(DEFAULT_HEAD_PATH), encoder)
    fp32 = BranchSentimentAnalyzer(DEFAULT_BRANCH_PATH, encoder, quantise=False)
    int8 = BranchSentimentAnalyzer(DEFAULT_BRANCH_PATH, encoder)

    def previous(text: str) -> None:
        _, means = encoder.encode_with_layer_means([text], head.layers)
        head.analyse_layer_means([text], means)

    variants: dict[str, Callable[[str], object]] = {
        "embedding only": lambda text: encoder.encode([text]),
        "earlier head: shared pass": previous,
        "branch fp32, shared pass": lambda text: fp32.analyse_with_embeddings([text]),
        "branch int8, shared pass": lambda text: int8.analyse_with_embeddings([text]),
    }
    texts = customer_messages(args.messages)
    for run in variants.values():  # load and warm up
        for text in texts[:5]:
            run(text)
    times: dict[str, list[float]] = {name: [] for name in variants}
    names = list(variants)
    for n, text in enumerate(texts):
        for name in names[n % len(names) :] + names[: n % len(names)]:
            started = time.perf_counter()
            variants[name](text)
            times[name].append((time.perf_counter() - started) * 1000)
    print(f"{len(texts)} demo customer messages, one at a time, 1 thread")
    print(f"{'variant':<32}{'p50 ms':>8}{'p95 ms':>8}{'mean ms':>9}")
    for name, values in times.items():
        print(
            f"{name:<32}{statistics.median(values):>8.1f}{percentile(values, 95):>8.1f}"
            f"{statistics.fmean(values):>9.1f}"
        )


if __name__ == "__main__":
    main()
