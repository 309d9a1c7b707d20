"""Train the shipped sentiment head (copilot/nlp/weights/sentiment_head.npz).

Reproducible: fixed fold seed, deterministic lbfgs, data read from the repo's data/eval/.

    HF_HUB_OFFLINE=1 .venv/bin/python scripts/train_sentiment.py

Training data: TweetEval sentiment *validation* split (2,000 tweets); the 45k training texts
are not available offline. Hyper-parameters are chosen by 5-fold cross-validation on those
2,000 tweets only. The test split (12,284 tweets) is read afterwards for the printed figures
and never influences the weights (pass --skip-test to not read it at all).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from copilot.nlp.datasets import load_tweeteval  # noqa: E402
from copilot.nlp.embeddings import get_encoder  # noqa: E402
from copilot.nlp.evaluation import sentiment_scores, vader_rule_predictions  # noqa: E402
from copilot.nlp.sentiment import (  # noqa: E402
    DEFAULT_HEAD_PATH,
    LABELS,
    LEXICON_FEATURE_NAMES,
    HeadSentimentAnalyzer,
    SentimentHead,
    head_features,
)

SEED = 13
LAYERS = (2, 3, 4, 5, 6)
# Searched by 5-fold CV on val. Strong L2 (small C) wins because there are ~2k examples for
# ~1.9k encoder features; the lexicon weight multiplies the 20 standardised lexicon columns so
# the L2 penalty does not drown them among 1,920 encoder columns.
C_GRID = (1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3)
LEXICON_WEIGHT_GRID = (1.0, 2.0, 3.0)


def _fit(
    features: np.ndarray, labels: np.ndarray, n_encoder: int, c: float, lexicon_weight: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]

    mean = features.mean(axis=0)
    scale = features.std(axis=0)
    scale[scale == 0.0] = 1.0
    scale = scale.copy()
    scale[n_encoder:] /= lexicon_weight
    model = LogisticRegression(C=c, max_iter=5000, class_weight="balanced")
    model.fit((features - mean) / scale, labels)
    return mean, scale, model.coef_.astype(np.float64), model.intercept_.astype(np.float64)


def _predict(
    params: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray], features: np.ndarray
) -> np.ndarray:
    mean, scale, coef, intercept = params
    logits = ((features - mean) / scale) @ coef.T + intercept
    return np.asarray(logits.argmax(axis=1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", type=Path, default=REPO / "data" / "eval")
    parser.add_argument("--model-path", type=Path, default=None, help="encoder directory")
    parser.add_argument("--out", type=Path, default=DEFAULT_HEAD_PATH)
    parser.add_argument("--skip-test", action="store_true")
    args = parser.parse_args()

    from sklearn.metrics import recall_score  # type: ignore[import-untyped]
    from sklearn.model_selection import StratifiedKFold  # type: ignore[import-untyped]

    np.random.seed(SEED)
    encoder = get_encoder(args.model_path)
    val_texts, val_labels = load_tweeteval(args.data_dir / "tweeteval_sentiment", "val")
    y = np.array([LABELS.index(label) for label in val_labels])

    started = time.perf_counter()
    features = head_features(encoder, LAYERS, val_texts)
    feature_seconds = time.perf_counter() - started
    n_encoder = features.shape[1] - len(LEXICON_FEATURE_NAMES)

    folds = list(StratifiedKFold(n_splits=5, shuffle=True, random_state=SEED).split(features, y))
    grid: list[tuple[float, float, float]] = []
    for c in C_GRID:
        for weight in LEXICON_WEIGHT_GRID:
            predicted = np.zeros_like(y)
            for train_idx, held_idx in folds:
                params = _fit(features[train_idx], y[train_idx], n_encoder, c, weight)
                predicted[held_idx] = _predict(params, features[held_idx])
            score = 100 * float(recall_score(y, predicted, average="macro"))
            grid.append((score, c, weight))
            print(f"cv C={c:g} lexicon_weight={weight:g}: macro-recall {score:.2f}", flush=True)
    cv_score, best_c, best_weight = max(grid)
    fit_started = time.perf_counter()
    mean, scale, coef, intercept = _fit(features, y, n_encoder, best_c, best_weight)
    fit_seconds = time.perf_counter() - fit_started
    train_seconds = feature_seconds + fit_seconds
    print(f"chosen C={best_c:g} lexicon_weight={best_weight:g} (5-fold CV {cv_score:.2f})")
    print(f"training time: features {feature_seconds:.1f}s + fit {fit_seconds:.1f}s")

    info = {
        "trained_on": "TweetEval sentiment val split (2,000 tweets), cardiffnlp/tweeteval@4fbd22c",
        "features": (
            f"mean-pooled encoder layers {list(LAYERS)} + {len(LEXICON_FEATURE_NAMES)} lexicon"
        ),
        "model": "multinomial logistic regression, class_weight=balanced",
        "C": best_c,
        "lexicon_weight": best_weight,
        "cv_folds": 5,
        "cv_seed": SEED,
        "cv_macro_recall": round(cv_score, 2),
        "train_seconds": round(train_seconds, 1),
        "script": "scripts/train_sentiment.py",
    }
    head = SentimentHead(
        layers=LAYERS,
        mean=mean,
        scale=scale,
        coef=coef,
        intercept=intercept,
        encoder_version=encoder.version,
        info=json.dumps(info, sort_keys=True),
    )
    head.save(args.out)
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes)")

    if args.skip_test:
        return
    test_texts, test_labels = load_tweeteval(args.data_dir / "tweeteval_sentiment", "test")
    analyzer = HeadSentimentAnalyzer(SentimentHead.load(args.out), encoder)
    started = time.perf_counter()
    predicted_labels = [r.label for r in analyzer.analyse(test_texts)]
    seconds = time.perf_counter() - started
    head_scores = sentiment_scores(test_labels, predicted_labels)
    print(
        f"TweetEval test (n={len(test_texts)}): head macro-recall {head_scores.macro_recall:.2f} "
        f"macro-F1 {head_scores.macro_f1:.2f} accuracy {head_scores.accuracy:.2f} "
        f"({seconds:.0f}s to score)"
    )
    vader = sentiment_scores(test_labels, vader_rule_predictions(test_texts))
    print(
        f"baseline VADER compound rule: macro-recall {vader.macro_recall:.2f} "
        f"macro-F1 {vader.macro_f1:.2f} accuracy {vader.accuracy:.2f}"
    )
    majority = sentiment_scores(test_labels, ["neutral"] * len(test_labels))
    print(
        f"baseline majority (neutral): macro-recall {majority.macro_recall:.2f} "
        f"macro-F1 {majority.macro_f1:.2f} accuracy {majority.accuracy:.2f}"
    )


if __name__ == "__main__":
    main()
