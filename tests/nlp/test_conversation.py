"""The customer's state across a conversation: plain rules over all of their messages."""

from copilot.nlp.conversation import (
    AT_RISK,
    CALM,
    CONCERNED,
    FRUSTRATED,
    CustomerTurn,
    agreement_scores,
    conversation_state,
    last_message_level,
)


def turns(*texts: str, scores: tuple[float | None, ...] = ()) -> list[CustomerTurn]:
    padded = list(scores) + [None] * (len(texts) - len(scores))
    return [CustomerTurn(text=t, sentiment_score=s) for t, s in zip(texts, padded, strict=True)]


def test_a_plain_question_is_calm() -> None:
    state = conversation_state(turns=turns("How do I change my delivery address?", scores=(0.0,)))

    assert state.level == CALM
    assert state.reasons == ("no sign of frustration in the customer's messages",)


def test_a_reported_problem_alone_is_concerned() -> None:
    state = conversation_state(turns=turns("My parcel is late, can you check?"))

    assert state.level == CONCERNED
    assert state.reasons[0] == 'reports a problem: "late"'


def test_sarcastic_thanks_after_angry_messages_stays_frustrated() -> None:
    state = conversation_state(
        turns=turns(
            "This is ridiculous, my order is two weeks late.",
            "Nobody has answered my emails.",
            "Unacceptable service.",
            "Thanks.",
            scores=(-0.8, -0.7, -0.9, 0.6),
        )
    )

    assert state.level == FRUSTRATED
    assert state.frustrated_or_worse
    assert last_message_level(sentiment_label="positive") == CALM


def test_a_genuine_resolution_lowers_the_level() -> None:
    state = conversation_state(
        turns=turns(
            "My app keeps crashing, this is annoying.",
            "That worked, thank you so much!",
            scores=(-0.6, 0.9),
        )
    )

    assert state.level in (CALM, CONCERNED)
    assert "says the problem is solved in the last message" in state.reasons


def test_a_threat_to_leave_is_at_risk_whatever_the_last_message_says() -> None:
    state = conversation_state(
        turns=turns(
            "Bye AA, I'm flying Delta from now on.",
            "This $50 just cost you thousands of dollars moving forward. I hope your CEO learns.",
            "ok",
        )
    )

    assert state.level == AT_RISK
    assert state.score >= 0.85
    # The newest threat is the one quoted.
    assert state.reasons[0] == 'threatens to leave or escalate: "cost you thousands"'


def test_escalation_threats_are_at_risk() -> None:
    for text in (
        "I want to speak to a manager now.",
        "I'm done with you people.",
        "Please cancel my account.",
        "My lawyer will hear about this.",
        "I will report you to the BBB.",
    ):
        assert conversation_state(turns=turns(text)).level == AT_RISK, text


def test_still_waiting_and_again_make_a_polite_customer_frustrated() -> None:
    state = conversation_state(
        turns=turns("Hi, I am still waiting for my refund.", "Could you check again please?")
    )

    assert state.level == FRUSTRATED
    assert 'still waiting: "still waiting"' in state.reasons
    assert 'not the first time: "again"' in state.reasons


def test_repeated_contacts_about_the_same_issue_raise_the_level() -> None:
    alone = conversation_state(turns=turns("Where is my order 123?"))
    third_time = conversation_state(turns=turns("Where is my order 123?"), repeat_contacts=2)

    assert alone.level == CALM
    assert third_time.level == FRUSTRATED
    assert "2 other recent tickets about the same issue" in third_time.reasons


def test_a_worsening_trend_of_sentiment_counts() -> None:
    texts = ("Hello, a question about my bill.", "That does not answer it.", "Any news?")
    worsening = conversation_state(turns=turns(*texts, scores=(0.2, -0.4, -0.8)))
    improving = conversation_state(turns=turns(*texts, scores=(-0.8, -0.4, 0.2)))

    assert worsening.level == CONCERNED
    assert "getting more negative message by message" in worsening.reasons
    assert "2 of 3 messages read as negative" in worsening.reasons
    assert worsening.score > improving.score
    assert "getting more negative message by message" not in improving.reasons


def test_agreement_scores_count_kappa_and_frustrated_recall() -> None:
    gold = [CALM, CALM, FRUSTRATED, AT_RISK]
    predicted = [CALM, CONCERNED, FRUSTRATED, FRUSTRATED]

    scores = agreement_scores(gold, predicted)

    assert scores.accuracy == 0.5
    assert scores.frustrated_recall == 1.0
    assert scores.frustrated_precision == 1.0
    # observed 0.5; expected 0.5*0.25 + 0.25*0.5 = 0.25 -> (0.5 - 0.25) / 0.75
    assert round(scores.kappa, 4) == 0.3333
