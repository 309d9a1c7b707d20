"""The churn model: how likely a customer is to stop contacting us, learned from our own history.

There is no "churned" column anywhere (the shop does not tell us who left), so the label comes
from a time split of the contact history itself:

- pick a *cutoff* in the past, at least `horizon_days` before the end of the recorded history;
- the training population is every customer *active before the cutoff*: who wrote to us at least
  once in the `active_days` (365) before it, signed up before it, and has not withdrawn consent
  to model training. Long-gone customers are left out on purpose: a customer last seen five
  years ago is not one we can lose next quarter, and including them only teaches the model that
  "silent for years" means "silent" (an easy, useless AUC);
- **churned** = the customer sent no message in the `horizon_days` after the cutoff
  (`cutoff <= created_at < cutoff + horizon`);
- every feature is computed from the history *before* the cutoff only, exactly as it is computed
  "as of now" when the model is applied, so training and scoring see the same thing.

The end of the recorded history (`now`) defaults to the newest customer message, not the wall
clock: on a live system the two are minutes apart, but on an imported snapshot the wall clock
would call everyone churned who merely fell off the end of the export.

Known leak: `Customer.order_count` and `lifetime_spend` are the shop's current totals, not a
history, so at training time they include orders placed after the cutoff. In a shop where staying
customers keep ordering this flatters the validation figures; it needs dated orders (or
snapshots of the totals) to remove.

Validation: a stratified holdout of 25% of the customers (each customer is one row, so the split
is by customer); the ROC AUC of the model is reported beside that of the simplest baseline, days
since last contact alone, on the same holdout. The saved model is then refitted on every
customer, so the figures estimate the procedure on this data, not that exact fit.

The model is a logistic regression on standardised features, stored as one JSON file (feature
names, means, scales, coefficients, intercept, how it was trained) whose version is a hash of
its content. A worker loads it once and re-reads it when the file is replaced.

With no trained model (a fresh install) `heuristic-1` is used: a transparent score, see
`churn_heuristic`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import math
import os
import threading
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from django.conf import settings
from django.db import transaction
from django.db.models import Count, Max, Min, Q
from django.utils import timezone

from copilot.models import AnalysisStatus, MessageAnalysis, Sentiment
from core.errors import DomainError
from recovery.models import ChurnModelRun, ExecutionStatus, RecoveryExecution
from tickets.consent import ConsentPurpose, customer_ids_opted_out
from tickets.models import (
    AuthorKind,
    Customer,
    Message,
    Status,
    Ticket,
    TicketEvent,
    TicketEventKind,
)

logger = logging.getLogger(__name__)

MODEL_FILE = "churn_model.json"
FORMAT_VERSION = 1
HEURISTIC_VERSION = "heuristic-1"

FEATURES: tuple[str, ...] = (
    "tenure_days_log",
    "order_count_log",
    "lifetime_spend_log",
    "tickets_30d",
    "tickets_90d",
    "days_since_contact",
    "negative_share",
    "reopened_tickets",
    "recoveries_received",
)
BASELINE_FEATURE = "days_since_contact"

# A customer never heard from counts as silent for this long; longer silences are capped so one
# customer from years ago does not dominate the standardised feature.
DAYS_SINCE_CAP = 365.0
ACTIVE_DAYS = 365
HOLDOUT_SHARE = 0.25
RANDOM_STATE = 0
MIN_CUSTOMERS = 20
# A stratified holdout needs several of each class on both sides to measure an AUC at all.
MIN_PER_CLASS = 5


# --- features ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CustomerHistory:
    """What is known about one customer as of a moment, from the history before it."""

    customer_id: int
    tenure_days: float  # since sign-up; since first contact when the shop sent no sign-up date
    order_count: int
    lifetime_spend: float
    tickets_30d: int
    tickets_90d: int
    days_since_contact: float  # capped at DAYS_SINCE_CAP; the cap when never contacted
    negative_share: float  # of their analysed messages; 0 when none was analysed
    reopened_tickets: int
    recoveries_received: int

    def vector(self) -> list[float]:
        """The model's inputs, in FEATURES order (counts of money and orders on a log scale)."""
        return [
            math.log1p(self.tenure_days),
            math.log1p(self.order_count),
            math.log1p(self.lifetime_spend),
            float(self.tickets_30d),
            float(self.tickets_90d),
            self.days_since_contact,
            self.negative_share,
            float(self.reopened_tickets),
            float(self.recoveries_received),
        ]


def _only(qs: Any, field: str, customer_ids: Collection[int] | None) -> Any:
    return qs if customer_ids is None else qs.filter(**{f"{field}__in": list(customer_ids)})


def customer_histories_as_of(
    *, as_of: dt.datetime, customer_ids: Collection[int] | None = None
) -> dict[int, CustomerHistory]:
    """Every customer's (or these customers') history strictly before `as_of`.

    Six aggregate queries whatever the number of customers; nothing after `as_of` is read, so a
    past `as_of` sees what we would have seen then (but see the module's note on order totals).
    """
    customers = _only(Customer.objects.order_by(), "pk", customer_ids).values_list(
        "pk", "signup_date", "order_count", "lifetime_spend"
    )
    contacts = {
        row["ticket__customer_id"]: (row["first"], row["last"])
        for row in _only(
            Message.objects.filter(author_kind=AuthorKind.CUSTOMER, created_at__lt=as_of),
            "ticket__customer_id",
            customer_ids,
        )
        .order_by()
        .values("ticket__customer_id")
        .annotate(first=Min("created_at"), last=Max("created_at"))
    }
    since_30, since_90 = as_of - dt.timedelta(days=30), as_of - dt.timedelta(days=90)
    tickets = {
        row["customer_id"]: (row["t30"], row["t90"])
        for row in _only(
            Ticket.objects.filter(created_at__lt=as_of, created_at__gte=since_90),
            "customer_id",
            customer_ids,
        )
        .order_by()
        .values("customer_id")
        .annotate(t30=Count("pk", filter=Q(created_at__gte=since_30)), t90=Count("pk"))
    }
    sentiment = {
        row["ticket__customer_id"]: row["negative"] / row["analysed"]
        for row in _only(
            MessageAnalysis.objects.filter(
                status=AnalysisStatus.DONE, message__created_at__lt=as_of
            ).exclude(sentiment=""),
            "ticket__customer_id",
            customer_ids,
        )
        .order_by()
        .values("ticket__customer_id")
        .annotate(
            analysed=Count("pk"), negative=Count("pk", filter=Q(sentiment=Sentiment.NEGATIVE))
        )
    }
    # An agent moving a solved ticket back to open or pending. (A customer writing on a solved
    # ticket reopens it too, but message_append records no event for that, so it is not seen.)
    reopened = {
        row["ticket__customer_id"]: row["n"]
        for row in _only(
            TicketEvent.objects.filter(
                kind=TicketEventKind.STATUS_CHANGED,
                data__from=Status.SOLVED.value,
                data__to__in=[Status.OPEN.value, Status.PENDING.value],
                created_at__lt=as_of,
            ),
            "ticket__customer_id",
            customer_ids,
        )
        .order_by()
        .values("ticket__customer_id")
        .annotate(n=Count("ticket_id", distinct=True))
    }
    recoveries = {
        row["recommendation__ticket__customer_id"]: row["n"]
        for row in _only(
            RecoveryExecution.objects.filter(status=ExecutionStatus.DONE, executed_at__lt=as_of),
            "recommendation__ticket__customer_id",
            customer_ids,
        )
        .order_by()
        .values("recommendation__ticket__customer_id")
        .annotate(n=Count("pk"))
    }

    as_of_date = timezone.localdate(as_of)
    histories: dict[int, CustomerHistory] = {}
    for pk, signup, order_count, spend in customers:
        first, last = contacts.get(pk, (None, None))
        if signup is not None:
            tenure = float(max(0, (as_of_date - signup).days))
        elif first is not None:
            tenure = max(0.0, (as_of - first).total_seconds() / 86400)
        else:
            tenure = 0.0
        since = (
            DAYS_SINCE_CAP
            if last is None
            else min(DAYS_SINCE_CAP, (as_of - last).total_seconds() / 86400)
        )
        t30, t90 = tickets.get(pk, (0, 0))
        histories[pk] = CustomerHistory(
            customer_id=pk,
            tenure_days=tenure,
            order_count=order_count,
            lifetime_spend=float(spend),
            tickets_30d=t30,
            tickets_90d=t90,
            days_since_contact=since,
            negative_share=sentiment.get(pk, 0.0),
            reopened_tickets=reopened.get(pk, 0),
            recoveries_received=recoveries.get(pk, 0),
        )
    return histories


# --- the heuristic -----------------------------------------------------------------------------


def churn_heuristic(*, history: CustomerHistory) -> float:
    """`heuristic-1`, used until a model is trained. Each term is a reason anyone can check:

    0.10 for everyone, plus up to 0.40 for silence (growing linearly to 180 days since they last
    wrote), plus 0.30 x the share of their analysed messages that were negative, plus 0.10 if a
    ticket of theirs was reopened, plus 0.10 if they have at most one order (no habit yet).
    Capped to 0-1. Someone upset in every message who last wrote 30 days ago scores 0.47; a
    regular who wrote contentedly ten days ago, 0.12.
    """
    score = (
        0.10
        + 0.40 * min(history.days_since_contact, 180.0) / 180.0
        + 0.30 * history.negative_share
        + (0.10 if history.reopened_tickets else 0.0)
        + (0.10 if history.order_count <= 1 else 0.0)
    )
    return min(1.0, max(0.0, score))


# --- the model ---------------------------------------------------------------------------------


def _sigmoid(z: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    return 1.0 / (1.0 + np.exp(-z))


@dataclass(frozen=True)
class ChurnModel:
    """A trained model as stored: plain numbers, so any process predicts the same from the file."""

    version: str
    features: tuple[str, ...]
    means: tuple[float, ...]
    scales: tuple[float, ...]
    coefficients: tuple[float, ...]
    intercept: float
    training: dict[str, Any]  # cutoff, horizon, population and validation figures

    def predict(self, rows: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Churn probability of each row (features in FEATURES order)."""
        x = np.asarray(rows, dtype=np.float64).reshape(-1, len(self.features))
        z = (x - np.asarray(self.means)) / np.asarray(self.scales)
        return _sigmoid(z @ np.asarray(self.coefficients) + self.intercept)

    def content(self) -> dict[str, Any]:
        return {
            "format_version": FORMAT_VERSION,
            "kind": "logistic_regression",
            "features": list(self.features),
            "means": list(self.means),
            "scales": list(self.scales),
            "coefficients": list(self.coefficients),
            "intercept": self.intercept,
            "training": self.training,
        }

    @staticmethod
    def content_version(content: dict[str, Any]) -> str:
        canonical = json.dumps(content, sort_keys=True, separators=(",", ":"))
        return f"churn-{hashlib.sha256(canonical.encode()).hexdigest()[:12]}"

    @classmethod
    def from_content(cls, content: dict[str, Any], *, version: str | None = None) -> ChurnModel:
        if content.get("format_version") != FORMAT_VERSION:
            raise ValueError("unsupported churn model format")
        if tuple(content["features"]) != FEATURES:
            raise ValueError("the model was trained on other features than this code computes")
        expected = cls.content_version(content)
        if version is not None and version != expected:
            raise ValueError(f"version {version} does not match the content ({expected})")
        return cls(
            version=expected,
            features=tuple(content["features"]),
            means=tuple(float(v) for v in content["means"]),
            scales=tuple(float(v) for v in content["scales"]),
            coefficients=tuple(float(v) for v in content["coefficients"]),
            intercept=float(content["intercept"]),
            training=dict(content["training"]),
        )


def _fit(x: npt.NDArray[np.float64], y: npt.NDArray[np.int64]) -> ChurnModel:
    from sklearn.linear_model import LogisticRegression

    means = x.mean(axis=0)
    scales = x.std(axis=0)
    # A feature that does not vary (no recoveries yet, say) carries no information: scale 1
    # keeps it at 0 after standardising instead of dividing by zero (what StandardScaler does).
    scales[scales == 0] = 1.0
    # Not class-weighted: the probabilities stay calibrated to the real churn rate, so 0.5
    # ("more likely than not") means what the at_risk segment says it means.
    classifier = LogisticRegression(C=1.0, max_iter=1000)
    classifier.fit((x - means) / scales, y)
    return ChurnModel(
        version="",
        features=FEATURES,
        means=tuple(float(v) for v in means),
        scales=tuple(float(v) for v in scales),
        coefficients=tuple(float(v) for v in classifier.coef_[0]),
        intercept=float(classifier.intercept_[0]),
        training={},
    )


def churn_model_path() -> Path:
    return Path(settings.RECOVERY_CHURN_MODEL_DIR) / MODEL_FILE


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    # A reader sees the old file or the new one, never half of one.
    os.replace(tmp, path)


def _history_end() -> dt.datetime | None:
    """The newest customer message, or the wall clock if something is dated in the future."""
    newest = Message.objects.filter(author_kind=AuthorKind.CUSTOMER).aggregate(
        newest=Max("created_at")
    )["newest"]
    return None if newest is None else min(newest, timezone.now())


def _training_opted_out() -> set[int]:
    """Customers whose newest consent record for model training says no."""
    return set(
        customer_ids_opted_out(purpose=ConsentPurpose.TRAINING).values_list(
            "customer_id", flat=True
        )
    )


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
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import train_test_split

    if horizon_days < 1 or active_days < 1:
        raise DomainError("The horizon and the activity window are whole days, at least 1.")
    horizon = dt.timedelta(days=horizon_days)
    if now is None:
        now = _history_end()
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

    histories = customer_histories_as_of(as_of=cutoff)
    active_since = cutoff - dt.timedelta(days=active_days)
    active = set(
        Message.objects.filter(
            author_kind=AuthorKind.CUSTOMER, created_at__gte=active_since, created_at__lt=cutoff
        )
        .order_by()
        .values_list("ticket__customer_id", flat=True)
        .distinct()
    )
    signed_up_after = set(
        Customer.objects.filter(signup_date__gte=timezone.localdate(cutoff)).values_list(
            "pk", flat=True
        )
    )
    population = sorted(active - signed_up_after - _training_opted_out())
    returned = set(
        Message.objects.filter(
            author_kind=AuthorKind.CUSTOMER, created_at__gte=cutoff, created_at__lt=cutoff + horizon
        )
        .order_by()
        .values_list("ticket__customer_id", flat=True)
        .distinct()
    )
    x = np.asarray([histories[pk].vector() for pk in population], dtype=np.float64)
    y = np.asarray([int(pk not in returned) for pk in population], dtype=np.int64)
    n_customers, n_churned = len(population), int(y.sum())
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

    train, test = train_test_split(
        np.arange(n_customers), test_size=HOLDOUT_SHARE, random_state=RANDOM_STATE, stratify=y
    )
    if len(set(y[test].tolist())) < 2:
        raise _too_little(f"Too little data to validate: {where}; the holdout lacks a class.")
    validated = _fit(x[train], y[train])
    validation_auc = float(roc_auc_score(y[test], validated.predict(x[test])))
    # Longer silence, more churn: the raw number is already a score, nothing to fit.
    baseline = x[test, FEATURES.index(BASELINE_FEATURE)]
    baseline_auc = float(roc_auc_score(y[test], baseline))

    final = _fit(x, y)
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
        _write_atomically(path, json.dumps({**content, "version": version}, indent=1))
    return run


def churn_model_current() -> ChurnModelRun | None:
    """The newest training run (the model in use, if its file is where this process looks)."""
    return ChurnModelRun.objects.order_by("-trained_at", "-id").first()


# --- loading, per process ----------------------------------------------------------------------

_lock = threading.Lock()
# (path, mtime, size, inode) of the file read, and the model it held.
_held: tuple[tuple[str, int, int, int], ChurnModel] | None = None


def churn_model_load() -> ChurnModel | None:
    """The saved model, read once per process and again whenever the file is replaced.

    One stat() per call. A replaced file gets a new inode (os.replace), so a retrain within the
    same mtime tick is still noticed. A file that cannot be read is logged and the heuristic is
    used: a damaged file must not stop recommendations.
    """
    global _held
    path = churn_model_path()
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    key = (str(path), stat.st_mtime_ns, stat.st_size, stat.st_ino)
    held = _held
    if held is not None and held[0] == key:
        return held[1]
    with _lock:
        if _held is not None and _held[0] == key:
            return _held[1]
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
            version = document.pop("version")
            model = ChurnModel.from_content(document, version=version)
        except (OSError, ValueError, KeyError, TypeError):
            logger.exception("Churn model %s cannot be read; using %s", path, HEURISTIC_VERSION)
            return None
        _held = (key, model)
        return model


def churn_model_forget() -> None:
    """Drop the model this process holds (tests that swap model directories)."""
    global _held
    with _lock:
        _held = None


# --- scoring -----------------------------------------------------------------------------------


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
