from __future__ import annotations

from pathlib import Path

import pytest

from copilot.nlp.embeddings import Encoder, default_model_path
from copilot.nlp.sentiment import (
    DEFAULT_BRANCH_PATH,
    DEFAULT_HEAD_PATH,
    BranchSentimentAnalyzer,
    HeadSentimentAnalyzer,
    SentimentHead,
    TransformersSentimentAnalyzer,
    get_sentiment_analyzer,
    head_info,
    map_model_labels,
)
from copilot.nlp.sentiment_branch import SentimentBranch, load_branch, save_branch

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


# Support messages in the words of the complaints that were shown wrongly (issue 14).
DISAPPOINTED = "I'm really disappointed and want the compensation you promised"
HOW_TO = ("How do I change the delivery address?", "Do you ship to Canada?")


@pytest.fixture(scope="module")
def branch(encoder: Encoder) -> BranchSentimentAnalyzer:
    return BranchSentimentAnalyzer(DEFAULT_BRANCH_PATH, encoder)


@pytest.fixture(scope="module")
def analyzer(encoder: Encoder) -> HeadSentimentAnalyzer:
    return HeadSentimentAnalyzer(SentimentHead.load(DEFAULT_HEAD_PATH), encoder)


def test_angry_and_disappointed_customers_are_negative(branch: BranchSentimentAnalyzer) -> None:
    results = branch.analyse([ANGRY, TERRIBLE, DISAPPOINTED])

    assert [r.label for r in results] == ["negative"] * 3
    assert results[0].score < -0.5
    assert all(r.confidence == max(r.probabilities) for r in results)


def test_a_plain_how_to_question_is_neutral(branch: BranchSentimentAnalyzer) -> None:
    results = branch.analyse(list(HOW_TO))

    assert [r.label for r in results] == ["neutral", "neutral"]


def test_a_warm_message_is_positive(branch: BranchSentimentAnalyzer) -> None:
    [result] = branch.analyse([HAPPY])

    assert result.label == "positive"
    assert 0.0 < result.score <= 1.0
    assert sum(result.probabilities) == pytest.approx(1.0)
    assert result.model_version == branch.version


def test_awkward_inputs_do_not_crash(branch: BranchSentimentAnalyzer) -> None:
    results = branch.analyse(["", "😡😡😡", "¡Esto es inaceptable!", "broken " * 8000])

    assert len(results) == 4
    assert all(-1.0 <= r.score <= 1.0 for r in results)
    assert branch.analyse([]) == []
    with pytest.raises(TypeError):
        branch.analyse("a bare string")


def test_the_default_accessor_returns_one_shared_analyzer(encoder: Encoder) -> None:
    # The head stays the default: the branch has the better macro-recall on TweetEval test but
    # finds fewer of the negatives (README, "Measured quality").
    first = get_sentiment_analyzer()

    assert get_sentiment_analyzer() is first
    assert first.version.startswith("head-")
    assert first.version.endswith(encoder.version)


def test_the_branch_backend_is_one_shared_int8_analyzer(encoder: Encoder) -> None:
    first = get_sentiment_analyzer(backend="branch")

    assert get_sentiment_analyzer(backend="branch") is first
    assert isinstance(first, BranchSentimentAnalyzer)
    assert first.version.startswith("branch-")
    assert "-int8+" in first.version
    assert first.version.endswith(encoder.version)


def test_one_encoder_pass_gives_the_embedding_and_the_sentiment(
    branch: BranchSentimentAnalyzer, encoder: Encoder
) -> None:
    texts = [ANGRY, TERRIBLE, HAPPY, *HOW_TO]

    vectors, shared = branch.analyse_with_embeddings(texts)

    assert vectors == pytest.approx(encoder.encode(texts), abs=1e-5)
    assert [r.probabilities for r in shared] == [r.probabilities for r in branch.analyse(texts)]


def test_a_branch_built_from_the_encoders_blocks_reproduces_its_last_layer(
    encoder: Encoder,
) -> None:
    # The branch's hand-written blocks must compute exactly what transformers' BERT blocks do,
    # or the fine-tuned weights would mean something else at run time than in training.
    import torch

    auto_model = encoder._load()[0].auto_model
    copy = SentimentBranch.from_encoder(auto_model, start_layer=4).eval()
    captured: dict[str, torch.Tensor] = {}

    def grab(states: tuple[torch.Tensor, ...], mask: torch.Tensor) -> torch.Tensor:
        rebuilt = copy.hidden(states[4], mask)
        real = mask.bool()
        captured["diff"] = (rebuilt[real] - states[6][real]).abs().max().reshape(1, 1)
        return captured["diff"].expand(mask.shape[0], 1)

    encoder.encode_with_branch([ANGRY, "short", HAPPY], grab)

    assert float(captured["diff"]) < 1e-4


def test_the_shipped_branch_records_how_it_was_trained() -> None:
    info = load_branch(DEFAULT_BRANCH_PATH).info

    assert info["trained_on"]["tweeteval_train"] > 20_000
    assert info["selected_on"].startswith("TweetEval val")
    assert info["arguments"]["seed"] == "13"


def test_a_branch_for_another_encoder_is_refused(encoder: Encoder, tmp_path: Path) -> None:
    shipped = load_branch(DEFAULT_BRANCH_PATH)
    other = tmp_path / "other.safetensors"
    save_branch(
        other,
        shipped.branch,
        encoder_version="some-other-model-123",
        logit_offsets=shipped.logit_offsets,
        labels=shipped.labels,
        max_length=shipped.max_length,
        info=shipped.info,
    )

    with pytest.raises(ValueError, match="Retrain it"):
        BranchSentimentAnalyzer(other, encoder)


def test_a_file_that_is_not_a_branch_is_refused(encoder: Encoder, tmp_path: Path) -> None:
    import torch
    from safetensors.torch import save_file

    foreign = tmp_path / "foreign.safetensors"
    save_file({"weight": torch.zeros(2, 2)}, str(foreign), metadata={"format": "pt"})

    with pytest.raises(ValueError, match="not a sentiment branch"):
        BranchSentimentAnalyzer(foreign, encoder)


def test_a_branch_whose_tensors_do_not_fit_is_refused(encoder: Encoder, tmp_path: Path) -> None:
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(str(DEFAULT_BRANCH_PATH), framework="pt") as fh:
        metadata = fh.metadata()
        tensors = {name: fh.get_tensor(name) for name in fh.keys()}  # noqa: SIM118
    tensors["classifier.weight"] = tensors["classifier.weight"][:2]  # two classes, not three
    broken = tmp_path / "broken.safetensors"
    save_file(tensors, str(broken), metadata=metadata)

    with pytest.raises(ValueError, match="do not match"):
        BranchSentimentAnalyzer(broken, encoder)


def test_a_branch_with_other_labels_is_refused(encoder: Encoder, tmp_path: Path) -> None:
    shipped = load_branch(DEFAULT_BRANCH_PATH)
    swapped = tmp_path / "swapped.safetensors"
    save_branch(
        swapped,
        shipped.branch,
        encoder_version=shipped.encoder_version,
        logit_offsets=shipped.logit_offsets,
        labels=("positive", "neutral", "negative"),
        max_length=shipped.max_length,
        info=shipped.info,
    )

    with pytest.raises(ValueError, match="labels"):
        BranchSentimentAnalyzer(swapped, encoder)


def test_the_previous_head_still_scores_an_angry_message_negative(
    analyzer: HeadSentimentAnalyzer,
) -> None:
    angry, terrible = analyzer.analyse([ANGRY, TERRIBLE])

    assert (angry.label, terrible.label) == ("negative", "negative")


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

    # Retrained weights saved over the old ones, same config: a new version.
    retrained = tmp_path / "retrained"
    other_model = BertForSequenceClassification(config)
    other_model.save_pretrained(retrained)
    tokenizer.save_pretrained(retrained)
    renamed = TransformersSentimentAnalyzer(retrained)
    renamed.analyse(["x"])
    assert renamed.version.split("-")[-1] != analyzer.version.split("-")[-1]


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


def test_a_deeper_branch_started_from_the_shipped_one_computes_what_it_computes(
    branch: BranchSentimentAnalyzer, encoder: Encoder
) -> None:
    # Fine-tuning one more block starts from the shipped branch: its lower block is the
    # encoder's own, so before training the deeper branch must give the same probabilities.
    import torch

    shipped = load_branch(DEFAULT_BRANCH_PATH)
    start = shipped.branch.config.start_layer
    auto_model = encoder._load()[0].auto_model
    deeper = SentimentBranch.from_encoder(auto_model, start_layer=start - 1)
    deeper.start_from(shipped.branch)
    deeper.eval()
    captured: list[float] = []

    def both(states: tuple[torch.Tensor, ...], mask: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            a = shipped.branch(states[start], mask)
            b = deeper(states[start - 1], mask)
        captured.append(float((a - b).abs().max()))
        return a

    encoder.encode_with_branch([ANGRY, TERRIBLE, HAPPY, *HOW_TO], both)

    assert deeper.config.num_layers == shipped.branch.config.num_layers + 1
    assert max(captured) < 1e-3


def test_a_branch_that_does_not_sit_on_top_is_refused(encoder: Encoder) -> None:
    shipped = load_branch(DEFAULT_BRANCH_PATH).branch
    auto_model = encoder._load()[0].auto_model
    higher = SentimentBranch.from_encoder(auto_model, start_layer=shipped.config.start_layer + 1)

    with pytest.raises(ValueError, match="does not sit on top"):
        higher.start_from(shipped)


def test_tweeteval_scores_a_compared_branch_in_the_same_pass(
    encoder: Encoder, data_dir: Path, tmp_path: Path
) -> None:
    from copilot.nlp.evaluation import evaluate_tweeteval, format_sentiment

    source = data_dir / "tweeteval_sentiment"
    (tmp_path / "mapping.txt").write_text((source / "mapping.txt").read_text())
    texts = [ANGRY, TERRIBLE, DISAPPOINTED, *HOW_TO, HAPPY]
    codes = {"negative": "0", "neutral": "1", "positive": "2"}
    gold = ["negative"] * 3 + ["neutral"] * 2 + ["positive"]
    (tmp_path / "test_text.txt").write_text("".join(f"{t}\n" for t in texts))
    (tmp_path / "test_labels.txt").write_text("".join(f"{codes[g]}\n" for g in gold))
    shipped = load_branch(DEFAULT_BRANCH_PATH)
    # The same branch with a large positive offset: it must score differently, in one pass.
    tilted = tmp_path / "tilted.safetensors"
    save_branch(
        tilted,
        shipped.branch,
        encoder_version=shipped.encoder_version,
        logit_offsets=(0.0, 0.0, 50.0),
        labels=shipped.labels,
        max_length=shipped.max_length,
        info=shipped.info,
    )

    report = evaluate_tweeteval(tmp_path, encoder=encoder, compare=[tilted])

    assert report.branch is not None and report.branch.macro_recall == 100.0
    (compared,) = report.compared
    assert compared.scores.recall == (0.0, 0.0, 100.0)
    assert compared.version != report.branch_version
    assert compared.ms > 0 and report.branch_ms is not None and report.branch_ms > 0
    assert any("compared branch" in line for line in format_sentiment(report))
