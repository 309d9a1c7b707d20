"""The fairness report: is money offered alike to every customer segment in like cases?

Like is compared with like: a stratum is one intent at one severity, and within it each segment
is compared with the rest of the stratum (the other segments), never with a total it is part of.
The severity of a case is the analysis's conversation level (the customer's state across the
whole conversation, what a recovery answers) and, on analyses made before that reading existed,
its sentiment; the two scales never share a stratum.

A flag needs all of: enough cases on both sides (RECOVERY_FAIRNESS_MIN_SAMPLES; offers on both
sides for the amount), a difference unlikely to be chance (p below RECOVERY_FAIRNESS_ALPHA and
zero outside the 95% interval: a two-proportion z-test, or Fisher's exact test on small counts,
for the offer rate; Welch's t-test for the mean amount), and a
difference worth a look (beyond RECOVERY_FAIRNESS_GAP of the rest's figure). Each comparison
is put in words on the page, with its 95% confidence interval and p-value.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from fractions import Fraction

from django.conf import settings
from django.db.models import Count, F, OuterRef, Q, Subquery, Sum, Value
from django.db.models.functions import Coalesce, NullIf

from accounts.models import User
from accounts.selectors import team_ids_for_supervisor
from copilot.labels import intent_label
from copilot.models import ConversationLevel, Sentiment
from recovery.fairness_stats import Comparison, means_compare, proportions_compare
from recovery.models import AuditEvent, Recommendation, RecommendationStatus
from tickets.models import Segment

# A recovery the customer actually gets: approved (about to run) or executed. Awaiting a
# supervisor is not an offer yet; rejected never was one.
OFFERED_STATUSES = (RecommendationStatus.APPROVED, RecommendationStatus.EXECUTED)
_OFFERED = Q(status__in=OFFERED_STATUSES)
_SEVERITY_LABELS = {**dict(ConversationLevel.choices), **dict(Sentiment.choices)}


@dataclass(frozen=True, kw_only=True)
class _Case:
    """One analysed customer message with recommendations on the table."""

    offered: bool  # money actually offered
    gesture: bool  # a cost-free action (apology, callback...) actually offered
    amount: Decimal  # money offered on it


@dataclass(frozen=True, kw_only=True)
class FairnessFigures:
    """Recovery for one customer segment within one stratum (or for the whole stratum).

    - `cases`: analysed customer messages with at least one recommendation on the table.
    - `offers`: those of them where money was actually offered (a monetary action approved or
      executed). Apologies, escalations and callbacks cost nothing and are counted apart, in
      `gestures`, so they neither dilute nor inflate the money figures.
    - `total_amount`: money offered on those messages; `mean_amount`: per message offered.
    - `rate_words` / `amount_words`: the comparison with the rest of the stratum, in words.
    """

    segment: str
    label: str
    cases: int
    offers: int
    gestures: int
    total_amount: Decimal
    rate_test: Comparison | None = None
    amount_test: Comparison | None = None
    rate_flagged: bool = False
    amount_flagged: bool = False
    rate_words: str = ""
    amount_words: str = ""

    @property
    def offer_rate(self) -> float | None:
        return self.offers / self.cases if self.cases else None

    @property
    def gesture_rate(self) -> float | None:
        return self.gestures / self.cases if self.cases else None

    @property
    def mean_amount(self) -> Decimal | None:
        if not self.offers:
            return None
        return (self.total_amount / self.offers).quantize(Decimal("0.01"))

    @property
    def flagged(self) -> bool:
        return self.rate_flagged or self.amount_flagged


@dataclass(frozen=True, kw_only=True)
class FairnessIntent:
    """One stratum: an intent at one severity."""

    intent: str
    label: str
    severity: str
    severity_label: str
    overall: FairnessFigures
    segments: list[FairnessFigures]

    @property
    def flagged(self) -> bool:
        return any(s.flagged for s in self.segments)


@dataclass(frozen=True, kw_only=True)
class FairnessReport:
    intents: list[FairnessIntent]
    gap: float
    min_samples: int
    alpha: float
    currency: str
    flagged_count: int = field(default=0)


def _figures(segment: str, label: str, cases: list[_Case]) -> FairnessFigures:
    offered = [c for c in cases if c.offered]
    return FairnessFigures(
        segment=segment,
        label=label,
        cases=len(cases),
        offers=len(offered),
        gestures=sum(1 for c in cases if c.gesture),
        total_amount=sum((c.amount for c in offered), Decimal(0)),
    )


def _percent(value: float) -> str:
    return f"{round(value * 100)}%"


def _p(p_value: float) -> str:
    return "p < 0.001" if p_value < 0.001 else f"p = {p_value:.3f}"


def _verdict(test: Comparison, *, alpha: float, worth: bool) -> str:
    if not test.significant(alpha=alpha):
        return f"could be chance, {_p(test.p_value)}"
    if not worth:
        return f"unlikely to be chance, {_p(test.p_value)}, but too small a difference to flag"
    return f"unlikely to be chance, {_p(test.p_value)}"


def _beyond(difference: Fraction, rest: Fraction, limit: Fraction) -> bool:
    """Is the difference beyond `limit` of the rest's figure? Exact: a difference of exactly
    the limit is not beyond it, whatever float rounding would say."""
    return abs(difference) > limit * abs(rest) if rest else difference != 0


def _compare(
    cell: list[_Case], rest: list[_Case], figures: FairnessFigures, *, currency: str
) -> FairnessFigures:
    minimum = settings.RECOVERY_FAIRNESS_MIN_SAMPLES
    alpha = settings.RECOVERY_FAIRNESS_ALPHA
    limit = Fraction(str(settings.RECOVERY_FAIRNESS_GAP))
    others = _figures("", "", rest)

    rate_test, rate_flagged = None, False
    if not rest:
        rate_words = "The only segment here: nothing to compare it with."
    elif figures.cases < minimum or others.cases < minimum:
        rate_words = (
            f"Too few cases to compare: {figures.cases} here and {others.cases} in the other "
            f"segments (at least {minimum} on each side)."
        )
    else:
        rate_test = proportions_compare(
            successes=figures.offers,
            n=figures.cases,
            other_successes=others.offers,
            other_n=others.cases,
        )
        rest_rate = Fraction(others.offers, others.cases)
        worth = _beyond(Fraction(figures.offers, figures.cases) - rest_rate, rest_rate, limit)
        rate_flagged = rate_test.significant(alpha=alpha) and worth
        rate_words = (
            f"Offered money in {figures.offers} of {figures.cases} cases "
            f"({_percent(figures.offers / figures.cases)}) against {others.offers} of "
            f"{others.cases} ({_percent(others.offers / others.cases)}) in the other segments; "
            f"difference {round(rate_test.difference * 100):+d} points, 95% CI "
            f"{round(rate_test.low * 100):+d} to {round(rate_test.high * 100):+d}; "
            f"{_verdict(rate_test, alpha=alpha, worth=worth)}."
        )

    amount_test, amount_flagged = None, False
    needed = max(minimum, 2)  # a spread needs two amounts
    if not rest or not figures.offers:
        amount_words = ""
    elif figures.offers < needed or others.offers < needed:
        amount_words = (
            f"Too few offers to compare amounts: {figures.offers} here and {others.offers} in "
            f"the other segments (at least {needed} on each side)."
        )
    else:
        mine = [float(c.amount) for c in cell if c.offered]
        theirs = [float(c.amount) for c in rest if c.offered]
        amount_test = means_compare(values=mine, other_values=theirs)
        rest_mean = Fraction(others.total_amount) / others.offers
        mean = Fraction(figures.total_amount) / figures.offers
        worth = _beyond(mean - rest_mean, rest_mean, limit)
        amount_flagged = amount_test.significant(alpha=alpha) and worth
        rest_shown = (others.total_amount / others.offers).quantize(Decimal("0.01"))
        amount_words = (
            f"Mean offered {figures.mean_amount} {currency} over {figures.offers} offers "
            f"against {rest_shown} {currency} over {others.offers} in the other segments; "
            f"difference {amount_test.difference:+.2f} {currency}, 95% CI "
            f"{amount_test.low:+.2f} to {amount_test.high:+.2f}; "
            f"{_verdict(amount_test, alpha=alpha, worth=worth)}."
        )

    return FairnessFigures(
        segment=figures.segment,
        label=figures.label,
        cases=figures.cases,
        offers=figures.offers,
        gestures=figures.gestures,
        total_amount=figures.total_amount,
        rate_test=rate_test,
        amount_test=amount_test,
        rate_flagged=rate_flagged,
        amount_flagged=amount_flagged,
        rate_words=rate_words,
        amount_words=amount_words,
    )


def fairness_report_for_user(*, user: User, since: datetime | None = None) -> FairnessReport:
    """Recovery offered by customer segment, stratum by stratum (intent and severity), each
    segment tested against the rest of its stratum.

    One query, one row per analysed message (a message belongs to one ticket, so to one
    segment). The segment is the customer's segment when the recommendation was recorded (from
    its first audit event), falling back to their current one: a customer who became VIP later
    must not make past VIP figures look generous. Recommendations count from when they were
    made (`since` applies to their creation).
    """
    qs = Recommendation.objects.filter(
        ticket__team_id__in=team_ids_for_supervisor(user=user), analysis__isnull=False
    )
    if since is not None:
        qs = qs.filter(created_at__gte=since)
    segment_then = Subquery(
        AuditEvent.objects.filter(recommendation=OuterRef("pk"))
        .exclude(segment="")
        .order_by("id")
        .values("segment")[:1]
    )
    rows = (
        qs.annotate(
            intent=F("analysis__intent"),
            severity=Coalesce(
                NullIf("analysis__conversation_level", Value("")), "analysis__sentiment"
            ),
            segment=Coalesce(segment_then, F("ticket__customer__segment")),
        )
        .values("analysis_id", "intent", "severity", "segment")
        .annotate(
            offers=Count("id", filter=_OFFERED & Q(action__monetary=True)),
            gestures=Count("id", filter=_OFFERED & Q(action__monetary=False)),
            total=Sum(
                Coalesce("final_amount", "amount"), filter=_OFFERED & Q(action__monetary=True)
            ),
        )
        .order_by("analysis_id", "segment")
    )

    strata: dict[tuple[str, str], dict[str, list[_Case]]] = defaultdict(lambda: defaultdict(list))
    seen: set[int] = set()
    for row in rows:
        # Should two recommendations of one message carry different segments (the customer
        # changed segment between them), the message counts once, in the first.
        if row["analysis_id"] in seen:
            continue
        seen.add(row["analysis_id"])
        strata[(row["intent"], row["severity"] or "")][row["segment"]].append(
            _Case(
                offered=row["offers"] > 0,
                gesture=row["gestures"] > 0,
                amount=row["total"] or Decimal(0),
            )
        )

    labels = dict(Segment.choices)
    currency = settings.RECOVERY_CURRENCY
    intents = []
    for (intent, severity), by_segment in strata.items():
        everyone = [c for cases in by_segment.values() for c in cases]
        segments = [
            _compare(
                cases,
                [c for other, o_cases in by_segment.items() if other != segment for c in o_cases],
                _figures(segment, labels.get(segment, segment), cases),
                currency=currency,
            )
            for segment, cases in sorted(by_segment.items())
        ]
        intents.append(
            FairnessIntent(
                intent=intent,
                label=intent_label(key=intent) or "(no intent)",
                severity=severity,
                severity_label=_SEVERITY_LABELS.get(severity, severity) or "Unknown",
                overall=_figures("", "All segments", everyone),
                segments=segments,
            )
        )
    intents.sort(key=lambda i: (-i.overall.cases, i.intent, i.severity))
    return FairnessReport(
        intents=intents,
        gap=settings.RECOVERY_FAIRNESS_GAP,
        min_samples=settings.RECOVERY_FAIRNESS_MIN_SAMPLES,
        alpha=settings.RECOVERY_FAIRNESS_ALPHA,
        currency=currency,
        flagged_count=sum(1 for i in intents for s in i.segments if s.flagged),
    )
