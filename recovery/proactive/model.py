"""The "likely to write again" predictor: features in a fixed order, a logistic regression on
standardised features, Platt calibration fitted on a later period than the fit, and the
plain-language reasons shown beside each prediction.

Plain Python, numpy and scikit-learn, no Django: arrays and dataclasses in and out.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

FORMAT_VERSION = 1
HEURISTIC_VERSION = "proactive-heuristic-1"
WINDOW_DAYS = 7

FEATURES: tuple[str, ...] = (
    "same_intent_30d",  # the customer's other tickets about the same intent, 30 days before
    "tickets_30d",  # the customer's tickets opened in the 30 days before the solve
    "ticket_reopened",  # this ticket came back after an earlier solve (0/1)
    "reopened_before",  # the customer's other tickets that came back after a solve
    "conversation_score",  # conversation-level frustration at solve time, 0 calm to 1
    "sentiment_known",  # 1 when an analysis of the conversation exists before the solve
    "wait_hours_log",  # log1p of the hours the customer waited on us in this ticket
    "prior_tickets_log",  # log1p of the customer's tickets before this one
    "tenure_days_log",
    "order_count_log",
    "outreach_after_solve",  # an agent reached out within the window (the queue's outcome)
)


@dataclass(frozen=True)
class SolveFeatures:
    """What was known about one solved ticket and its customer at the moment it was solved."""

    same_intent_30d: int
    tickets_30d: int
    ticket_reopened: bool
    reopened_before: int
    conversation_score: float | None
    wait_hours: float
    prior_tickets: int
    tenure_days: float
    order_count: int
    outreach_after_solve: bool
    intent: str = ""

    def vector(self) -> list[float]:
        return [
            float(self.same_intent_30d),
            float(self.tickets_30d),
            float(self.ticket_reopened),
            float(self.reopened_before),
            self.conversation_score or 0.0,
            float(self.conversation_score is not None),
            math.log1p(self.wait_hours),
            math.log1p(self.prior_tickets),
            math.log1p(self.tenure_days),
            math.log1p(self.order_count),
            float(self.outreach_after_solve),
        ]

    def baseline(self) -> float:
        """The baseline rule: contacted us at least twice in the 30 days up to the solve."""
        return 1.0 if self.tickets_30d >= 2 else 0.0


def proactive_heuristic(*, features: SolveFeatures) -> float:
    """`proactive-heuristic-1`, used until a model is trained: 0.02 for everyone, +0.15 per
    other ticket about the same intent (up to 3), +0.10 if contacted twice in 30 days, +0.15 if
    this ticket came back before, +0.10 x frustration at solve. Capped to 0-0.9."""
    score = (
        0.02
        + 0.15 * min(features.same_intent_30d, 3)
        + (0.10 if features.tickets_30d >= 2 else 0.0)
        + (0.15 if features.ticket_reopened or features.reopened_before else 0.0)
        + 0.10 * (features.conversation_score or 0.0)
    )
    return min(0.9, max(0.0, score))


def _sigmoid(z: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    return 1.0 / (1.0 + np.exp(-z))


@dataclass(frozen=True)
class ProactiveModel:
    """A trained model as stored in its run's `details`: plain numbers."""

    version: str
    means: tuple[float, ...]
    scales: tuple[float, ...]
    coefficients: tuple[float, ...]
    intercept: float
    # Platt scaling of the raw logit, fitted on a later period than the regression:
    # p = sigmoid(a * logit + b). (1, 0) when there was too little data to calibrate.
    calibration: tuple[float, float] = (1.0, 0.0)
    base_rate: float = 0.0
    training: dict[str, Any] = field(default_factory=dict)

    def logits(self, rows: npt.ArrayLike) -> npt.NDArray[np.float64]:
        x = np.asarray(rows, dtype=np.float64).reshape(-1, len(FEATURES))
        z = (x - np.asarray(self.means)) / np.asarray(self.scales)
        result: npt.NDArray[np.float64] = z @ np.asarray(self.coefficients) + self.intercept
        return result

    def predict(self, rows: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Calibrated probability of writing again within the window, per row."""
        a, b = self.calibration
        return _sigmoid(a * self.logits(rows) + b)

    def contributions(self, row: list[float]) -> dict[str, float]:
        """Each feature's push on the logit for one row, relative to the average solve."""
        z = (np.asarray(row) - np.asarray(self.means)) / np.asarray(self.scales)
        values = z * np.asarray(self.coefficients)
        return {name: float(v) for name, v in zip(FEATURES, values, strict=True)}

    def content(self) -> dict[str, Any]:
        return {
            "format_version": FORMAT_VERSION,
            "kind": "logistic_regression+platt",
            "features": list(FEATURES),
            "means": list(self.means),
            "scales": list(self.scales),
            "coefficients": list(self.coefficients),
            "intercept": self.intercept,
            "calibration": list(self.calibration),
            "base_rate": self.base_rate,
            "training": self.training,
        }

    @staticmethod
    def content_version(content: dict[str, Any]) -> str:
        canonical = json.dumps(content, sort_keys=True, separators=(",", ":"))
        return f"proactive-{hashlib.sha256(canonical.encode()).hexdigest()[:12]}"

    @classmethod
    def from_content(cls, content: dict[str, Any]) -> ProactiveModel:
        if content.get("format_version") != FORMAT_VERSION:
            raise ValueError("unsupported proactive model format")
        if tuple(content["features"]) != FEATURES:
            raise ValueError("the model was trained on other features than this code computes")
        a, b = content["calibration"]
        return cls(
            version=cls.content_version(content),
            means=tuple(float(v) for v in content["means"]),
            scales=tuple(float(v) for v in content["scales"]),
            coefficients=tuple(float(v) for v in content["coefficients"]),
            intercept=float(content["intercept"]),
            calibration=(float(a), float(b)),
            base_rate=float(content["base_rate"]),
            training=dict(content["training"]),
        )


def proactive_model_fit(x: npt.NDArray[np.float64], y: npt.NDArray[np.int64]) -> ProactiveModel:
    """A logistic regression on standardised features (uncalibrated, unversioned)."""
    from sklearn.linear_model import LogisticRegression

    means = x.mean(axis=0)
    scales = x.std(axis=0)
    # A feature that does not vary carries nothing: scale 1 keeps it at 0 (as StandardScaler).
    scales[scales == 0] = 1.0
    # C=0.3: with a few dozen positives (the demo history) a stronger prior keeps the weights
    # of rare features from running off; not class-weighted, so probabilities stay on the
    # real base rate before calibration.
    classifier = LogisticRegression(C=0.3, max_iter=1000)
    classifier.fit((x - means) / scales, y)
    return ProactiveModel(
        version="",
        means=tuple(float(v) for v in means),
        scales=tuple(float(v) for v in scales),
        coefficients=tuple(float(v) for v in classifier.coef_[0]),
        intercept=float(classifier.intercept_[0]),
        base_rate=float(y.mean()) if len(y) else 0.0,
    )


# Platt scaling needs both outcomes in the calibration period, a few of each.
MIN_CALIBRATION_POSITIVES = 3


def platt_fit(logits: npt.NDArray[np.float64], y: npt.NDArray[np.int64]) -> tuple[float, float]:
    """(a, b) of sigmoid(a * logit + b) fitted on held-out rows; identity with too few."""
    from sklearn.linear_model import LogisticRegression

    positives = int(y.sum())
    if positives < MIN_CALIBRATION_POSITIVES or len(y) - positives < MIN_CALIBRATION_POSITIVES:
        return (1.0, 0.0)
    platt = LogisticRegression(C=1e6, max_iter=1000)
    platt.fit(logits.reshape(-1, 1), y)
    return float(platt.coef_[0][0]), float(platt.intercept_[0])


# --- the words shown beside a prediction -------------------------------------------------------


def likelihood_label(*, probability: float, base_rate: float) -> str:
    """The probability in words, against how often anyone writes again after a solve."""
    if probability >= 0.5:
        return "Very likely to write again"
    if base_rate > 0 and probability >= 3 * base_rate:
        return f"Likely to write again (about {probability / base_rate:.0f}x the usual rate)"
    return "May write again"


def reasons_for(
    *, features: SolveFeatures, contributions: dict[str, float] | None = None
) -> list[str]:
    """Plain-language reasons, those that pushed the prediction up most first. With no
    model (`contributions` None) every applicable reason is given in a fixed order."""
    intent = features.intent.replace("_", " ") if features.intent else ""
    texts: dict[str, str] = {}
    if features.same_intent_30d:
        about = f" about {intent}" if intent else " about the same issue"
        texts["same_intent_30d"] = (
            f"Wrote {features.same_intent_30d + 1} times{about} in the last 30 days"
        )
    if features.tickets_30d >= 2:
        texts["tickets_30d"] = f"Contacted us {features.tickets_30d} times in 30 days"
    if features.ticket_reopened:
        texts["ticket_reopened"] = "This ticket came back once already after being solved"
    if features.reopened_before:
        texts["reopened_before"] = (
            f"{features.reopened_before} earlier ticket(s) came back after being solved"
        )
    if features.conversation_score is not None and features.conversation_score >= 0.4:
        texts["conversation_score"] = "The conversation was still tense when it was solved"
    if features.wait_hours >= 1:
        texts["wait_hours_log"] = f"Waited about {features.wait_hours:.0f} h on us in this ticket"
    if features.prior_tickets >= 1:
        texts["prior_tickets_log"] = f"{features.prior_tickets} ticket(s) with us before this one"
    if features.tenure_days < 365:
        texts["tenure_days_log"] = f"A recent customer ({features.tenure_days:.0f} days with us)"
    if features.order_count <= 2:
        texts["order_count_log"] = f"Few orders with us so far ({features.order_count})"
    if contributions is None:
        ordered = list(texts)
    else:
        ordered = sorted(
            (name for name in texts if contributions.get(name, 0.0) > 0),
            key=lambda name: -contributions[name],
        )
    reasons = [texts[name] for name in ordered[:3]]
    return reasons or ["Customers with a solve like this one often write again"]
