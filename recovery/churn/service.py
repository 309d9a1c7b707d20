"""Training the churn model and scoring customers with it: ties the data (`dataset`), the model
(`model`) and its file (`storage`) together, and records each training run."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone

from core.errors import DomainError
from recovery.churn.dataset import (
    ACTIVE_DAYS,
    churn_dataset_at,
    customer_histories_as_of,
    history_end,
)
from recovery.churn.model import (
    BASELINE_FEATURE,
    HEURISTIC_VERSION,
    HOLDOUT_SHARE,
    RANDOM_STATE,
    ChurnModel,
    churn_heuristic,
    churn_model_fit,
    holdout_aucs,
    holdout_split,
)
from recovery.churn.storage import churn_model_load, churn_model_path, churn_model_save
from recovery.models import ChurnModelRun
from tickets.models import Customer

MIN_CUSTOMERS = 20
# A stratified holdout needs several of each class on both sides to measure an AUC at all.
MIN_PER_CLASS = 5


def _too_little(message: str) -> DomainError:
    return DomainError(message, field="cutoff", code="too_little_data")


def churn_model_train(
    *,
    cutoff: dt.datetime | None = None,
    horizon_days: int = 90,
    now: dt.datetime | None = None,
    active_days: int = ACTIVE_DAYS,
) -> ChurnModelRun:
    """Train the churn model on the time split at `cutoff`, save it and record the run.

    `now` is the end of the recorded history (default: the newest customer message); `cutoff`
    defaults to `now - horizon_days`, the latest cutoff whose horizon is fully observed.
    Raises DomainError (nothing written) when the horizon is not over yet or there is too little
    data: fewer than MIN_CUSTOMERS active customers or fewer than MIN_PER_CLASS of either class.
    """
    if horizon_days < 1 or active_days < 1:
        raise DomainError("The horizon and the activity window are whole days, at least 1.")
    horizon = dt.timedelta(days=horizon_days)
    if now is None:
        now = history_end()
        if now is None:
            raise _too_little("No customer has written yet: there is nothing to learn from.")
    if cutoff is None:
        cutoff = now - horizon
    if cutoff + horizon > now:
        raise DomainError(
            f"The {horizon_days} days after {cutoff:%Y-%m-%d %H:%M} are not over by "
            f"{now:%Y-%m-%d %H:%M}: pick an earlier cutoff or a shorter horizon.",
            field="cutoff",
            code="horizon_not_observed",
        )

    dataset = churn_dataset_at(cutoff=cutoff, horizon_days=horizon_days, active_days=active_days)
    x, y = dataset.x, dataset.y
    n_customers, n_churned = len(dataset.population), int(y.sum())
    where = (
        f"{n_customers} customer(s) active in the {active_days} days before "
        f"{cutoff:%Y-%m-%d %H:%M}, {n_churned} of them silent in the {horizon_days} days after"
    )
    if n_customers < MIN_CUSTOMERS:
        raise _too_little(f"Too little data to train: {where}; at least {MIN_CUSTOMERS} needed.")
    if min(n_churned, n_customers - n_churned) < MIN_PER_CLASS:
        raise _too_little(
            f"Too little data to train: {where}; at least {MIN_PER_CLASS} who churned and "
            f"{MIN_PER_CLASS} who stayed are needed to learn and to validate."
        )

    train, test = holdout_split(y)
    if len(set(y[test].tolist())) < 2:
        raise _too_little(f"Too little data to validate: {where}; the holdout lacks a class.")
    validation_auc, baseline_auc = holdout_aucs(x, y, train=train, test=test)

    final = churn_model_fit(x, y)
    training = {
        "cutoff": cutoff.isoformat(),
        "horizon_days": horizon_days,
        "active_days": active_days,
        "history_end": now.isoformat(),
        "label": "churned = no customer message in [cutoff, cutoff + horizon)",
        "n_customers": n_customers,
        "n_churned": n_churned,
        "validation": {
            "split": "stratified customer holdout",
            "holdout_share": HOLDOUT_SHARE,
            "random_state": RANDOM_STATE,
            "n_train": len(train),
            "n_test": len(test),
            "n_test_churned": int(y[test].sum()),
            "auc": validation_auc,
            "baseline": BASELINE_FEATURE,
            "baseline_auc": baseline_auc,
        },
    }
    content = {**final.content(), "training": training}
    version = ChurnModel.content_version(content)
    path = churn_model_path()
    details = {**content, "path": str(path)}
    with transaction.atomic():
        run, created = ChurnModelRun.objects.get_or_create(
            version=version,
            defaults={
                "n_customers": n_customers,
                "n_churned": n_churned,
                "validation_auc": validation_auc,
                "baseline_auc": baseline_auc,
                "details": details,
            },
        )
        if not created:
            # The same data gave the same model (version is unique): that run becomes the
            # newest again rather than a duplicate.
            ChurnModelRun.objects.filter(pk=run.pk).update(
                trained_at=timezone.now(), details=details
            )
            run.refresh_from_db()
        # Inside the transaction: if the file cannot be written, no run is recorded.
        churn_model_save(path=path, content=content, version=version)
    return run


def churn_model_current() -> ChurnModelRun | None:
    """The newest training run (the model in use, if its file is where this process looks)."""
    return ChurnModelRun.objects.order_by("-trained_at", "-id").first()


def churn_risks_for(
    *, customer_ids: Iterable[int], now: dt.datetime | None = None
) -> dict[int, tuple[float, str]]:
    """(risk 0-1, model version) of each customer as of `now`, in a fixed number of queries."""
    ids = list(customer_ids)
    if not ids:
        return {}
    histories = customer_histories_as_of(as_of=now or timezone.now(), customer_ids=ids)
    model = churn_model_load()
    if model is None:
        return {pk: (churn_heuristic(history=h), HEURISTIC_VERSION) for pk, h in histories.items()}
    pks = list(histories)
    risks = model.predict([histories[pk].vector() for pk in pks])
    return {pk: (float(risk), model.version) for pk, risk in zip(pks, risks, strict=True)}


def churn_risk_for(*, customer: Customer, now: dt.datetime | None = None) -> tuple[float, str]:
    """The customer's churn risk (0-1) as of `now` and the version of the model that gave it."""
    return churn_risks_for(customer_ids=[customer.pk], now=now)[customer.pk]
