"""Per-message cost of the response selector's request branch, one message at a time, 1 thread.

What a worker pays for each message, compared in the same run, message by message in rotating
order so that load from other processes falls on every variant alike:

- before: the shared pass with the sentiment branch (int8, the default): embedding + sentiment,
  the request then read by the selector from the embedding (the linear-maps selector);
- after: the same pass with the selector's request branch (int8) run on the same hidden states;
- the selector's request branch fp32, for comparison;
then ranking against a 5,000-entry library mapped beforehand (one product), the same for both.

    .venv/bin/python bench/selector.py [--messages 200]
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
from copilot.nlp.selector import ResponseSelector


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=200)
    args = parser.parse_args()

    import numpy as np
    import torch

    from copilot.nlp.embeddings import get_encoder
    from copilot.nlp.selector_branch import SHIPPED, load_selector_branch
    from copilot.nlp.sentiment import DEFAULT_BRANCH_PATH, BranchSentimentAnalyzer

    torch.set_num_threads(1)
    encoder = get_encoder()
    sentiment = BranchSentimentAnalyzer(DEFAULT_BRANCH_PATH, encoder)
    shipped = load_selector_branch(SHIPPED)
    int8 = shipped.selector()
    fp32 = shipped.selector(quantise=False)
    library = np.random.default_rng(0).standard_normal((5000, encoder.dim)).astype(np.float32)
    mapped = int8.replies_map(library)

    def before(text: str) -> None:
        vectors, _ = sentiment.analyse_with_embeddings([text])
        int8.scores_mapped(int8.requests_map(vectors), mapped)

    def after(selector: ResponseSelector) -> Callable[[str], None]:
        def run(text: str) -> None:
            _, _, inputs = sentiment.analyse_with_extra([text], selector.branch_inputs)
            assert inputs is not None
            int8.scores_mapped(int8.requests_map(inputs), mapped)

        return run

    variants: dict[str, Callable[[str], object]] = {
        "before: pass + sentiment": before,
        "after: + selector branch int8": after(int8),
        "after: + selector branch fp32": after(fp32),
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
    print(f"{len(texts)} demo customer messages, one at a time, 1 thread, 5,000-entry library")
    print(f"{'variant':<34}{'p50 ms':>8}{'p95 ms':>8}{'mean ms':>9}")
    for name, values in times.items():
        print(
            f"{name:<34}{statistics.median(values):>8.1f}{percentile(values, 95):>8.1f}"
            f"{statistics.fmean(values):>9.1f}"
        )


if __name__ == "__main__":
    main()
