"""Fine-tune the response selector's request branch (copilot/nlp/weights/selector_branch.*).

The encoder (all-MiniLM-L6-v2) stays frozen; its blocks after `--start-layer` are copied and
fine-tuned as the request side of the selector (copilot/nlp/selector_branch.py), with in-batch
negatives, on the TRAIN pairs of `manage.py evaluate --replies` only (copilot/nlp/reply_eval.py):
the TWCS demo threads before the time cut, IBM dev.json, the Bitext train split. Their test pairs
are never trained on. A tenth of the train tickets (split_for_calibration, seed 0) picks the
epoch count and the trigger; the shipped weights are then fitted on every train pair.

    HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1 nice -n 19 .venv/bin/python scripts/finetune_selector.py \
        > scripts/logs/finetune_selector.log 2>&1
"""

from __future__ import annotations

import argparse
import copy
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

from copilot.nlp.embeddings import get_encoder  # noqa: E402
from copilot.nlp.reply_eval import (  # noqa: E402
    candidate_sets,
    embed_cached,
    ranks_of_truth,
    real_pairs,
    recall,
    split_for_calibration,
    trigger_calibrate,
)
from copilot.nlp.selector_branch import (  # noqa: E402
    BranchTraining,
    SelectorBranch,
    encoder_bottom_states,
    reply_vectors,
    request_vectors,
    save_selector_branch,
    train_branch,
)

DEFAULT_OUT = REPO / "copilot" / "nlp" / "weights" / "selector_branch.safetensors"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--start-layer", type=int, default=BranchTraining.start_layer)
    parser.add_argument("--epochs", type=int, default=BranchTraining.epochs)
    parser.add_argument("--batch-size", type=int, default=BranchTraining.batch_size)
    parser.add_argument("--block-lr", type=float, default=BranchTraining.block_lr)
    parser.add_argument("--map-lr", type=float, default=BranchTraining.map_lr)
    parser.add_argument("--temperature", type=float, default=BranchTraining.temperature)
    parser.add_argument("--target-precision", type=float, default=0.8)
    parser.add_argument("--no-final", action="store_true", help="only the calibration run")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config = BranchTraining(
        start_layer=args.start_layer,
        epochs=args.epochs,
        batch_size=args.batch_size,
        block_lr=args.block_lr,
        map_lr=args.map_lr,
        temperature=args.temperature,
    )
    log(f"config {config}")
    pairs = real_pairs(REPO / "data" / "demo" / "tickets.jsonl", REPO / "data" / "eval")
    train = [i for i, p in enumerate(pairs) if p.split == "train"]
    fit_rows, cal_rows = split_for_calibration(pairs, train, seed=0)
    log(
        f"{len(pairs)} pairs, {len(train)} train ({len(fit_rows)} fit, {len(cal_rows)} calibration)"
    )

    encoder = get_encoder()
    # The same cache files as `manage.py evaluate --replies --real-only` (same texts, same keys).
    cache = REPO / "var" / "cache" / "reply-eval"
    reply_vecs = embed_cached(encoder, [p.reply for p in pairs], cache)
    request_base = embed_cached(encoder, [p.request for p in pairs], cache)
    log("embeddings ready")
    auto_model, _ = encoder._transformer()
    t0 = time.perf_counter()
    # Only train requests go through the branch here.
    states_by_row = dict(
        zip(
            train,
            encoder_bottom_states(encoder, [pairs[i].request for i in train], config.start_layer),
            strict=True,
        )
    )
    log(f"bottom states of {len(train)} requests in {time.perf_counter() - t0:.0f}s")

    sets = candidate_sets(pairs, cal_rows, seed=1)
    real = np.array([pairs[i].source in ("twcs", "ibm") for i in cal_rows])
    cal_states = [states_by_row[i] for i in cal_rows]

    def report(name: str, q: np.ndarray, r: np.ndarray) -> float:
        scores = np.einsum("qd,qcd->qc", q, r[sets.rows])
        ranks = ranks_of_truth(scores)
        by = {
            s: recall(ranks[np.array([pairs[i].source == s for i in cal_rows])])
            for s in ("twcs", "ibm")
        }
        rr = recall(ranks[real])
        log(
            f"  {name}: calibration R@1/R@3 real {rr.r1:.1f}/{rr.r3:.1f} "
            + " ".join(f"{s} {v.r1:.1f}/{v.r3:.1f} (n={v.n})" for s, v in by.items())
        )
        return rr.r1

    report("encoder cosine", request_base[cal_rows], reply_vecs)
    best: list[tuple[float, int]] = []
    kept: dict[str, torch.Tensor] = {}  # the weights of the best epoch on the calibration set

    def after_epoch(epoch: int, branch: SelectorBranch) -> None:
        r1 = report(
            f"epoch {epoch}", request_vectors(branch, cal_states), reply_vectors(branch, reply_vecs)
        )
        if not best or r1 > max(best)[0]:
            kept.clear()
            kept.update(copy.deepcopy(branch.state_dict()))
        best.append((r1, epoch))

    branch = SelectorBranch.from_encoder(auto_model, config.start_layer, dropout=config.dropout)
    report(
        "untrained branch", request_vectors(branch, cal_states), reply_vectors(branch, reply_vecs)
    )
    branch_record = train_branch(
        branch,
        [states_by_row[i] for i in fit_rows],
        reply_vecs[fit_rows],
        reply_keys=[pairs[i].reply for i in fit_rows],
        config=config,
        after_epoch=after_epoch,
        log=log,
    )
    branch.load_state_dict(kept)
    branch.eval()
    # The first epoch of the best R@1 (the one whose weights were kept).
    kept_epoch = min(e for r, e in best if r == max(r for r, _ in best))
    log(f"kept epoch {kept_epoch}")
    cal_scores = np.einsum(
        "qd,qcd->qc",
        request_vectors(branch, cal_states),
        reply_vectors(branch, reply_vecs)[sets.rows],
    ).astype(np.float64)
    calibration = trigger_calibrate(cal_scores, target_precision=args.target_precision)
    log(f"trigger {calibration.chosen.threshold:.3f} (reached {calibration.reached})")
    record = dict(branch_record)
    record["calibration_r1_real_by_epoch"] = [[e, round(r, 1)] for r, e in best]
    record["trained_on"] = (
        f"{len(fit_rows)} train pairs of evaluate --replies --real-only (TWCS demo threads "
        "before the time cut, IBM dev.json), less the calibration tickets"
    )
    chosen = calibration.chosen
    record["trigger"] = (
        f"chosen on {len(cal_rows)} held-out train requests for {100 * args.target_precision:.0f}% "
        f"of triggered ones having the true reply among the three shown: {chosen.coverage:.0f}% "
        f"triggered, {chosen.precision:.1f}% of them right"
        + ("" if calibration.reached else "; target not reached, the most precise threshold")
    )
    record["trigger_reached"] = calibration.reached
    final = branch
    version = save_selector_branch(
        args.out,
        final,
        encoder_version=encoder.version,
        threshold=calibration.chosen.threshold,
        info=record,
    )
    log(f"saved {args.out} ({args.out.stat().st_size / 1e6:.1f} MB), version {version}")


if __name__ == "__main__":
    main()
