"""The response selector's pure part: training, scoring, the trigger, saving."""

from pathlib import Path

import numpy as np
import pytest

from copilot.nlp.reply_eval import conversation_pairs, ranks_of_truth
from copilot.nlp.selector import ResponseSelector, SelectorConfig, top_scores

DIM = 16


def toy_pairs(n: int = 200, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Requests and replies that share nothing on the surface: the reply of request i is a
    fixed rotation of it, so the encoder's cosine ranks them badly and a map can learn it."""
    rng = np.random.default_rng(seed)
    requests = rng.standard_normal((n, DIM)).astype(np.float32)
    rotation, _ = np.linalg.qr(rng.standard_normal((DIM, DIM)))
    replies = (requests @ rotation).astype(np.float32)
    norm = lambda m: (m / np.linalg.norm(m, axis=1, keepdims=True)).astype(np.float32)  # noqa: E731
    return norm(requests), norm(replies)


def r_at_1(selector: ResponseSelector, requests: np.ndarray, replies: np.ndarray) -> float:
    scores = selector.scores(requests, replies)
    return float(np.mean(scores.argmax(axis=1) == np.arange(len(requests))))


def test_training_learns_a_separable_toy_set() -> None:
    requests, replies = toy_pairs()
    untrained = ResponseSelector.identity(DIM, encoder_version="toy")
    trained = ResponseSelector.fit(
        requests[:150],
        replies[:150],
        encoder_version="toy",
        config=SelectorConfig(epochs=60, learning_rate=1e-2, batch_size=32),
    )

    # Held-out pairs of the same rotation: the map generalises, the cosine does not.
    assert r_at_1(untrained, requests[150:], replies[150:]) < 0.3
    assert r_at_1(trained, requests[150:], replies[150:]) > 0.9


def test_untrained_selector_scores_like_the_encoder_cosine() -> None:
    requests, replies = toy_pairs(10)
    selector = ResponseSelector.identity(DIM, encoder_version="toy")
    np.testing.assert_allclose(selector.scores(requests, replies), requests @ replies.T, atol=1e-6)


def test_training_is_deterministic() -> None:
    requests, replies = toy_pairs(64)
    config = SelectorConfig(epochs=3, batch_size=16)
    first = ResponseSelector.fit(requests, replies, encoder_version="toy", config=config)
    second = ResponseSelector.fit(requests, replies, encoder_version="toy", config=config)
    other_seed = ResponseSelector.fit(
        requests,
        replies,
        encoder_version="toy",
        config=SelectorConfig(epochs=3, batch_size=16, seed=1),
    )

    assert first.version == second.version
    np.testing.assert_array_equal(first.request_weight, second.request_weight)
    assert other_seed.version != first.version


def test_company_batches_and_duplicate_replies_train() -> None:
    requests, replies = toy_pairs(64)
    selector = ResponseSelector.fit(
        requests,
        replies,
        encoder_version="toy",
        reply_keys=["same"] * 8 + [str(i) for i in range(56)],
        group_keys=["a"] * 40 + ["b"] * 24,
        config=SelectorConfig(epochs=2, batch_size=16),
    )
    assert np.isfinite(selector.request_weight).all()


def test_save_and_load_keep_scores_and_version(tmp_path: Path) -> None:
    requests, replies = toy_pairs(64)
    selector = ResponseSelector.fit(
        requests, replies, encoder_version="toy", threshold=0.25, config=SelectorConfig(epochs=2)
    )
    version = selector.save(tmp_path)
    loaded = ResponseSelector.load(tmp_path)

    assert loaded.version == version == selector.version
    assert version.startswith("selector-")
    assert loaded.threshold == 0.25
    np.testing.assert_array_equal(
        loaded.scores(requests, replies), selector.scores(requests, replies)
    )
    assert sum(f.stat().st_size for f in tmp_path.iterdir()) < 100_000  # 16 dims here


def test_load_refuses_files_that_do_not_match_their_version(tmp_path: Path) -> None:
    requests, replies = toy_pairs(32)
    ResponseSelector.fit(
        requests, replies, encoder_version="toy", config=SelectorConfig(epochs=1)
    ).save(tmp_path)
    document = (
        (tmp_path / "selector.json").read_text().replace('"threshold": 0.0', '"threshold": 0.5')
    )
    (tmp_path / "selector.json").write_text(document)

    with pytest.raises(ValueError, match="do not match"):
        ResponseSelector.load(tmp_path)


def test_trigger_returns_nothing_below_the_threshold() -> None:
    requests, replies = toy_pairs(10)
    selector = ResponseSelector.identity(DIM, encoder_version="toy")
    best = float(selector.scores(requests[:1], replies).max())

    assert selector.with_threshold(best + 0.01).top(requests[0], replies) == []
    shown = selector.with_threshold(best - 1.0).top(requests[0], replies, k=3)
    assert len(shown) == 3
    assert [s for _, s in shown] == sorted((s for _, s in shown), reverse=True)
    assert shown[0][1] == pytest.approx(best)


def test_top_scores_keeps_only_those_above_the_threshold_best_first() -> None:
    row = np.array([0.1, 0.9, 0.5, 0.7], dtype=np.float32)
    assert [i for i, _ in top_scores(row, k=3, threshold=0.6)] == [1, 3]
    assert [i for i, _ in top_scores(row, k=10, threshold=-1.0)] == [1, 3, 2, 0]


def test_conversation_pairs_join_customer_turns_until_the_agent_replies() -> None:
    turns = [
        ("customer", "hello"),
        ("customer", "my order is late"),
        ("agent", "sorry, looking"),
        ("system", "note"),
        ("agent", "second reply follows no new request"),
        ("customer", "thanks"),
    ]
    assert conversation_pairs(turns) == [("hello\nmy order is late", "sorry, looking")]


def test_ranks_count_ties_against_the_true_reply() -> None:
    scores = np.array([[0.5, 0.1, 0.5], [0.9, 0.1, 0.2]])
    assert ranks_of_truth(scores).tolist() == [1, 0]
