"""The predictor's pure parts: precision@k with ties, calibration, the words shown."""

import numpy as np

from recovery.proactive.backtest import precision_at_k
from recovery.proactive.model import (
    SolveFeatures,
    likelihood_label,
    platt_fit,
    reasons_for,
)


def features(**overrides: object) -> SolveFeatures:
    base: dict[str, object] = {
        "same_intent_30d": 0,
        "tickets_30d": 1,
        "ticket_reopened": False,
        "reopened_before": 0,
        "conversation_score": None,
        "wait_hours": 0.0,
        "prior_tickets": 0,
        "tenure_days": 900.0,
        "order_count": 5,
        "outreach_after_solve": False,
        "intent": "track_refund",
    }
    base.update(overrides)
    return SolveFeatures(**base)  # type: ignore[arg-type]


def test_precision_at_k_counts_a_tie_at_the_cut_at_its_positive_rate() -> None:
    scores = np.array([1.0, 1.0, 1.0, 1.0, 0.0])
    y = np.array([1, 0, 0, 0, 1])

    # Two of the four tied rows are taken: on average 2 x 1/4 positives.
    assert precision_at_k(scores, y, 2) == 0.25


def test_precision_at_k_of_a_strict_ranking() -> None:
    scores = np.array([0.9, 0.8, 0.1, 0.05])
    y = np.array([1, 0, 1, 0])

    assert precision_at_k(scores, y, 2) == 0.5
    assert precision_at_k(scores, y, 10) == 0.5  # k above the rows: all of them


def test_platt_is_left_out_with_too_few_positives_to_fit() -> None:
    assert platt_fit(np.array([0.1, 0.2, 0.3, 0.4]), np.array([0, 0, 0, 1])) == (1.0, 0.0)


def test_platt_fitted_pulls_overconfident_logits_towards_the_observed_rate() -> None:
    rng = np.random.default_rng(0)
    logits = rng.normal(0.0, 3.0, 400)
    # The truth is half as steep as the logits say.
    y = (rng.random(400) < 1 / (1 + np.exp(-logits / 2))).astype(np.int64)

    a, _ = platt_fit(logits, y)

    assert 0.3 < a < 0.8


def test_likelihood_is_words_and_a_multiple_never_a_bare_probability() -> None:
    assert likelihood_label(probability=0.6, base_rate=0.02) == "Very likely to write again"
    assert likelihood_label(probability=0.08, base_rate=0.02) == (
        "Likely to write again (about 4x the usual rate)"
    )
    assert likelihood_label(probability=0.03, base_rate=0.02) == "May write again"


def test_reasons_name_the_issue_and_follow_the_model_push() -> None:
    f = features(same_intent_30d=2, tickets_30d=3, wait_hours=12.0)

    reasons = reasons_for(
        features=f,
        contributions={"same_intent_30d": 0.2, "tickets_30d": 0.5, "wait_hours_log": -0.1},
    )

    assert reasons == [
        "Contacted us 3 times in 30 days",
        "Wrote 3 times about track refund in the last 30 days",
    ]


def test_a_prediction_always_has_a_reason() -> None:
    assert reasons_for(features=features(), contributions={}) == [
        "Customers with a solve like this one often write again"
    ]
