"""Would blending the sentiment branch with the shipped linear head help? Prints macro-recall of
`(1 - w) * log p_branch + w * log p_head + offsets` for head weights w from 0 to 0.7, each with
its best per-class offsets. Writes nothing.

The head (copilot/nlp/weights/sentiment_head.npz) was trained on TweetEval val, so val cannot
choose the blend. The weight and the per-class offsets are measured instead on TweetEval train
tweets that neither model was trained on. `--hold-out` lists them: 3,000 lines of TweetEval
train drawn (random.Random(7)) from the 17,054 that the branch's training run (seed 13, stopped
after 33,152 of its 53,615 shuffled rows; scripts/logs/finetune_sentiment.log) never reached.
A branch trained further must leave them out (`finetune_sentiment.py --hold-out`). TweetEval
test is never read here.

    HF_HUB_OFFLINE=1 .venv/bin/python scripts/sentiment_blend.py \\
        --branch copilot/nlp/weights/sentiment_branch.safetensors \\
        > scripts/logs/sentiment_blend.log 2>&1
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch  # noqa: E402

from copilot.nlp.datasets import load_tweeteval  # noqa: E402
from copilot.nlp.embeddings import get_encoder  # noqa: E402
from copilot.nlp.sentiment import (  # noqa: E402
    DEFAULT_HEAD_PATH,
    LABELS,
    BranchSentimentAnalyzer,
    HeadSentimentAnalyzer,
    SentimentHead,
)
from copilot.nlp.sentiment_branch import load_branch  # noqa: E402


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def macro_recall(y: np.ndarray, pred: np.ndarray) -> tuple[float, list[float]]:
    recalls = [100.0 * float((pred[y == c] == c).mean()) for c in range(3)]
    return float(np.mean(recalls)), recalls


def best_offsets(z: np.ndarray, y: np.ndarray) -> tuple[float, tuple[float, float, float]]:
    """Offsets (neutral fixed at 0) maximising macro-recall; ties go to the smallest."""
    grid = np.round(np.arange(-1.5, 1.5001, 0.05), 2)
    best = (-1.0, 0.0, 0.0, 0.0)
    for neg in grid:
        for pos in grid:
            score, _ = macro_recall(y, (z + np.array([neg, 0.0, pos])).argmax(axis=1))
            if (score, -(abs(neg) + abs(pos))) > (best[0], -(abs(best[1]) + abs(best[3]))):
                best = (score, float(neg), 0.0, float(pos))
    return best[0], (best[1], best[2], best[3])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--branch", type=Path, required=True)
    parser.add_argument("--head", type=Path, default=DEFAULT_HEAD_PATH)
    parser.add_argument("--data-dir", type=Path, default=REPO / "data" / "eval")
    parser.add_argument(
        "--hold-out",
        type=Path,
        default=REPO / "data" / "eval" / "tweeteval_sentiment" / "train_holdout_lines.txt",
    )
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    log(f"arguments: {vars(args)}")

    texts, labels = load_tweeteval(args.data_dir / "tweeteval_sentiment", "train")
    rows = [int(line) for line in args.hold_out.read_text().split()]
    texts = [texts[i] for i in rows]
    y = np.array([LABELS.index(labels[i]) for i in rows])
    log(f"{len(texts)} held-out TweetEval train tweets (per class {np.bincount(y).tolist()})")

    encoder = get_encoder()
    head = HeadSentimentAnalyzer(SentimentHead.load(args.head), encoder)
    branch = BranchSentimentAnalyzer(args.branch, encoder)  # int8, as it runs

    def both(states: tuple[torch.Tensor, ...], mask: torch.Tensor) -> torch.Tensor:
        weights = mask.unsqueeze(-1).to(torch.float32)
        counts = weights.sum(dim=1).clamp(min=1.0)
        means = [(states[i] * weights).sum(dim=1) / counts for i in head.layers]
        logits = branch.logits(states, mask)
        return torch.cat([torch.log_softmax(logits, dim=1), *means], dim=1)

    started = time.perf_counter()
    _, out = encoder.encode_with_branch(texts, both)
    log(f"encoder pass in {time.perf_counter() - started:.0f}s")
    log_branch = out[:, :3].astype(np.float64)
    head_probs = np.array([r.probabilities for r in head.analyse_layer_means(texts, out[:, 3:])])
    log_head = np.log(np.clip(head_probs, 1e-12, None))

    shipped = load_branch(args.branch)
    alone, recalls = macro_recall(y, (log_branch + np.array(shipped.logit_offsets)).argmax(1))
    log(f"branch alone, its val offsets {shipped.logit_offsets}: {alone:.2f} {recalls}")
    score, recalls = macro_recall(y, head_probs.argmax(axis=1))
    log(f"head alone: {score:.2f} {recalls}")
    results = []
    for weight in np.round(np.arange(0.0, 0.701, 0.05), 2):
        z = (1.0 - weight) * log_branch + weight * log_head
        score, offsets = best_offsets(z, y)
        _, recalls = macro_recall(y, (z + np.array(offsets)).argmax(axis=1))
        log(f"head weight {weight:.2f}: macro-recall {score:.2f} {recalls} offsets {offsets}")
        results.append((score, -float(weight), float(weight), offsets))
    score, _, weight, offsets = max(results)
    log(f"best: head weight {weight:.2f}, macro-recall {score:.2f} (branch alone {alone:.2f})")


if __name__ == "__main__":
    main()
