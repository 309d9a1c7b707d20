"""Training the predictor (backtest, final fit, the recorded run) and scoring solves with
whichever model is in use."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from core.errors import DomainError
from recovery.proactive.backtest import (
    Backtest,
    TooLittleData,
    fit_calibrated,
    proactive_backtest,
)
from recovery.proactive.features import SolveRow, history_end, solve_rows
from recovery.proactive.model import (
    HEURISTIC_VERSION,
    WINDOW_DAYS,
    ProactiveModel,
    likelihood_label,
    proactive_heuristic,
    reasons_for,
)
from recovery.proactive.models import ProactiveModelRun

# Recent behaviour is what the next week looks like; older history (an import of years ago)
# mostly adds solves nobody followed up on. Measured on the demo history: its older sources
# (2016-2020) hold 1 repeat contact in 1,230 solves, the recent 180 days 29 in 1,427.
LOOKBACK_DAYS = 180


@dataclass(frozen=True)
class TrainingResult:
    run: ProactiveModelRun
    backtest: Backtest


def proactive_training_rows(
    *, window_days: int = WINDOW_DAYS, lookback_days: int = LOOKBACK_DAYS
) -> tuple[list[SolveRow], dt.datetime]:
    """The labelled-or-not solves of the lookback period (customers who refused model
    training left out), and the end of the history they were labelled against."""
    end = history_end()
    if end is None:
        raise DomainError(
            "No customer has written yet: nothing to learn from.", code="too_little_data"
        )
    rows = solve_rows(
        solved_from=end - dt.timedelta(days=lookback_days),
        window_days=window_days,
        end=end,
        exclude_training_opt_outs=True,
    )
    return rows, end


def proactive_model_train(
    *, window_days: int = WINDOW_DAYS, lookback_days: int = LOOKBACK_DAYS
) -> TrainingResult:
    """Backtest on a time split, then fit the model in use on every labelled solve (earlier
    part fitted, later part calibrating) and record the run. DomainError when too little data."""
    if window_days < 1 or lookback_days < window_days:
        raise DomainError("The window and the lookback are whole days, lookback >= window.")
    rows, end = proactive_training_rows(window_days=window_days, lookback_days=lookback_days)
    labelled = sorted((r for r in rows if r.label is not None), key=lambda r: r.solved_at)
    try:
        backtest = proactive_backtest(rows=labelled, window_days=window_days)
        model, n_cal, n_cal_pos = fit_calibrated(labelled)
    except TooLittleData as exc:
        raise DomainError(str(exc), field="history", code="too_little_data") from exc
    training = {
        "window_days": window_days,
        "lookback_days": lookback_days,
        "history_end": end.isoformat(),
        "label": "a customer message within window_days after the solve",
        "n_labelled": len(labelled),
        "n_positive": sum(r.label or 0 for r in labelled),
        "n_calibration": n_cal,
        "n_calibration_positive": n_cal_pos,
    }
    content = ProactiveModel(
        version="",
        means=model.means,
        scales=model.scales,
        coefficients=model.coefficients,
        intercept=model.intercept,
        calibration=model.calibration,
        base_rate=model.base_rate,
        training=training,
    ).content()
    version = ProactiveModel.content_version(content)
    with transaction.atomic():
        run, created = ProactiveModelRun.objects.get_or_create(
            version=version,
            defaults={
                "n_train": backtest.n_train,
                "n_test": backtest.n_test,
                "auc": backtest.model.auc,
                "baseline_auc": backtest.baseline.auc,
                "precision_at_20": backtest.model.precision_at[20],
                "baseline_precision_at_20": backtest.baseline.precision_at[20],
                "details": {"model": content, "backtest": backtest.as_json()},
            },
        )
        if not created:
            # The same data gave the same model: that run becomes the newest again.
            ProactiveModelRun.objects.filter(pk=run.pk).update(trained_at=timezone.now())
            run.refresh_from_db()
    return TrainingResult(run=run, backtest=backtest)


def proactive_model_current() -> ProactiveModel | None:
    """The model of the newest run; None before any training (the heuristic is used)."""
    run = ProactiveModelRun.objects.order_by("-trained_at", "-id").first()
    if run is None:
        return None
    try:
        return ProactiveModel.from_content(run.details["model"])
    except (KeyError, ValueError, TypeError):
        # A run from older code: the heuristic rather than a wrong model.
        return None


@dataclass(frozen=True)
class Prediction:
    row: SolveRow
    probability: float
    version: str
    likelihood: str
    reasons: list[str]


def proactive_predict(
    *, rows: Sequence[SolveRow], model: ProactiveModel | None = None
) -> list[Prediction]:
    """Each solve's probability that its customer writes again within the window, in words,
    with the reasons that pushed it up most."""
    model = model if model is not None else proactive_model_current()
    out: list[Prediction] = []
    if model is None:
        for row in rows:
            p = proactive_heuristic(features=row.features)
            out.append(
                Prediction(
                    row=row,
                    probability=p,
                    version=HEURISTIC_VERSION,
                    likelihood=likelihood_label(probability=p, base_rate=0.05),
                    reasons=reasons_for(features=row.features),
                )
            )
        return out
    vectors = [row.features.vector() for row in rows]
    probabilities = model.predict(vectors).tolist() if vectors else []
    for row, vector, p in zip(rows, vectors, probabilities, strict=True):
        out.append(
            Prediction(
                row=row,
                probability=float(p),
                version=model.version,
                likelihood=likelihood_label(probability=float(p), base_rate=model.base_rate),
                reasons=reasons_for(
                    features=row.features, contributions=model.contributions(vector)
                ),
            )
        )
    return out
