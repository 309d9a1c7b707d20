"""The customer's state across a conversation: plain rules over all of their messages."""

from copilot.nlp.conversation import (
    AT_RISK,
    CALM,
    CONCERNED,
    FRUSTRATED,
    LEVELS,
    CustomerTurn,
    agreement_scores,
    conversation_state,
    last_message_level,
    threat,
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


def test_threats_to_leave_switch_or_take_it_outside_are_at_risk() -> None:
    for text in (
        "I'm done.",
        "Guess I'll have to cancel all of Hulu & look at @Rival",
        "Really considering getting a new kind of phone since mine dies at 90%",
        "Now my loan is sold I can get rid of these crooks forever.",
        "NEVER order from them online, defective every time",
        "How do I get in contact with someone higher about your rep?",
        "deleting my Freemium account",
        "I'll take my business elsewhere.",
        "If this isn't fixed by Friday I'll cancel my subscription.",
        "Filing a complaint with the FCC and my lawyer.",
        "We are going to boycott your stores.",
        "I won't be back.",
    ):
        state = conversation_state(turns=turns(text))
        assert state.level == AT_RISK, text
        assert state.reasons[0].startswith("threatens to leave or escalate: "), text


def test_a_negated_threat_is_not_a_threat() -> None:
    for text in (
        "I won't cancel my account, I just want the charge fixed.",
        "I'm not going to switch to @Rival, but please sort this out.",
        "I don't want to cancel my subscription, only pause it.",
        "No need to escalate, thanks.",
        "I would never leave you guys!",
    ):
        assert threat(text) is None, text
        assert conversation_state(turns=turns(text)).level != AT_RISK, text
    # The negation belongs to another clause: still a threat.
    match = threat("If it isn't fixed I'll cancel my account.")
    assert match is not None
    assert match.group(0) == "cancel my account"


def test_telling_everyone_is_frustrated_not_leaving() -> None:
    state = conversation_state(
        turns=turns("My order never came, my money is gone. Get the word out to warn people!")
    )

    assert state.level == FRUSTRATED
    assert 'will tell others: "Get the word out"' in state.reasons


def test_sarcasm_said_outright_is_frustrated_even_with_a_positive_reading() -> None:
    for text in (
        "On hold for 20 mins - really first class service - erm not",
        "Thanks for nothing.",
        "Great job, erm no.",
    ):
        state = conversation_state(turns=turns(text, scores=(0.7,)))
        assert state.level == FRUSTRATED, text
        assert any(r.startswith("sarcasm: ") for r in state.reasons), text


def test_thanks_after_angry_messages_is_sarcasm_when_the_problem_remains() -> None:
    angry = "This is ridiculous, the flight is cancelled."
    sarcastic = conversation_state(
        turns=[
            CustomerTurn(text=angry, sentiment_label="negative"),
            CustomerTurn(text="Great, now the new one is late too.", sentiment_label="negative"),
        ]
    )
    relieved = conversation_state(
        turns=[
            CustomerTurn(text=angry, sentiment_label="negative"),
            CustomerTurn(text="Thanks, that worked!", sentiment_label="positive"),
        ]
    )

    assert sarcastic.level == FRUSTRATED
    assert 'sarcasm: "Great, now the new one is late too."' in sarcastic.reasons
    assert relieved.level in (CALM, CONCERNED)
    assert not any(r.startswith("sarcasm") for r in relieved.reasons)


def test_still_waiting_for_days_and_repeats_make_a_negative_report_frustrated() -> None:
    for text in (
        "Still no credit on my bill, as promised last week.",
        "I reset my password 3 times and it says incorrect.",
        "The app crashed EIGHT TIMES today.",
        "Internet down, again. 7th time this month.",
        "Same bug as before: the numbers disappear.",
        "The call hangs up on me. Twice now.",
        "Waiting for days for my refund.",
    ):
        state = conversation_state(turns=turns(text, scores=(-0.5,)))
        assert state.frustrated_or_worse, text
        assert any(r.startswith(("still waiting: ", "not the first time: ")) for r in state.reasons)
    # The same kind of report, once and new: concerned.
    assert conversation_state(turns=turns("No credit on my bill.", scores=(-0.5,))).level == (
        CONCERNED
    )
    # A plain "again" with no problem around it is not a repeat.
    assert conversation_state(turns=turns("Thanks, I will try again tomorrow.")).level == CALM


def test_no_problem_is_not_a_problem_and_hopefully_is_not_solved() -> None:
    assert conversation_state(turns=turns("No problem! Love the pumpkins.")).level == CALM
    state = conversation_state(
        turns=turns(
            "My phone keeps glitching since the update, ridiculous.", "Hopefully that helps..."
        )
    )
    assert state.level == FRUSTRATED
    assert "says the problem is solved in the last message" not in state.reasons


def test_the_models_own_label_decides_a_negative_message_whatever_its_scale() -> None:
    # A retrained model may put its negative messages at -0.2: its label still counts.
    by_label = conversation_state(
        turns=[
            CustomerTurn(
                text="Where is my order?", sentiment_score=-0.2, sentiment_label="negative"
            )
        ]
    )
    by_score = conversation_state(
        turns=[CustomerTurn(text="Where is my order?", sentiment_score=-0.2)]
    )

    assert "1 of 1 messages read as negative" in by_label.reasons
    assert by_label.level == CONCERNED
    assert by_score.level == CALM


def test_agreement_scores_give_each_levels_recall_and_precision() -> None:
    gold = [CALM, CALM, FRUSTRATED, AT_RISK]
    predicted = [CALM, CONCERNED, FRUSTRATED, FRUSTRATED]

    scores = agreement_scores(gold, predicted)

    assert scores.recall(CALM) == 0.5
    assert scores.precision(CALM) == 1.0
    assert scores.recall(AT_RISK) == 0.0
    assert scores.precision(AT_RISK) is None
    assert scores.precision(FRUSTRATED) == 0.5
    assert scores.recall(CONCERNED) is None
    assert set(LEVELS) == {CALM, CONCERNED, FRUSTRATED, AT_RISK}
