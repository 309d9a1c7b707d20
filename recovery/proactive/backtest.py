"""The predictor's honest evaluation: a time split of the organisation's own solves.

The labelled solves (window over by the end of the history) are ordered by solve time. The
latest `TEST_SHARE` of them are the test period. The training period ends one window before the
first test solve, so no training label reads a message of the test period. Inside the training
period the regression is fitted on the earlier part and calibrated (Platt) on the later
`CALIBRATION_SHARE`: calibration is fitted on data the regression did not see, in time order.

Reported on the test period, in the same run, for the model and the baseline "contacted twice
in 30 days": ROC AUC, precision@20 and @50, and the Brier score (calibration). The baseline is
a yes/no rule, so its ranking has large ties: its precision@k is the expected value under a
random order within the tie (what a queue sorted by the rule would show on average).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from recovery.proactive.features import SolveRow
from recovery.proactive.model import (
    FEATURES,
    ProactiveModel,
    platt_fit,
    proactive_model_fit,
)

TEST_SHARE = 0.3
CALIBRATION_SHARE = 0.25
KS = (20, 50)
# Below these the figures mean nothing: the backtest says so instead of printing them.
MIN_TRAIN_POSITIVES = 5
MIN_TEST_POSITIVES = 1


class TooLittleData(Exception):
    """The history is too short or has too few repeat contacts to train or to test."""


def precision_at_k(scores: npt.NDArray[np.float64], y: npt.NDArray[np.int64], k: int) -> float:
    """Share of positives among the k highest scores; ties at the cut are counted at their
    group's positive rate (the expectation under a random order within the tie)."""
    k = min(k, len(y))
    if k == 0:
        return float("nan")
    order = np.argsort(-scores, kind="stable")
    cut = scores[order[k - 1]]
    above = scores > cut
    tied = scores == cut
    taken_above = int(above.sum())
    hits = float(y[above].sum()) + (k - taken_above) * float(y[tied].mean())
    return hits / k


def brier(p: npt.NDArray[np.float64], y: npt.NDArray[np.int64]) -> float:
    return float(np.mean((p - y) ** 2))


def auc(scores: npt.NDArray[np.float64], y: npt.NDArray[np.int64]) -> float | None:
    from sklearn.metrics import roc_auc_score

    if len(set(y.tolist())) < 2:
        return None
    return float(roc_auc_score(y, scores))


@dataclass(frozen=True)
class Figures:
    auc: float | None
    precision_at: dict[int, float]
    brier: float


@dataclass(frozen=True)
class Backtest:
    n_labelled: int
    n_train: int
    n_train_positive: int
    n_calibration: int
    n_calibration_positive: int
    n_test: int
    n_test_positive: int
    train_until: dt.datetime
    test_from: dt.datetime
    test_to: dt.datetime
    model: Figures
    model_uncalibrated_brier: float
    baseline: Figures
    calibrated: bool
    reliability: list[dict[str, float]]  # test rows by predicted band: predicted vs observed
    coefficients: dict[str, float]

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("train_until", "test_from", "test_to"):
            data[key] = data[key].isoformat()
        return data


def _arrays(rows: Sequence[SolveRow]) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    x = np.asarray([r.features.vector() for r in rows], dtype=np.float64).reshape(-1, len(FEATURES))
    y = np.asarray([int(r.label or 0) for r in rows], dtype=np.int64)
    return x, y


def fit_calibrated(rows: Sequence[SolveRow]) -> tuple[ProactiveModel, int, int]:
    """Fit on the earlier part of `rows` (time-ordered), calibrate on the later part.
    Returns the model and the calibration period's size and positives."""
    n_cal = int(len(rows) * CALIBRATION_SHARE)
    fit_rows, cal_rows = rows[: len(rows) - n_cal], rows[len(rows) - n_cal :]
    x, y = _arrays(fit_rows)
    if int(y.sum()) < MIN_TRAIN_POSITIVES or int(y.sum()) == len(y):
        raise TooLittleData(
            f"{len(fit_rows)} solves to fit on, {int(y.sum())} followed by a new contact: "
            f"at least {MIN_TRAIN_POSITIVES} of each are needed."
        )
    raw = proactive_model_fit(x, y)
    xc, yc = _arrays(cal_rows)
    calibration = platt_fit(raw.logits(xc), yc) if len(cal_rows) else (1.0, 0.0)
    _, y_all = _arrays(rows)
    model = ProactiveModel(
        version="",
        means=raw.means,
        scales=raw.scales,
        coefficients=raw.coefficients,
        intercept=raw.intercept,
        calibration=calibration,
        base_rate=float(y_all.mean()),
    )
    return model, len(cal_rows), int(yc.sum())


def _reliability(p: npt.NDArray[np.float64], y: npt.NDArray[np.int64]) -> list[dict[str, float]]:
    bands = [(0.0, 0.02), (0.02, 0.05), (0.05, 0.2), (0.2, 1.01)]
    out = []
    for low, high in bands:
        inside = (p >= low) & (p < high)
        if inside.any():
            out.append(
                {
                    "from": low,
                    "to": min(high, 1.0),
                    "n": int(inside.sum()),
                    "predicted": float(p[inside].mean()),
                    "observed": float(y[inside].mean()),
                }
            )
    return out


def proactive_backtest(*, rows: Sequence[SolveRow], window_days: int) -> Backtest:
    """The time-split evaluation of the predictor and the baseline on labelled `rows`."""
    labelled = sorted((r for r in rows if r.label is not None), key=lambda r: r.solved_at)
    if len(labelled) < 10:
        raise TooLittleData(f"Only {len(labelled)} solve(s) with an observed window.")
    first_test = labelled[int(len(labelled) * (1 - TEST_SHARE))]
    test_from = first_test.solved_at
    train_until = test_from - dt.timedelta(days=window_days)
    train = [r for r in labelled if r.solved_at < train_until]
    test = [r for r in labelled if r.solved_at >= test_from]
    model, n_cal, n_cal_pos = fit_calibrated(train)
    _, y_train = _arrays(train)
    x_test, y_test = _arrays(test)
    if int(y_test.sum()) < MIN_TEST_POSITIVES:
        raise TooLittleData(
            f"The test period ({len(test)} solves from {test_from:%Y-%m-%d}) has no solve "
            "followed by a new contact: nothing to find."
        )
    p = model.predict(x_test)
    p_raw = 1.0 / (1.0 + np.exp(-model.logits(x_test)))
    base = np.asarray([r.features.baseline() for r in test], dtype=np.float64)
    return Backtest(
        n_labelled=len(labelled),
        n_train=len(train),
        n_train_positive=int(y_train.sum()),
        n_calibration=n_cal,
        n_calibration_positive=n_cal_pos,
        n_test=len(test),
        n_test_positive=int(y_test.sum()),
        train_until=train_until,
        test_from=test_from,
        test_to=test[-1].solved_at,
        model=Figures(
            auc=auc(p, y_test),
            precision_at={k: precision_at_k(p, y_test, k) for k in KS},
            brier=brier(p, y_test),
        ),
        model_uncalibrated_brier=brier(p_raw, y_test),
        baseline=Figures(
            auc=auc(base, y_test),
            precision_at={k: precision_at_k(base, y_test, k) for k in KS},
            # The rule as a probability: the training period's rate of new contact among
            # those it flags and those it does not.
            brier=brier(_baseline_rates(train, base), y_test),
        ),
        calibrated=model.calibration != (1.0, 0.0),
        reliability=_reliability(p, y_test),
        coefficients=dict(zip(FEATURES, model.coefficients, strict=True)),
    )


def _baseline_rates(
    train: Sequence[SolveRow], flags: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    flagged = [r.label or 0 for r in train if r.features.baseline()]
    other = [r.label or 0 for r in train if not r.features.baseline()]
    rate_flagged = float(np.mean(flagged)) if flagged else 0.0
    rate_other = float(np.mean(other)) if other else 0.0
    return np.where(flags > 0, rate_flagged, rate_other)
