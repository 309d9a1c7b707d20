"""The tests behind the fairness report's flags: plain numbers in, plain numbers out.

A segment is compared with the rest of its stratum (the other segments of the same intent and
severity), never with a total it is part of. Two questions, each with a 95% confidence interval
for the difference and a two-sided p-value:

- the offer rate: a two-proportion z-test (pooled standard error) for the p-value, or Fisher's
  exact test when a count expected under "no difference" is below 5 (where the normal
  approximation fails: one offer in ten against none in forty is p = 0.04 by z, 0.2 exact), and
  Newcombe's
  hybrid Wilson score interval for the difference, which stays sensible with small counts and
  rates near 0 or 1 (Newcombe 1998, "Interval estimation for the difference between independent
  proportions", method 10);
- the mean amount offered: Welch's t-test (unequal variances) and its interval.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import fmean, variance

CONFIDENCE = 0.95
_Z = 1.959963984540054  # the normal quantile for a two-sided 95% interval


@dataclass(frozen=True, kw_only=True)
class Comparison:
    """A difference (segment minus the rest), its 95% interval and two-sided p-value."""

    difference: float
    low: float
    high: float
    p_value: float

    def significant(self, *, alpha: float) -> bool:
        """Unlikely to be chance: p below alpha, and zero outside the interval (so the words on
        the page never say "unlikely to be chance" of an interval that holds no difference)."""
        return self.p_value < alpha and (self.low > 0 or self.high < 0)


def _wilson(successes: int, n: int) -> tuple[float, float]:
    p = successes / n
    centre = (p + _Z**2 / (2 * n)) / (1 + _Z**2 / n)
    half = _Z * math.sqrt(p * (1 - p) / n + _Z**2 / (4 * n * n)) / (1 + _Z**2 / n)
    return centre - half, centre + half


def proportions_compare(
    *, successes: int, n: int, other_successes: int, other_n: int
) -> Comparison:
    """Rate of `successes` of `n` against `other_successes` of `other_n` (both n > 0)."""
    p1, p2 = successes / n, other_successes / other_n
    pooled = (successes + other_successes) / (n + other_n)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n + 1 / other_n))
    # Everyone offered, or nobody, on both sides: no difference, nothing to test.
    total = n + other_n
    offered = successes + other_successes
    expected = (n * offered, n * (total - offered), other_n * offered, other_n * (total - offered))
    if se == 0:
        p_value = 1.0
    elif min(expected) < 5 * total:
        from scipy import stats  # 1.3 s to import: only when the report is drawn, not at startup

        table = [[successes, n - successes], [other_successes, other_n - other_successes]]
        p_value = float(stats.fisher_exact(table).pvalue)
    else:
        p_value = math.erfc(abs(p1 - p2) / se / math.sqrt(2))
    l1, u1 = _wilson(successes, n)
    l2, u2 = _wilson(other_successes, other_n)
    d = p1 - p2
    return Comparison(
        difference=d,
        low=d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2),
        high=d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2),
        p_value=p_value,
    )


def means_compare(*, values: list[float], other_values: list[float]) -> Comparison:
    """Welch's comparison of two means (each side needs at least two values)."""
    m1, m2 = fmean(values), fmean(other_values)
    v1, v2 = variance(values) / len(values), variance(other_values) / len(other_values)
    d = m1 - m2
    se = math.sqrt(v1 + v2)
    if se == 0:
        # Every amount the same on each side: the difference is exact, not an estimate.
        return Comparison(difference=d, low=d, high=d, p_value=1.0 if d == 0 else 0.0)
    from scipy import stats  # 1.3 s to import: only when the report is drawn, not at startup

    dof = (v1 + v2) ** 2 / (v1**2 / (len(values) - 1) + v2**2 / (len(other_values) - 1))
    t_crit = float(stats.t.ppf(0.5 + CONFIDENCE / 2, dof))
    return Comparison(
        difference=d,
        low=d - t_crit * se,
        high=d + t_crit * se,
        p_value=float(2 * stats.t.sf(abs(d) / se, dof)),
    )
