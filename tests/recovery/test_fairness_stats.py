"""The fairness report's statistics against known answers."""

import pytest
from scipy import stats

from recovery.fairness_stats import means_compare, proportions_compare


def test_two_proportions_give_the_difference_newcombe_interval_and_z_test_p_value() -> None:
    # 12 of 40 against 5 of 60: expected counts all at least 5, so the z-test applies
    result = proportions_compare(successes=12, n=40, other_successes=5, other_n=60)

    assert result.difference == pytest.approx(0.21667, abs=1e-5)
    assert (result.low, result.high) == pytest.approx((0.06272, 0.37803), abs=1e-5)
    assert result.p_value == pytest.approx(0.00472, abs=1e-5)
    assert result.significant(alpha=0.05)


def test_one_success_among_few_uses_fisher_exact_and_is_not_significant() -> None:
    # The z-test would say p = 0.043 here; the normal approximation does not hold on 1 offer
    result = proportions_compare(successes=1, n=10, other_successes=0, other_n=40)

    assert result.p_value == pytest.approx(0.2)
    assert result.low < 0 < result.high
    assert not result.significant(alpha=0.05)


def test_means_are_compared_by_welchs_t_test() -> None:
    mine, theirs = [10.0, 12, 9, 11, 15, 8], [20.0, 25, 18, 30, 22, 21, 19]

    result = means_compare(values=mine, other_values=theirs)

    welch = stats.ttest_ind(mine, theirs, equal_var=False)
    interval = welch.confidence_interval(0.95)
    assert result.p_value == pytest.approx(welch.pvalue)
    assert (result.low, result.high) == pytest.approx((interval.low, interval.high))


def test_equal_amounts_on_each_side_give_an_exact_difference() -> None:
    assert means_compare(values=[10.0] * 5, other_values=[30.0] * 5).p_value == 0.0
    assert means_compare(values=[10.0] * 5, other_values=[10.0] * 5).p_value == 1.0
