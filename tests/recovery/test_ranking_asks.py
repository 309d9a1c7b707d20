"""The ranking with what the customer asked for, the team's evidence and cold-start customers."""

from decimal import Decimal

from recovery.asks import asks_detect
from recovery.ranking import ActionPolicy, CustomerContext, Ranked, TeamEvidence, rank_actions


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


MONEY_INTENTS = ("get_refund", "payment_issue", "complaint")
APOLOGY = policy("apology", "apology", negative_only=True)
REFUND = policy(
    "refund-full",
    "refund_full",
    monetary=True,
    default_amount=Decimal("50"),
    max_amount=Decimal("500"),
    intents=MONEY_INTENTS,
)
CREDIT = policy(
    "store-credit", "store_credit", monetary=True, default_amount=Decimal("10"), negative_only=True
)
DISCOUNT = policy(
    "discount", "discount", monetary=True, default_amount=Decimal("5"), negative_only=True
)
REPLACEMENT = policy("replacement", "replacement", intents=("complaint", "track_order"))
ESCALATION = policy("escalation", "escalation", intents=("complaint", "payment_issue"))
CALLBACK = policy("callback", "callback", negative_only=True, segments=("vip",))
CATALOGUE = [APOLOGY, REFUND, CREDIT, DISCOUNT, REPLACEMENT, ESCALATION, CALLBACK]
REGULAR = CustomerContext(personalised=True, segment="regular", lifetime_value=Decimal("300"))
VALUABLE = CustomerContext(
    personalised=True, segment="vip", lifetime_value=Decimal("4200"), churn_risk=0.8
)


def rank(text: str, *, intent: str, sentiment: float = -0.7, **kw: object) -> list[Ranked]:
    args: dict[str, object] = {
        "intent": intent,
        "sentiment": "negative" if sentiment < -0.2 else "neutral",
        "sentiment_score": sentiment,
        "customer": REGULAR,
        "outcomes": {},
        "currency": "EUR",
        "limit": 3,
        "asks": asks_detect(text=text, intent=intent),
    }
    args.update(kw)
    return rank_actions(CATALOGUE, **args)  # type: ignore[arg-type]


def keys(ranked: list[Ranked]) -> list[str]:
    return [r.action.key for r in ranked]


def test_explicit_replacement_request_ranks_first_when_the_policy_allows_it() -> None:
    ranked = rank("My blender arrived cracked. Please send a replacement.", intent="complaint")

    assert keys(ranked)[0] == "replacement"
    assert ranked[0].reasons[0] == "the customer asked for a replacement"
    assert ranked[0].evidence["asked_for"] == ["replacement"]


def test_explicit_compensation_request_passes_the_upset_only_rule_when_sentiment_misreads() -> None:
    # The sentiment model read "disappointed ... want the compensation" as positive.
    ranked = rank(
        "I'm really disappointed and want the compensation you promised",
        intent="unsure",
        sentiment=0.4,
    )

    assert keys(ranked)[:2] == ["discount", "store-credit"]
    assert all(r.reasons[0] == "the customer asked for compensation" for r in ranked[:2])


def test_refund_request_refused_by_policy_says_so_on_every_proposal() -> None:
    ranked = rank("I want a refund for this", intent="track_order")

    assert "refund-full" not in keys(ranked)
    expected = (
        "the customer asked for a refund, which the policy does not allow here "
        "(Refund full: not for this intent)"
    )
    assert ranked and all(r.reasons[0] == expected for r in ranked)


def test_request_no_catalogue_action_gives_is_named_as_such() -> None:
    ranked = rank("I want to cancel my order, this is the worst", intent="complaint")

    assert ranked[0].reasons[0] == (
        "the customer asked for a cancellation: no action of the catalogue gives it, "
        "answer it in the reply"
    )


def test_informational_payment_error_question_gets_no_money_even_for_a_valuable_customer() -> None:
    # Sentiment misread the plain question as negative (71%); a valuable customer at risk.
    ranked = rank(
        "where could i notify of payment errors",
        intent="payment_issue",
        sentiment=-0.71,
        customer=VALUABLE,
        limit=10,
    )

    # Nothing to make up for: nothing is proposed (an agent can still add an action).
    assert keys(ranked) == []


def test_informational_question_still_gets_what_it_explicitly_asks_for() -> None:
    ranked = rank(
        "where can I talk to a supervisor about a payment?", intent="payment_issue", limit=10
    )

    assert keys(ranked) == ["escalation"]
    assert ranked[0].reasons[0] == "the customer asked for a manager or a person"


def test_informational_question_without_asks_ranked_as_before_offers_money() -> None:
    # Today's ranking (no asks read): the same question is offered a full refund first.
    ranked = rank(
        "where could i notify of payment errors",
        intent="payment_issue",
        sentiment=-0.71,
        customer=VALUABLE,
        asks=None,
    )

    assert ranked[0].action.key == "refund-full"
    assert ranked[0].amount == Decimal("75.00")


def test_declined_refund_is_not_proposed() -> None:
    ranked = rank("I don't want a refund, just the parcel please", intent="complaint", limit=10)

    assert "refund-full" not in keys(ranked)
    assert "replacement" in keys(ranked)


def test_cold_start_customer_shows_no_history_not_a_churn_risk() -> None:
    # A first contact: the stored risk would be the default for an empty history.
    new = CustomerContext(personalised=True, segment="new", churn_risk=0.6, history=False)

    ranked = rank("My parcel is late again", intent="complaint", customer=new)

    assert ranked
    for r in ranked:
        assert "no history: a first contact, so no value or churn risk is used" in r.reasons
        assert not any("churn" in reason and "%" in reason for reason in r.reasons)
        assert r.evidence["signals"] == {
            "sentiment": "negative",
            "sentiment_score": -0.7,
            "segment": "new",
            "history": False,
        }
    assert ranked[0].evidence["desired_weight"] == 1.9  # from the message alone


def test_proposals_count_what_agents_of_the_team_gave_on_similar_solved_cases() -> None:
    team = TeamEvidence(cases=4, given={"replacement": 3})

    ranked = rank("My parcel never arrived", intent="complaint", team=team, limit=10)

    by_key = {r.action.key: r for r in ranked}
    assert "agents of this team gave it on 3 of 4 similar solved cases" in (
        by_key["replacement"].reasons
    )
    assert "agents of this team gave it on none of 4 similar solved cases" in (
        by_key["apology"].reasons
    )
    assert by_key["replacement"].evidence["team_given"] == 3
    assert by_key["replacement"].evidence["team_similar_solved"] == 4
    assert keys(ranked)[0] == "replacement"


def test_unasked_goodwill_money_ranks_after_an_apology() -> None:
    # An upset tweet whose need the intent model could not read, asking for nothing.
    before = rank("You've paralysed my phone with your update", intent="unsure", asks=None)
    after = rank("You've paralysed my phone with your update", intent="unsure")

    assert keys(before)[0] == "discount"
    assert keys(after) == ["apology", "discount", "store-credit"]
