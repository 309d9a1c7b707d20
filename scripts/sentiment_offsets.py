"""Re-choose a sentiment branch's per-class logit offsets on TweetEval val plus the held-out
TweetEval train tweets (5,000 tweets the branch was not trained on, against val's 2,000 alone),
and write them into the branch file.

Macro-recall weighs the three classes equally, so the offsets undo the training data's class
balance; on 2,000 tweets the best offsets move with a few hundred of them, so a larger set
chooses them more steadily. TweetEval test is never read here.

    HF_HUB_OFFLINE=1 .venv/bin/python scripts/sentiment_offsets.py \\
        --branch copilot/nlp/weights/sentiment_branch.safetensors --cache-dir var/sentiment_cache
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch  # noqa: E402
from finetune_sentiment import (  # noqa: E402
    cached_bottom_states,
    choose_offsets,
    log,
    logits_of,
    macro_recall,
)

from copilot.nlp.datasets import load_tweeteval  # noqa: E402
from copilot.nlp.embeddings import get_encoder  # noqa: E402
from copilot.nlp.sentiment import LABELS  # noqa: E402
from copilot.nlp.sentiment_branch import load_branch, save_branch  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--branch", type=Path, required=True, help="rewritten in place")
    parser.add_argument("--data-dir", type=Path, default=REPO / "data" / "eval")
    parser.add_argument(
        "--hold-out",
        type=Path,
        default=REPO / "data" / "eval" / "tweeteval_sentiment" / "train_holdout_lines.txt",
    )
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    log(f"arguments: {vars(args)}")

    loaded = load_branch(args.branch)
    start = loaded.branch.config.start_layer
    encoder = get_encoder()
    if loaded.encoder_version != encoder.version:
        raise SystemExit(f"{args.branch} sits on another encoder")
    transformer = encoder._load()[0]
    auto_model, tokenizer = transformer.auto_model, transformer.tokenizer
    auto_model.eval()
    bottom = copy.deepcopy(auto_model)
    bottom.encoder.layer = bottom.encoder.layer[:start]
    key = f"{encoder.version}-L{start}"

    directory = args.data_dir / "tweeteval_sentiment"
    val_texts, val_labels = load_tweeteval(directory, "val")
    train_texts, train_labels = load_tweeteval(directory, "train")
    rows = [int(line) for line in args.hold_out.read_text().split()]
    sets = {
        "val": (val_texts, val_labels),
        "holdout": ([train_texts[i] for i in rows], [train_labels[i] for i in rows]),
    }
    logits, golds = [], []
    for tag, (texts, labels) in sets.items():
        states = cached_bottom_states(
            args.cache_dir, tag, bottom, tokenizer, texts, loaded.max_length, key
        )
        z = logits_of(loaded.branch, states)
        y = np.array([LABELS.index(label) for label in labels])
        old, recalls = macro_recall(y, (z + np.array(loaded.logit_offsets)).argmax(axis=1))
        log(f"{tag}: offsets {loaded.logit_offsets} give {old:.2f} {recalls}")
        logits.append(z)
        golds.append(y)
    offsets, score = choose_offsets(np.vstack(logits), np.concatenate(golds))
    log(f"val + held-out ({sum(len(y) for y in golds)}): offsets {offsets} give {score:.2f}")
    for tag, z, y in zip(sets, logits, golds, strict=True):
        got, recalls = macro_recall(y, (z + np.array(offsets)).argmax(axis=1))
        log(f"  {tag}: {got:.2f} {recalls}")
    info = dict(loaded.info)
    info["offsets_chosen_on"] = (
        f"TweetEval val (2,000) + {len(rows)} held-out train tweets ({args.hold_out.name})"
    )
    info["offsets_val_only"] = list(loaded.logit_offsets)
    info["offsets_macro_recall"] = round(score, 2)
    save_branch(
        args.branch,
        loaded.branch,
        encoder_version=loaded.encoder_version,
        logit_offsets=offsets,
        labels=loaded.labels,
        max_length=loaded.max_length,
        info=info,
    )
    log(f"wrote offsets {offsets} into {args.branch}")


if __name__ == "__main__":
    main()
