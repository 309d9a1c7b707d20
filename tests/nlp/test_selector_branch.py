"""The response selector's request branch: the encoder's top block fine-tuned on the hidden
state of the shared pass, with in-batch negatives."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from copilot.nlp.embeddings import Encoder
from copilot.nlp.selector_branch import (
    BRANCH_FILE,
    SHIPPED,
    BranchTraining,
    SelectorBranch,
    encoder_bottom_states,
    load_selector,
    load_selector_branch,
    reply_vectors,
    request_vectors,
    save_selector,
    save_selector_branch,
    train_branch,
)
from copilot.nlp.sentiment_branch import BranchConfig

TINY = BranchConfig(
    hidden_size=16, num_heads=2, intermediate_size=32, num_layers=1, start_layer=1, dropout=0.0
)


def _toy(
    n_classes: int = 6, per_class: int = 8, seed: int = 0
) -> tuple[list[torch.Tensor], np.ndarray, list[int]]:
    """Requests of class c are token sequences around a class direction; the reply of class c
    is another direction the encoder knows nothing of: only training can match them."""
    g = torch.Generator().manual_seed(seed)
    request_dirs = torch.randn(n_classes, 16, generator=g)
    reply_dirs = np.random.default_rng(seed).standard_normal((n_classes, 16)).astype(np.float32)
    states: list[torch.Tensor] = []
    replies: list[np.ndarray] = []
    labels: list[int] = []
    for c in range(n_classes):
        for _ in range(per_class):
            length = int(torch.randint(3, 9, (1,), generator=g))
            states.append((request_dirs[c] + 0.3 * torch.randn(length, 16, generator=g)).half())
            replies.append(reply_dirs[c] / np.linalg.norm(reply_dirs[c]))
            labels.append(c)
    return states, np.stack(replies).astype(np.float32), labels


def _r1(
    branch: SelectorBranch, states: list[torch.Tensor], replies: np.ndarray, labels: list[int]
) -> float:
    scores = request_vectors(branch, states) @ reply_vectors(branch, replies).T
    best = scores.argmax(axis=1)
    return float(np.mean([labels[b] == labels[i] for i, b in enumerate(best)]))


def test_training_matches_requests_to_their_replies() -> None:
    torch.manual_seed(0)
    states, replies, labels = _toy()
    branch = SelectorBranch(TINY)
    before = _r1(branch, states, replies, labels)
    record = train_branch(
        branch,
        states,
        replies,
        reply_keys=[str(c) for c in labels],  # same class = same reply: not a negative
        config=BranchTraining(epochs=30, batch_size=16, block_lr=3e-3, map_lr=3e-2, seed=1),
    )
    assert _r1(branch, states, replies, labels) == 1.0 > before
    assert record["n_pairs"] == len(states) and record["distinct_replies"] == 6
    assert record["epoch_losses"][-1] < record["epoch_losses"][0]


def test_training_refuses_unaligned_pairs() -> None:
    states, replies, labels = _toy()
    with pytest.raises(ValueError, match="aligned"):
        train_branch(
            SelectorBranch(TINY),
            states,
            replies[:-1],
            reply_keys=[str(c) for c in labels],
            config=BranchTraining(),
        )


def test_save_and_load_keep_scores_version_and_threshold(tmp_path: Path) -> None:
    torch.manual_seed(0)
    states, replies, labels = _toy()
    branch = SelectorBranch(TINY)
    train_branch(
        branch,
        states,
        replies,
        reply_keys=[str(c) for c in labels],
        config=BranchTraining(epochs=2, batch_size=16, map_lr=1e-2),
    )
    path = tmp_path / BRANCH_FILE
    version = save_selector_branch(
        path, branch, encoder_version="enc-x", threshold=0.41, info={"note": "toy"}
    )
    loaded = load_selector_branch(path)
    assert loaded.version == version and loaded.threshold == 0.41
    assert loaded.encoder_version == "enc-x" and loaded.info == {"note": "toy"}
    # fp16 on disk: scores agree to fp16 precision.
    ours = request_vectors(branch, states) @ reply_vectors(branch, replies).T
    theirs = request_vectors(loaded.branch, states) @ reply_vectors(loaded.branch, replies).T
    assert np.abs(ours - theirs).max() < 5e-3


def test_load_refuses_a_file_whose_tensors_were_changed(tmp_path: Path) -> None:
    from safetensors.torch import load_file, save_file

    path = tmp_path / BRANCH_FILE
    save_selector_branch(path, SelectorBranch(TINY), encoder_version="e", threshold=0.0, info={})
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as fh:
        metadata = fh.metadata()
    tensors = load_file(str(path))
    tensors["request_bias"] = tensors["request_bias"] + 1
    save_file(tensors, str(path), metadata=metadata)
    with pytest.raises(ValueError, match="recorded version"):
        load_selector_branch(path)


def test_an_untrained_branch_scores_like_the_encoder_cosine(encoder: Encoder) -> None:
    """Copied blocks and zero maps: the request side reproduces the encoder's embedding from
    the hidden state below its last block, so training starts from the cosine."""
    auto_model, _ = encoder._transformer()
    branch = SelectorBranch.from_encoder(auto_model, 5).eval()
    texts = ["My parcel never arrived", "How do I reset my password?", "thanks!"]
    states = encoder_bottom_states(encoder, texts, 5)
    assert np.allclose(request_vectors(branch, states), encoder.encode(texts), atol=1e-4)


def test_the_selector_reads_the_branch_in_the_encoder_pass(
    tmp_path: Path, encoder: Encoder
) -> None:
    """As a ResponseSelector (fp32 here), its request inputs come from the encoder's hidden
    states and rank as the branch does; it saves into a selector directory and loads back."""
    auto_model, _ = encoder._transformer()
    branch = SelectorBranch.from_encoder(auto_model, 5).eval()
    with torch.no_grad():
        branch.request_bias.add_(0.05)  # not the identity, so the maps are checked too
    version = save_selector(
        tmp_path, branch, encoder_version=encoder.version, threshold=0.3, info={}
    )
    assert load_selector(tmp_path).version == version  # as served: int8 blocks
    selector = load_selector(tmp_path, quantise=False)
    assert selector.version != version and selector.threshold == 0.3
    texts = ["Where is my refund?", "The app crashes when I log in"]
    replies = encoder.encode(["We have issued the refund.", "Please update the app."])
    inputs = selector.request_inputs(texts, encoder)
    expected = request_vectors(branch, encoder_bottom_states(encoder, texts, 5))
    got = selector.scores(inputs, replies)
    want = expected @ reply_vectors(branch, replies).T
    assert np.abs(got - want).max() < 5e-3
    assert got[0].argmax() == 0 and got[1].argmax() == 1


@pytest.mark.skipif(not SHIPPED.is_file(), reason="no shipped selector")
def test_the_shipped_selector_sits_on_the_shipped_encoder(encoder: Encoder) -> None:
    shipped = load_selector_branch(SHIPPED)
    assert shipped.encoder_version == encoder.version
    assert 0.0 < shipped.threshold < 1.0
    assert SHIPPED.stat().st_size < 10_000_000


@pytest.mark.skipif(not SHIPPED.is_file(), reason="no shipped selector")
def test_one_pass_serves_sentiment_and_the_selector_branch(encoder: Encoder) -> None:
    """The analysis pass runs the selector's branch next to the sentiment branch: the same
    embeddings and sentiment as without it, and the same request vectors as a pass of its own."""
    from copilot.nlp.sentiment import DEFAULT_BRANCH_PATH, BranchSentimentAnalyzer

    sentiment = BranchSentimentAnalyzer(DEFAULT_BRANCH_PATH, encoder)
    selector = load_selector(SHIPPED.parent)
    texts = ["My order never came and nobody answers!", "Thanks, all sorted now."]
    vectors, results, inputs = sentiment.analyse_with_extra(texts, selector.branch_inputs)
    alone_vectors, alone_results = sentiment.analyse_with_embeddings(texts)
    assert inputs is not None and inputs.shape == (2, encoder.dim)
    assert np.allclose(vectors, alone_vectors, atol=1e-5)
    assert [r.label for r in results] == [r.label for r in alone_results]
    assert np.allclose(inputs, selector.request_inputs(texts, encoder), atol=1e-5)
    assert np.allclose(np.linalg.norm(inputs, axis=1), 1.0, atol=1e-4)
