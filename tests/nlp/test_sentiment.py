from __future__ import annotations

from pathlib import Path

import pytest

from copilot.nlp.embeddings import Encoder, default_model_path
from copilot.nlp.sentiment import (
    DEFAULT_HEAD_PATH,
    HeadSentimentAnalyzer,
    SentimentHead,
    TransformersSentimentAnalyzer,
    get_sentiment_analyzer,
    head_info,
    map_model_labels,
)

# Real customer tweets from the IBM customer-care set (company handles only) and TweetEval.
ANGRY = (
    "Dear @Ask_Spectrum ... WHY ARE YOU THE WORST? Finally home to watch some Netflix and wi fi "
    "is down... this happens way too often. We should be getting a discount for this awful service"
)
TERRIBLE = "@ChaseSupport Terrible customer support in time of crisis."
HAPPY = (
    "I find myself humming the notes of #ThisIsUs  @user sang a few episodes ago.  Missing her "
    "angelic voice.  Love the show."
)


@pytest.fixture(scope="module")
def analyzer(encoder: Encoder) -> HeadSentimentAnalyzer:
    return HeadSentimentAnalyzer(SentimentHead.load(DEFAULT_HEAD_PATH), encoder)


def test_obviously_angry_messages_are_negative(analyzer: HeadSentimentAnalyzer) -> None:
    angry, terrible = analyzer.analyse([ANGRY, TERRIBLE])

    assert (angry.label, terrible.label) == ("negative", "negative")
    assert angry.score < -0.5
    assert angry.confidence == max(angry.probabilities)


def test_a_warm_message_is_positive(analyzer: HeadSentimentAnalyzer) -> None:
    [result] = analyzer.analyse([HAPPY])

    assert result.label == "positive"
    assert 0.0 < result.score <= 1.0
    assert sum(result.probabilities) == pytest.approx(1.0)
    assert result.model_version == analyzer.version


def test_awkward_inputs_do_not_crash(analyzer: HeadSentimentAnalyzer) -> None:
    results = analyzer.analyse(["", "😡😡😡", "¡Esto es inaceptable!", "broken " * 8000])

    assert len(results) == 4
    assert all(-1.0 <= r.score <= 1.0 for r in results)
    assert analyzer.analyse([]) == []


def test_the_default_accessor_returns_one_shared_analyzer(encoder: Encoder) -> None:
    first = get_sentiment_analyzer()

    assert get_sentiment_analyzer() is first
    assert first.version.startswith("head-")
    assert first.version.endswith(encoder.version)


def test_the_shipped_head_records_how_it_was_trained() -> None:
    info = head_info()

    assert info["trained_on"].startswith("TweetEval sentiment val split")
    assert info["script"] == "scripts/train_sentiment.py"


def test_a_head_for_another_encoder_is_refused(encoder: Encoder) -> None:
    head = SentimentHead.load(DEFAULT_HEAD_PATH)
    other = SentimentHead(**{**head.__dict__, "encoder_version": "some-other-model-123"})

    with pytest.raises(ValueError, match="Retrain it"):
        HeadSentimentAnalyzer(other, encoder)


@pytest.mark.parametrize(
    ("id2label", "expected"),
    [
        ({0: "NEGATIVE", 1: "POSITIVE"}, {0: "negative", 1: "positive"}),
        ({0: "LABEL_0", 1: "LABEL_1", 2: "LABEL_2"}, {0: "negative", 1: "neutral", 2: "positive"}),
        (
            {0: "1 star", 1: "2 stars", 2: "3 stars", 3: "4 stars", 4: "5 stars"},
            {0: "negative", 1: "negative", 2: "neutral", 3: "positive", 4: "positive"},
        ),
        ({0: "neg", 1: "neu", 2: "pos"}, {0: "negative", 1: "neutral", 2: "positive"}),
    ],
)
def test_model_labels_map_to_three_classes(
    id2label: dict[int, str], expected: dict[int, str]
) -> None:
    assert map_model_labels(id2label) == expected


def test_unknown_model_labels_are_refused() -> None:
    with pytest.raises(ValueError, match="pass label_map"):
        map_model_labels({0: "joy", 1: "anger"})


def test_transformers_backend_loads_a_local_model_directory(tmp_path: Path) -> None:
    # A tiny randomly initialised classifier saved locally stands in for a user's model:
    # this exercises the real offline loading, batching and label mapping code.
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    tokenizer = AutoTokenizer.from_pretrained(str(default_model_path()), local_files_only=True)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        id2label={0: "Negative", 1: "Neutral", 2: "Positive"},
        label2id={"Negative": 0, "Neutral": 1, "Positive": 2},
    )
    BertForSequenceClassification(config).save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)

    analyzer = TransformersSentimentAnalyzer(tmp_path)
    results = analyzer.analyse([ANGRY, "", "😡", "x" * 50_000])

    assert len(results) == 4
    assert all(r.label in ("negative", "neutral", "positive") for r in results)
    assert all(sum(r.probabilities) == pytest.approx(1.0) for r in results)
    assert analyzer.version.startswith(f"hf-{tmp_path.name}-")


def test_shared_forward_pass_gives_the_same_sentiment(
    analyzer: HeadSentimentAnalyzer, encoder: Encoder
) -> None:
    texts = [ANGRY, TERRIBLE, HAPPY]
    vectors, means = encoder.encode_with_layer_means(texts, analyzer.layers, batch_size=2)

    shared = analyzer.analyse_layer_means(texts, means)
    separate = analyzer.analyse(texts)

    assert [r.label for r in shared] == [r.label for r in separate]
    for a, b in zip(shared, separate, strict=True):
        assert a.probabilities == pytest.approx(b.probabilities, abs=1e-4)
    assert vectors == pytest.approx(encoder.encode(texts), abs=1e-5)
