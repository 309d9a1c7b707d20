from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from copilot.nlp.embeddings import Encoder
from copilot.nlp.intent import MODEL_JSON, MODEL_NPZ, UNSURE, IntentClassifier

# Real BANKING77 train.csv rows (8 per intent) ...
TRAIN = {
    "card_arrival": [
        "I am still waiting on my card?",
        "What can I do if my card still hasn't arrived after 2 weeks?",
        "I have been waiting over a week. Is the card still coming?",
        "Can I track my card while it is in the process of delivery?",
        "How do I know if I will get my card, or if it is lost?",
        "When did you send me my new card?",
        "Do you have info about the card on delivery?",
        "What do I do if I still have not received my new card?",
    ],
    "exchange_rate": [
        "What is my money worth in other countries?",
        "Will my money be of equal value when I travel abroad?",
        "Do you know the rate of exchange?",
        "What foreign exchange rate will I get on weekdays and on the weekends?",
        "What is the exchange looking like?",
        "How is the exchange rate doing?",
        "I would like to know how exchange rates are calculated when transferring funds.",
        "I would like to know what exchange rates you use?",
    ],
    "lost_or_stolen_card": [
        "Has there been any activity on my card today?",
        "I lost my wallet and all my cards were in it.",
        "I'm panicking!  I lost my card!  Help!",
        "I need to report a stolen card",
        "How do I replace a stolen card?",
        "Can you provide information for freezing my card immediately?",
        "What's the phone number to freeze a card?",
        "I can't find my card! Can you help?",
    ],
}
# ... and real test.csv rows of the same intents.
TEST = [
    ("I still have not received my new card, I ordered over a week ago.", "card_arrival"),
    ("I ordered a card but it has not arrived. Help please!", "card_arrival"),
    ("I need to know your exchange rates.", "exchange_rate"),
    ("How did you come up with your exchange rates?", "exchange_rate"),
    ("I can't find my card and think it may have been stolen.", "lost_or_stolen_card"),
    (
        "Someone stole my card. I need to report it stolen. I made a police report already, "
        "but how do I report it with you?",
        "lost_or_stolen_card",
    ),
]


@pytest.fixture(scope="module")
def model(encoder: Encoder) -> IntentClassifier:
    texts = [t for examples in TRAIN.values() for t in examples]
    labels = [label for label, examples in TRAIN.items() for _ in examples]
    return IntentClassifier.fit(texts, labels, encoder=encoder, threshold=0.5)


def test_tiny_labelled_set_predicts_held_out_requests(model: IntentClassifier) -> None:
    predictions = model.predict([text for text, _ in TEST])

    assert [p.best_guess for p in predictions] == [label for _, label in TEST]
    assert model.labels == ("card_arrival", "exchange_rate", "lost_or_stolen_card")
    top = predictions[0].top
    assert len(top) == 3
    assert top[0].label == "card_arrival"
    assert sum(s.score for s in top) == pytest.approx(1.0, abs=1e-6)


def test_below_threshold_it_says_unsure_but_keeps_the_best_guess(model: IntentClassifier) -> None:
    prediction = model.predict_one(TEST[2][0], threshold=0.999)

    assert prediction.label == UNSURE
    assert prediction.best_guess == "exchange_rate"
    assert prediction.confidence < 0.999


def test_save_and_load_give_the_same_predictions_and_version(
    model: IntentClassifier, tmp_path: Path
) -> None:
    version = model.save(tmp_path)
    loaded = IntentClassifier.load(tmp_path)
    texts = [text for text, _ in TEST]

    assert sorted(p.name for p in tmp_path.iterdir()) == [MODEL_JSON, MODEL_NPZ]
    assert loaded.version == version
    assert loaded.labels == model.labels
    np.testing.assert_allclose(loaded.predict_proba(texts), model.predict_proba(texts), atol=1e-5)
    document = json.loads((tmp_path / MODEL_JSON).read_text())
    assert document["labels"] == list(model.labels)
    assert document["version"] == version


def test_tampered_model_files_are_refused(model: IntentClassifier, tmp_path: Path) -> None:
    model.save(tmp_path)
    document = json.loads((tmp_path / MODEL_JSON).read_text())
    document["labels"] = ["a", "b", "c"]
    (tmp_path / MODEL_JSON).write_text(json.dumps(document))

    with pytest.raises(ValueError, match="do not match their recorded version"):
        IntentClassifier.load(tmp_path)


def test_threshold_change_gives_a_new_version(model: IntentClassifier) -> None:
    stricter = model.with_threshold(0.8)

    assert stricter.threshold == 0.8
    assert stricter.version != model.version


def test_label_set_rules(encoder: Encoder) -> None:
    with pytest.raises(ValueError, match="at least two labels"):
        IntentClassifier.fit(["a", "b"], ["x", "x"], encoder=encoder)
    with pytest.raises(ValueError, match="reserved"):
        IntentClassifier.fit(["a", "b"], ["x", UNSURE], encoder=encoder)


def test_binary_label_set_works(encoder: Encoder) -> None:
    texts = TRAIN["card_arrival"] + TRAIN["exchange_rate"]
    labels = ["card_arrival"] * 8 + ["exchange_rate"] * 8

    model = IntentClassifier.fit(texts, labels, encoder=encoder)

    assert [p.best_guess for p in model.predict([TEST[0][0], TEST[2][0]])] == [
        "card_arrival",
        "exchange_rate",
    ]
    assert len(model.predict_one("").top) == 2


def test_precomputed_embeddings_give_the_same_prediction(
    model: IntentClassifier, encoder: Encoder
) -> None:
    texts = ["where is my parcel", "I want my money back"]

    given = model.predict(texts, embeddings=encoder.encode(texts), encoder=encoder)

    assert given == model.predict(texts, encoder=encoder)
