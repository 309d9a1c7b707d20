"""The customer's state across the conversation in the ranking: words, never money."""

from decimal import Decimal

from recovery.asks import asks_detect
from recovery.ranking import ActionPolicy, CustomerContext, Ranked, rank_actions


def policy(key: str, kind: str, **kw: object) -> ActionPolicy:
    defaults: dict[str, object] = {
        "name": key.replace("-", " ").capitalize(),
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
    "refund-full",
    "refund_full",
    monetary=True,
    default_amount=Decimal("50"),
    max_amount=Decimal("500"),
    intents=("get_refund", "complaint"),
)
CREDIT = policy(
    "store-credit", "store_credit", monetary=True, default_amount=Decimal("10"), negative_only=True
)
REPLACEMENT = policy("replacement", "replacement", intents=("complaint",))
ESCALATION = policy("escalation", "escalation", intents=("complaint", "delete_account"))
CALLBACK = policy("callback", "callback", negative_only=True)
CATALOGUE = [APOLOGY, REFUND, CREDIT, REPLACEMENT, ESCALATION, CALLBACK]


def ranked(
    text: str, *, intent: str, level: str, sentiment: str = "neutral", score: float = 0.1
) -> list[Ranked]:
    return rank_actions(
        CATALOGUE,
        intent=intent,
        sentiment=sentiment,
        sentiment_score=score,
        customer=CustomerContext(personalised=True, segment="standard", conversation_level=level),
        outcomes={},
        currency="EUR",
        limit=10,
        asks=asks_detect(text=text, intent=intent),
    )


def keys(proposals: list[Ranked]) -> list[str]:
    return [r.action.key for r in proposals]


def test_a_frustrated_conversation_gets_an_apology_when_the_last_message_is_calm() -> None:
    # "ok, I'll wait" reads neutral: alone, it gets no apology (only when upset).
    text = "ok, I'll wait for the courier then"
    calm = ranked(text, intent="complaint", level="calm")
    frustrated = ranked(text, intent="complaint", level="frustrated")

    assert "apology" not in keys(calm)
    assert "apology" in keys(frustrated)
    apology = next(r for r in frustrated if r.action.key == "apology")
    assert "frustrated across the conversation, not only in this message" in apology.reasons
    assert apology.evidence["conversation_bonus"] == 0.5
    signals = apology.evidence["signals"]
    assert isinstance(signals, dict)
    assert signals["conversation_level"] == "frustrated"


def test_a_customer_at_risk_of_leaving_gets_the_escalation_first() -> None:
    text = "My parcel came broken."
    concerned = ranked(
        text, intent="complaint", level="concerned", sentiment="negative", score=-1.0
    )
    at_risk = ranked(text, intent="complaint", level="at_risk", sentiment="negative", score=-1.0)

    assert keys(concerned)[0] == "replacement"
    assert keys(at_risk)[0] == "escalation"
    first = at_risk[0]
    assert (
        "at risk of leaving: the customer threatened to leave or escalate in this conversation"
        in first.reasons
    )
    by_key = {r.action.key: r.score for r in concerned}
    assert first.score == by_key["escalation"] + 1.0


def test_the_conversation_never_brings_money() -> None:
    # A neutral last message: the store credit (money, only when upset) stays out however
    # frustrated the conversation was, while the callback (words) comes in.
    proposals = ranked("ok", intent="complaint", level="at_risk")

    assert "store-credit" not in keys(proposals)
    assert "callback" in keys(proposals)


def test_an_informational_request_in_an_angry_conversation_gets_words_and_no_money() -> None:
    text = "How do I delete my account?"
    calm = ranked(text, intent="delete_account", level="calm", sentiment="negative", score=-0.5)
    at_risk = ranked(
        text, intent="delete_account", level="at_risk", sentiment="negative", score=-0.5
    )

    assert asks_detect(text=text, intent="delete_account").informational
    assert calm == []
    assert keys(at_risk)[0] == "escalation"
    assert "apology" in keys(at_risk)
    assert not any(r.action.monetary for r in at_risk)


def test_what_the_customer_asked_for_still_comes_first() -> None:
    proposals = ranked(
        "I want a refund, I'm done with you.",
        intent="complaint",
        level="at_risk",
        sentiment="negative",
        score=-0.9,
    )

    assert keys(proposals)[0] == "refund-full"
