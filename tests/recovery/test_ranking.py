"""The ranking rules on their own: eligibility, personalisation, outcomes, amounts, reasons."""

from decimal import Decimal

from recovery.ranking import ActionPolicy, CustomerContext, Outcome, rank_actions


def policy(key: str, kind: str, **kw: object) -> ActionPolicy:
    defaults: dict[str, object] = {
        "name": key.title(),
        "monetary": False,
        "default_amount": None,
        "max_amount": None,
        "intents": (),
        "segments": (),
        "negative_only": False,
    }
    defaults.update(kw)
    return ActionPolicy(key=key, kind=kind, **defaults)  # type: ignore[arg-type]


APOLOGY = policy("apology", "apology", negative_only=True)
REFUND = policy(
    "refund",
    "refund_full",
    monetary=True,
    default_amount=Decimal("40"),
    max_amount=Decimal("50"),
    intents=("get_refund",),
)
CALLBACK = policy("callback", "callback", segments=("vip",))
CREDIT = policy("credit", "store_credit", monetary=True, default_amount=Decimal("10"))
CATALOGUE = [APOLOGY, REFUND, CALLBACK, CREDIT]
VIP = CustomerContext(
    personalised=True,
    segment="vip",
    lifetime_value=Decimal("4200"),
    churn_risk=0.8,
    repeat_issue=True,
)


def keys(ranked: list) -> list[str]:  # type: ignore[type-arg]
    return [r.action.key for r in ranked]


def test_only_eligible_actions_are_ranked() -> None:
    calm = rank_actions(
        CATALOGUE,
        intent="track_order",
        sentiment="neutral",
        sentiment_score=0.0,
        customer=CustomerContext(personalised=True, segment="standard"),
        outcomes={},
        currency="EUR",
        limit=10,
    )

    # No apology when calm, no refund for another intent, no callback outside VIP.
    assert keys(calm) == ["credit"]


def test_upset_valuable_customer_gets_heavier_actions_and_reasons() -> None:
    ranked = rank_actions(
        CATALOGUE,
        intent="get_refund",
        sentiment="negative",
        sentiment_score=-0.9,
        customer=VIP,
        outcomes={},
        currency="EUR",
        limit=10,
    )

    assert keys(ranked)[0] == "refund"
    refund = ranked[0]
    # 40 * 1.5 for a valuable customer = 60, capped by the policy's 50.
    assert refund.amount == Decimal("50.00")
    text = " ".join(refund.reasons)
    assert "upset" in text and "high-value" in text and "churn risk (80%)" in text
    assert refund.evidence["signals"]["segment"] == "vip"  # type: ignore[index]


def test_opted_out_customer_is_ranked_on_the_message_alone() -> None:
    ranked = rank_actions(
        CATALOGUE,
        intent="get_refund",
        sentiment="negative",
        sentiment_score=-0.9,
        customer=CustomerContext(personalised=False),
        outcomes={},
        currency="EUR",
        limit=10,
    )

    assert "callback" not in keys(ranked)  # segment-limited: the segment may not be used
    refund = next(r for r in ranked if r.action.key == "refund")
    assert refund.amount == Decimal("40.00")  # no value-based uplift
    assert any("opted out" in r for r in refund.reasons)
    assert set(refund.evidence["signals"]) == {"sentiment", "sentiment_score"}  # type: ignore[arg-type]


def test_what_worked_in_similar_cases_moves_an_action_up() -> None:
    args = {
        "intent": "track_order",
        "sentiment": "negative",
        "sentiment_score": -0.5,
        "customer": CustomerContext(personalised=True, segment="standard"),
        "currency": "EUR",
        "limit": 10,
    }
    before = rank_actions(CATALOGUE, outcomes={}, **args)  # type: ignore[arg-type]
    after = rank_actions(
        CATALOGUE,
        outcomes={"apology": Outcome(tried=6, worked=0), "credit": Outcome(tried=6, worked=6)},
        **args,  # type: ignore[arg-type]
    )

    assert keys(before)[0] == "apology"
    assert keys(after)[0] == "credit"
    assert "worked in 6 of 6 similar solved cases" in after[0].reasons


def test_amount_respects_what_is_left_of_the_customer_limit() -> None:
    nearly_used = policy(
        "credit",
        "store_credit",
        monetary=True,
        default_amount=Decimal("10"),
        remaining_for_customer=Decimal("4"),
    )
    used_up = policy(
        "credit2",
        "store_credit",
        monetary=True,
        default_amount=Decimal("10"),
        remaining_for_customer=Decimal("0"),
    )

    ranked = rank_actions(
        [nearly_used, used_up],
        intent="x",
        sentiment="negative",
        sentiment_score=-0.5,
        customer=CustomerContext(personalised=True),
        outcomes={},
        currency="EUR",
    )

    assert [(r.action.key, r.amount) for r in ranked] == [("credit", Decimal("4.00"))]
