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
          + team                           0.5 x the share of the team's similar solved cases
                                           where agents gave this action
          + asked                          ASKED_BONUS when the customer asked for what it gives
          + conversation                   CONVERSATION_BONUS for an apology or an escalation when
                                           the customer is frustrated or at risk of leaving across
                                           the conversation (copilot.nlp.conversation)
          - unasked money                  UNASKED_MONEY_PENALTY for money not tied to the intent
                                           that the customer did not ask for

What the customer says (`recovery.asks`) comes before the scores:

- an action that gives what the customer explicitly asked for ranks first when the policy allows
  it (ASKED_BONUS outweighs every other term together); asking for money is itself a complaint,
  so it passes the "only when upset" rule, but not the intent, segment or limit rules. When no
  allowed action gives it, every proposal says so and why;
- an action the customer turned down ("I don't want a refund") is not proposed;
- an informational request (a question, nothing lost) gets no money and nothing else it did not
  ask for: there is nothing to make up for; an agent can still add any action;
- goodwill money nobody asked for (an action not tied to the intent) ranks after words.

The customer's state across the whole conversation (not only this message) counts for words,
never for money: a customer frustrated or at risk of leaving over several messages is upset even
when the last one says "ok", so an apology, a callback or an escalation may be proposed (and an
apology or escalation ranks higher), also on an informational request; money still needs this
message to be negative, or the customer to ask for it, and an informational request still gets
none unless an agent adds it.

A customer with no history (no order, no spend, no earlier ticket) is judged by the message
alone, and the explanation says "no history" rather than showing a default churn risk.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from recovery.asks import (
    CALLBACK,
    CANCELLATION,
    COMPENSATION,
    MANAGER,
    REFUND,
    REPLACEMENT,
    CustomerAsks,
)

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
# Larger than the best possible score of an action not asked for (1.0 relevance + 0 fit + 0.5
# outcome + 0.5 team), and than the worst asked-for one falls short of it (-1.2 fit, -0.5 outcome).
ASKED_BONUS = 3.0
TEAM_WEIGHT = 0.5
# Which action kinds give what the customer asked for.
ASK_KINDS: dict[str, tuple[str, ...]] = {
    REFUND: ("refund_full", "refund_partial"),
    REPLACEMENT: ("replacement",),
    COMPENSATION: ("store_credit", "refund_partial", "discount"),
    CANCELLATION: (),
    CALLBACK: ("callback",),
    MANAGER: ("escalation",),
}
ASK_WORDS = {
    REFUND: "a refund",
    REPLACEMENT: "a replacement",
    COMPENSATION: "compensation",
    CANCELLATION: "a cancellation",
    CALLBACK: "a callback",
    MANAGER: "a manager or a person",
}
# Money nobody asked for, from an action not tied to the intent (a goodwill discount or credit on
# a need the copilot could not read), ranks after the generic words (an apology): this is the
# most the fit term can separate two actions by.
UNASKED_MONEY_PENALTY = FIT_PENALTY * max(WEIGHT.values())
# Added to an apology or an escalation, by the customer's state across the conversation: less than
# ASKED_BONUS (what the customer asks for still comes first), enough to lift an apology past an
# intent's action that fits the case no better. An escalation is what keeps a customer about to
# leave; an apology answers frustration.
CONVERSATION_BONUS: dict[str, dict[str, float]] = {
    "frustrated": {"apology": 0.5, "escalation": 0.25},
    "at_risk": {"apology": 0.5, "escalation": 1.0},
}
UPSET_LEVELS = ("frustrated", "at_risk")
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
    # False for a first contact with no order, spend or earlier ticket: nothing to judge by,
    # so value and churn risk are not used (a risk computed from no history is a default).
    history: bool = True
    # The customer's state across this conversation (copilot.nlp.conversation: calm, concerned,
    # frustrated, at_risk; "" when not read) and its score (0 calm to 1). Read from the
    # conversation itself, so it is set whether or not the customer opted out of
    # personalisation. Frustrated or at risk: see CONVERSATION_BONUS and the module's notes.
    conversation_level: str = ""
    conversation_score: float | None = None

    @property
    def judged_by_history(self) -> bool:
        return self.personalised and self.history

    @property
    def upset_across_conversation(self) -> bool:
        return self.conversation_level in UPSET_LEVELS


@dataclass(frozen=True)
class TeamEvidence:
    """What agents gave on the similar solved cases that belong to the ticket's team."""

    cases: int  # how many of the similar solved cases are the team's
    given: Mapping[str, int] = field(default_factory=dict)  # action key -> cases it was given on


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
    if customer.judged_by_history:
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
    if customer.judged_by_history and (valuable or (customer.churn_risk or 0) >= 0.5):
        # Worth more to keep: half as much again, still within the policy's limits below.
        amount = amount * Decimal("1.5")
    if policy.max_amount is not None:
        amount = min(amount, policy.max_amount)
    if policy.remaining_for_customer is not None:
        amount = min(amount, policy.remaining_for_customer)
    return amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def _ineligible(
    policy: ActionPolicy,
    *,
    intent: str,
    sentiment: str,
    customer: CustomerContext,
    asked_for: bool = False,
) -> str | None:
    if policy.intents and intent not in policy.intents:
        return "not for this intent"
    upset = sentiment == "negative" or (customer.upset_across_conversation and not policy.monetary)
    if policy.negative_only and not upset and not asked_for:
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
    money: Callable[[Decimal, str], str] | None = None,
    intent_name: str = "",
    limit: int = 3,
    asks: CustomerAsks | None = None,
    team: TeamEvidence | None = None,
) -> list[Ranked]:
    """The `limit` best eligible actions, best first, each with its reasons.

    `asks` None ranks without reading what the customer asked for (as before it was read);
    `team` None leaves the team's evidence out. `intent_name` is the intent as people read it
    ("Track order"), `money` writes an amount for people ("1,514 EUR"); both are given by the
    services (Django's labels and localisation), and default to the key and a plain figure."""
    want = desired_weight(sentiment=sentiment, sentiment_score=sentiment_score, customer=customer)
    ranked: list[Ranked] = []
    refused: dict[str, list[str]] = {}
    for policy in actions:
        answers = _answers(policy, asks)
        why_not = _ineligible(
            policy, intent=intent, sentiment=sentiment, customer=customer, asked_for=bool(answers)
        )
        if why_not is None and asks is not None:
            why_not = _unwanted(policy, asks, asked_for=bool(answers), customer=customer)
        if why_not is not None:
            for ask in answers:
                refused.setdefault(ask, []).append(f"{policy.name}: {why_not}")
            continue
        reasons: list[str] = []
        relevance = 1.0 if policy.intents else 0.5
        if policy.intents:
            reasons.append(f"suits the intent “{intent_name or intent}”")
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
        evidence: dict[str, object] = {
            "desired_weight": round(want, 2),
            "action_weight": weight,
            "similar_cases": list(outcome.case_ids) if outcome else [],
        }
        team_bonus = 0.0
        if team is not None and team.cases:
            given = team.given.get(policy.key, 0)
            team_bonus = TEAM_WEIGHT * given / team.cases
            reasons.append(_team_reason(given, team.cases))
            evidence.update({"team_similar_solved": team.cases, "team_given": given})
        if answers:
            evidence["asked_for"] = answers
        conversation_bonus = CONVERSATION_BONUS.get(customer.conversation_level, {}).get(
            policy.kind, 0.0
        )
        if conversation_bonus:
            evidence["conversation_bonus"] = conversation_bonus
        amount = _amount(policy, customer)
        unasked_money = asks is not None and policy.monetary and not policy.intents and not answers
        ranked.append(
            Ranked(
                action=policy,
                score=relevance
                + fit
                + outcome_bonus
                + team_bonus
                + (ASKED_BONUS if answers else 0.0)
                + conversation_bonus
                - (UNASKED_MONEY_PENALTY if unasked_money else 0.0),
                amount=amount,
                reasons=tuple(reasons),
                evidence=evidence,
            )
        )
    ranked.sort(key=lambda r: (-r.score, WEIGHT.get(r.action.kind, 2), r.action.key))
    shown = ranked[:limit]
    context = _context_reasons(sentiment, sentiment_score, customer, currency, money)
    if asks is not None:
        context = (*_unmet_reasons(asks, shown, refused), *context)
    return [
        Ranked(
            action=r.action,
            score=r.score,
            amount=r.amount,
            # Why first: what the customer asked for, then the case, then the action's record.
            reasons=(*_asked_reasons(r.action, asks), *context, *r.reasons),
            evidence={**r.evidence, "signals": _signals(sentiment, sentiment_score, customer)},
        )
        for r in shown
    ]


def _answers(policy: ActionPolicy, asks: CustomerAsks | None) -> list[str]:
    """What the customer asked for that this action gives, in ASK_KINDS order."""
    if asks is None:
        return []
    return [ask for ask, kinds in ASK_KINDS.items() if ask in asks.asked and policy.kind in kinds]


def _asked_reasons(policy: ActionPolicy, asks: CustomerAsks | None) -> list[str]:
    return [f"the customer asked for {ASK_WORDS[ask]}" for ask in _answers(policy, asks)]


def _unwanted(
    policy: ActionPolicy, asks: CustomerAsks, *, asked_for: bool, customer: CustomerContext
) -> str | None:
    """Why the customer's own words rule this action out, if they do."""
    if any(policy.kind in ASK_KINDS[ask] for ask in asks.declined) and not asked_for:
        return "the customer said they do not want it"
    if asks.informational and not asked_for:
        if policy.monetary:
            return "an informational request: no money unless an agent adds it"
        if customer.upset_across_conversation:
            # The question is routine, the conversation was not: words may make up for it.
            return None
        return "an informational request: nothing to make up for"
    return None


def _unmet_reasons(
    asks: CustomerAsks, ranked: Sequence[Ranked], refused: Mapping[str, list[str]]
) -> tuple[str, ...]:
    """For each thing asked for that no proposal gives, why not (the policy, or no action)."""
    given = {ask for r in ranked for ask in _answers(r.action, asks)}
    reasons = []
    for ask in ASK_KINDS:
        if ask not in asks.asked or ask in given:
            continue
        if refused.get(ask):
            reasons.append(
                f"the customer asked for {ASK_WORDS[ask]}, which the policy does not allow "
                f"here ({'; '.join(refused[ask])})"
            )
        else:
            reasons.append(
                f"the customer asked for {ASK_WORDS[ask]}: no action of the catalogue gives it, "
                "answer it in the reply"
            )
    return tuple(reasons)


def _team_reason(given: int, cases: int) -> str:
    plural = "s" if cases != 1 else ""
    if not given:
        return f"agents of this team gave it on none of {cases} similar solved case{plural}"
    return f"agents of this team gave it on {given} of {cases} similar solved case{plural}"


def _context_reasons(
    sentiment: str,
    sentiment_score: float,
    customer: CustomerContext,
    currency: str,
    money: Callable[[Decimal, str], str] | None = None,
) -> tuple[str, ...]:
    reasons = []
    if sentiment == "negative":
        reasons.append(f"the customer is upset (sentiment {sentiment_score:+.2f})")
    if customer.conversation_level == "at_risk":
        reasons.append(
            "at risk of leaving: the customer threatened to leave or escalate in this conversation"
        )
    elif customer.conversation_level == "frustrated":
        reasons.append("frustrated across the conversation, not only in this message")
    if not customer.personalised:
        reasons.append("not personalised: the customer opted out, only the message was used")
        return tuple(reasons)
    if not customer.history:
        reasons.append("no history: a first contact, so no value or churn risk is used")
        return tuple(reasons)
    if customer.lifetime_value is not None and customer.lifetime_value >= HIGH_VALUE:
        spent = (
            money(customer.lifetime_value, currency)
            if money is not None
            else f"{customer.lifetime_value:,.0f} {currency.upper()}"
        )
        reasons.append(f"high-value customer ({spent} spent)")
    if customer.churn_risk is not None and customer.churn_risk >= 0.5:
        reasons.append(f"high churn risk ({customer.churn_risk:.0%})")
    if customer.repeat_issue:
        reasons.append("contacted us repeatedly about this lately")
    if customer.recoveries_received:
        reasons.append(f"already received {customer.recoveries_received} recovery action(s)")
    return tuple(reasons)


def _signals(sentiment: str, score: float, customer: CustomerContext) -> dict[str, object]:
    signals: dict[str, object] = {"sentiment": sentiment, "sentiment_score": round(score, 3)}
    if customer.conversation_level:
        signals["conversation_level"] = customer.conversation_level
    if customer.personalised and not customer.history:
        signals.update({"segment": customer.segment, "history": False})
    elif customer.personalised:
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
