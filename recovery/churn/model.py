"""The churn model itself: its features, the logistic regression (fit, holdout validation,
predict) and the heuristic used before any model is trained.

Plain Python, numpy and scikit-learn: arrays and dataclasses in and out, no Django, so it is
tested without a database.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

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
HOLDOUT_SHARE = 0.25
RANDOM_STATE = 0


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


def churn_model_fit(x: npt.NDArray[np.float64], y: npt.NDArray[np.int64]) -> ChurnModel:
    """A logistic regression on standardised features (unversioned, no training record yet)."""
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


def holdout_split(
    y: npt.NDArray[np.int64],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Row indices of the training part and the stratified holdout (HOLDOUT_SHARE of rows)."""
    from sklearn.model_selection import train_test_split

    train, test = train_test_split(
        np.arange(len(y)), test_size=HOLDOUT_SHARE, random_state=RANDOM_STATE, stratify=y
    )
    return train, test


def holdout_aucs(
    x: npt.NDArray[np.float64],
    y: npt.NDArray[np.int64],
    *,
    train: npt.NDArray[np.int64],
    test: npt.NDArray[np.int64],
) -> tuple[float, float]:
    """ROC AUC on the holdout of a model fitted on the training part, and of the baseline."""
    from sklearn.metrics import roc_auc_score

    validated = churn_model_fit(x[train], y[train])
    validation_auc = float(roc_auc_score(y[test], validated.predict(x[test])))
    # Longer silence, more churn: the raw number is already a score, nothing to fit.
    baseline = x[test, FEATURES.index(BASELINE_FEATURE)]
    baseline_auc = float(roc_auc_score(y[test], baseline))
    return validation_auc, baseline_auc
