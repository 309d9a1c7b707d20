"""Shared fixtures for the NLP core tests: plain pytest, no Django."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

# Never reach the hub from tests, even if a model path is mistyped.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from copilot.nlp.embeddings import Encoder, get_encoder  # noqa: E402

DATA = REPO / "data" / "eval"


@pytest.fixture(scope="session")
def encoder() -> Encoder:
    """The shipped MiniLM, loaded once for the whole run (about 2 s)."""
    enc = get_encoder()
    assert enc.dim == 384
    return enc


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA
