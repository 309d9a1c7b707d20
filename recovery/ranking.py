"""Rank the recovery actions that fit a customer's message, and say why in plain words.

Plain Python over small dataclasses (the services gather the inputs from the database), so the
rules can be read, tested and tuned in one place. The score is transparent on purpose: a
supervisor must be able to follow why a refund was offered to one customer and not another.

    score = relevance                      1.0 when the action lists the intent, 0.5 when generic
          + fit                            how close the action's weight is to what the case calls
                                           for (sentiment, and when personalised: value, churn
                                           risk, a repeated problem)
          + outcome                        what happened after this action in similar solved
                                           cases (Laplace-smoothed success rate - 0.5)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

# How heavy an action is for the business, 0 (words) to 4 (money back). A case "calls for" a
# weight between 0 and 4; an action far from it scores lower.
WEIGHT = {
    "apology": 0,
    "callback": 1,
    "escalation": 1,
    "expedited_shipping": 2,
    "discount": 2,
    "replacement": 3,
    "store_credit": 3,
    "refund_partial": 3,
    "refund_full": 4,
    "custom": 2,
}
FIT_PENALTY = 0.3
# Above this lifetime value a customer counts as high-value (in the shop's currency).
HIGH_VALUE = Decimal("1000")


@dataclass(frozen=True)
class ActionPolicy:
    key: str
    name: str
    kind: str
    monetary: bool
    default_amount: Decimal | None
    max_amount: Decimal | None
    intents: tuple[str, ...]
    segments: tuple[str, ...]
    negative_only: bool
    # Money still available for this customer under the action's per-period limit (None: no
    # limit, or not monetary).
    remaining_for_customer: Decimal | None = None


@dataclass(frozen=True)
class CustomerContext:
    """What may be used about the customer. With `personalised` false (they opted out) only
    the message itself is used: no value, history, churn risk or segment."""

    personalised: bool
    segment: str = ""
    lifetime_value: Decimal | None = None
    churn_risk: float | None = None
    repeat_issue: bool = False
    recoveries_received: int = 0
    # The customer's state across this conversation (copilot.nlp.conversation: calm, concerned,
    # frustrated, at_risk; "" when not read) and its score (0 calm to 1). Read from the
    # conversation itself, so it is set whether or not the customer opted out of
    # personalisation. Not used by the ranking rules yet.
    conversation_level: str = ""
    conversation_score: float | None = None


@dataclass(frozen=True)
class Outcome:
    """Executed recoveries of one action on the similar solved cases."""

    tried: int
    worked: int  # not reopened and, where known, the customer replied positively
    case_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class Ranked:
    action: ActionPolicy
    score: float
    amount: Decimal | None
    reasons: tuple[str, ...]
    evidence: dict[str, object] = field(default_factory=dict)


def desired_weight(*, sentiment: str, sentiment_score: float, customer: CustomerContext) -> float:
    severity = max(0.0, -sentiment_score)  # 0 (calm) .. 1 (furious)
    weight = 2.0 * severity
    if sentiment == "negative":
        weight += 0.5
    if customer.personalised:
        if customer.churn_risk is not None:
            weight += 1.0 * customer.churn_risk
        if customer.lifetime_value is not None and customer.lifetime_value >= HIGH_VALUE:
            weight += 0.5
        if customer.repeat_issue:
            weight += 0.5
    return min(4.0, weight)


def _amount(policy: ActionPolicy, customer: CustomerContext) -> Decimal | None:
    if not policy.monetary or policy.default_amount is None:
        return None
    amount = policy.default_amount
    valuable = customer.lifetime_value is not None and customer.lifetime_value >= HIGH_VALUE
    if customer.personalised and (valuable or (customer.churn_risk or 0) >= 0.5):
        # Worth more to keep: half as much again, still within the policy's limits below.
        amount = amount * Decimal("1.5")
    if policy.max_amount is not None:
        amount = min(amount, policy.max_amount)
    if policy.remaining_for_customer is not None:
        amount = min(amount, policy.remaining_for_customer)
    return amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def _ineligible(
    policy: ActionPolicy, *, intent: str, sentiment: str, customer: CustomerContext
) -> str | None:
    if policy.intents and intent not in policy.intents:
        return "not for this intent"
    if policy.negative_only and sentiment != "negative":
        return "only when the customer is upset"
    if policy.segments:
        if not customer.personalised:
            return "limited to some segments, and the customer opted out of personalisation"
        if customer.segment not in policy.segments:
            return f"not for the {customer.segment} segment"
    remaining = policy.remaining_for_customer
    if policy.monetary and remaining is not None and remaining <= 0:
        return "the customer reached this action's limit for the period"
    return None


def rank_actions(
    actions: Sequence[ActionPolicy],
    *,
    intent: str,
    sentiment: str,
    sentiment_score: float,
    customer: CustomerContext,
    outcomes: Mapping[str, Outcome],
    currency: str,
    limit: int = 3,
) -> list[Ranked]:
    """The `limit` best eligible actions, best first, each with its reasons."""
    want = desired_weight(sentiment=sentiment, sentiment_score=sentiment_score, customer=customer)
    ranked: list[Ranked] = []
    for policy in actions:
        if _ineligible(policy, intent=intent, sentiment=sentiment, customer=customer):
            continue
        reasons: list[str] = []
        relevance = 1.0 if policy.intents else 0.5
        if policy.intents:
            reasons.append(f"suits the intent “{intent}”")
        weight = WEIGHT.get(policy.kind, 2)
        fit = -FIT_PENALTY * abs(weight - want)
        outcome = outcomes.get(policy.key)
        outcome_bonus = 0.0
        if outcome is not None and outcome.tried:
            rate = (outcome.worked + 1) / (outcome.tried + 2)
            outcome_bonus = rate - 0.5
            reasons.append(
                f"worked in {outcome.worked} of {outcome.tried} similar solved case"
                f"{'s' if outcome.tried != 1 else ''}"
            )
        amount = _amount(policy, customer)
        ranked.append(
            Ranked(
                action=policy,
                score=relevance + fit + outcome_bonus,
                amount=amount,
                reasons=tuple(reasons),
                evidence={
                    "desired_weight": round(want, 2),
                    "action_weight": weight,
                    "similar_cases": list(outcome.case_ids) if outcome else [],
                },
            )
        )
    ranked.sort(key=lambda r: (-r.score, WEIGHT.get(r.action.kind, 2), r.action.key))
    context = _context_reasons(sentiment, sentiment_score, customer, currency)
    return [
        Ranked(
            action=r.action,
            score=r.score,
            amount=r.amount,
            reasons=(*context, *r.reasons),
            evidence={**r.evidence, "signals": _signals(sentiment, sentiment_score, customer)},
        )
        for r in ranked[:limit]
    ]


def _context_reasons(
    sentiment: str, sentiment_score: float, customer: CustomerContext, currency: str
) -> tuple[str, ...]:
    reasons = []
    if sentiment == "negative":
        reasons.append(f"the customer is upset (sentiment {sentiment_score:+.2f})")
    if not customer.personalised:
        reasons.append("not personalised: the customer opted out, only the message was used")
        return tuple(reasons)
    if customer.lifetime_value is not None and customer.lifetime_value >= HIGH_VALUE:
        reasons.append(f"high-value customer ({customer.lifetime_value:,.0f} {currency} spent)")
    if customer.churn_risk is not None and customer.churn_risk >= 0.5:
        reasons.append(f"high churn risk ({customer.churn_risk:.0%})")
    if customer.repeat_issue:
        reasons.append("contacted us repeatedly about this lately")
    if customer.recoveries_received:
        reasons.append(f"already received {customer.recoveries_received} recovery action(s)")
    return tuple(reasons)


def _signals(sentiment: str, score: float, customer: CustomerContext) -> dict[str, object]:
    signals: dict[str, object] = {"sentiment": sentiment, "sentiment_score": round(score, 3)}
    if customer.personalised:
        signals.update(
            {
                "segment": customer.segment,
                "lifetime_value": str(customer.lifetime_value)
                if customer.lifetime_value is not None
                else None,
                "churn_risk": customer.churn_risk,
                "repeat_issue": customer.repeat_issue,
                "recoveries_received": customer.recoveries_received,
            }
        )
    return signals
