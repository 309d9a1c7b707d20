"""The churn model as plain numbers: fitted, stored as content and read back, no database."""

import numpy as np
import pytest

from recovery.churn.model import (
    FEATURES,
    ChurnModel,
    CustomerHistory,
    churn_heuristic,
    churn_model_fit,
)


def _history(**overrides: float) -> CustomerHistory:
    fields = {
        "customer_id": 1,
        "tenure_days": 400.0,
        "order_count": 6,
        "lifetime_spend": 300.0,
        "tickets_30d": 0,
        "tickets_90d": 1,
        "days_since_contact": 10.0,
        "negative_share": 0.0,
        "reopened_tickets": 0,
        "recoveries_received": 0,
    }
    return CustomerHistory(**{**fields, **overrides})


def test_a_fitted_model_read_back_from_its_content_predicts_the_same() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, len(FEATURES)))
    y = (x[:, FEATURES.index("days_since_contact")] > 0).astype(np.int64)
    fitted = churn_model_fit(x, y)
    content = fitted.content()

    read_back = ChurnModel.from_content(content, version=ChurnModel.content_version(content))

    assert read_back.version.startswith("churn-")
    np.testing.assert_allclose(read_back.predict(x), fitted.predict(x))


def test_content_whose_version_does_not_match_is_refused() -> None:
    x = np.arange(40 * len(FEATURES), dtype=np.float64).reshape(40, len(FEATURES))
    content = churn_model_fit(x, np.array([0, 1] * 20, dtype=np.int64)).content()

    with pytest.raises(ValueError, match="does not match"):
        ChurnModel.from_content(content, version="churn-000000000000")


def test_heuristic_scores_an_upset_silent_customer_above_a_content_regular() -> None:
    upset = _history(days_since_contact=30.0, negative_share=1.0)
    regular = _history()

    assert churn_heuristic(history=upset) == pytest.approx(0.4667, abs=1e-4)
    assert churn_heuristic(history=regular) == pytest.approx(0.1222, abs=1e-4)
