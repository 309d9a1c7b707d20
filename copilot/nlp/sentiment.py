"""Sentiment of a customer message: negative / neutral / positive, a score in [-1, 1], a confidence.

Three backends behind `SentimentAnalyzer`:

* `HeadSentimentAnalyzer`: a logistic-regression head in `weights/sentiment_head.npz`
  on the frozen encoder's layer means plus VADER lexicon/emoji/punctuation features, trained by
  `scripts/train_sentiment.py` on TweetEval val (`COPILOT_SENTIMENT_MODEL=head`).
* `BranchSentimentAnalyzer` (the engine's default): the encoder's top two blocks fine-tuned for
  sentiment with a 3-way classifier (`weights/sentiment_branch.safetensors`, fp16, built by
  `scripts/finetune_sentiment.py` on TweetEval train + part of GoEmotions). It runs on the
  hidden state of the shared encoder pass, so one pass serves the embedding and sentiment;
  its Linear layers are quantised to int8 at load. See `copilot/nlp/sentiment_branch.py`.
  On TweetEval test it has the better macro-recall (69.4 against 66.9) but finds fewer of the
  negatives (81.6% against 87.7%); on the hand-labelled support conversations it finds more of
  the unhappy customers (README, "Measured quality").
* `TransformersSentimentAnalyzer`: any local Hugging Face text-classification model directory
  (a setting points at it), labels mapped onto the three classes.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import numpy.typing as npt

from copilot.nlp.embeddings import Encoder, get_encoder

SentimentLabel = Literal["negative", "neutral", "positive"]
LABELS: tuple[SentimentLabel, SentimentLabel, SentimentLabel] = ("negative", "neutral", "positive")

DEFAULT_HEAD_PATH = Path(__file__).resolve().parent / "weights" / "sentiment_head.npz"
DEFAULT_BRANCH_PATH = Path(__file__).resolve().parent / "weights" / "sentiment_branch.safetensors"

FloatArray = npt.NDArray[np.float32]
Float64Array = npt.NDArray[np.float64]


@dataclass(frozen=True)
class SentimentResult:
    label: SentimentLabel
    # P(positive) - P(negative): -1 is certainly negative, +1 certainly positive, and a
    # confident "neutral" sits near 0.
    score: float
    # Probability of the chosen label.
    confidence: float
    # (negative, neutral, positive) probabilities, summing to 1.
    probabilities: tuple[float, float, float]
    # Which model produced this, so stored results can be traced and recomputed.
    model_version: str


class SentimentAnalyzer(Protocol):
    @property
    def version(self) -> str: ...

    def analyse(self, texts: Sequence[str]) -> list[SentimentResult]: ...


def _result(probs: Float64Array, version: str) -> SentimentResult:
    index = int(np.argmax(probs))
    neg, neu, pos = (float(p) for p in probs)
    return SentimentResult(
        label=LABELS[index],
        score=float(np.clip(pos - neg, -1.0, 1.0)),
        confidence=float(probs[index]),
        probabilities=(neg, neu, pos),
        model_version=version,
    )


# --- lexicon features --------------------------------------------------------------------

_WORD = re.compile(r"[a-z']+")
_NEGATIONS = frozenset(
    (
        "not", "no", "never", "cannot", "cant", "dont", "don't", "won't", "wont", "isn't",
        "isnt", "didn't", "didnt", "doesn't", "doesnt", "wasn't", "wasnt", "aren't", "arent",
        "shouldn't", "couldn't", "wouldn't", "nothing", "nobody",
    )
)  # fmt: skip
LEXICON_FEATURE_NAMES = (
    "vader_neg",
    "vader_neu",
    "vader_pos",
    "vader_compound",
    "n_pos_words",
    "n_neg_words",
    "sum_pos_valence",
    "sum_neg_valence",
    "max_pos_valence",
    "min_neg_valence",
    "has_negation",
    "has_but",
    "n_exclamations",
    "n_questions",
    "upper_ratio",
    "n_words",
    "emoji_valence",
    "n_emoji",
    "vader_says_positive",
    "vader_says_negative",
)


class _Vader:
    """VADER (MIT licence) ships its lexicons inside the wheel, so it works offline."""

    _instance: Any = None
    _lock = threading.Lock()

    @classmethod
    def get(cls) -> Any:
        if cls._instance is None:
            with cls._lock:
                if cls._instance is None:
                    from vaderSentiment.vaderSentiment import (  # type: ignore[import-untyped]
                        SentimentIntensityAnalyzer,
                    )

                    cls._instance = SentimentIntensityAnalyzer()
        return cls._instance


def lexicon_features(texts: Sequence[str]) -> Float64Array:
    """(n, 20) hand-made features; see LEXICON_FEATURE_NAMES for the columns.

    Alone they reach about 59-62 macro-recall on TweetEval; added to the encoder features
    they add about 2 points, mostly on negatives, which MiniLM's topical embedding blurs.
    """
    vader = _Vader.get()
    lexicon: Mapping[str, float] = vader.lexicon
    emojis: Mapping[str, str] = vader.emojis
    rows: list[list[float]] = []
    for text in texts:
        # VADER is quadratic-ish in tokens; the head never needs more than a tweet's worth
        # of evidence per message, and a 50k-character paste must not stall a worker.
        text = text[:5000]
        scores = vader.polarity_scores(text)
        words = _WORD.findall(text.lower())
        valences = [lexicon[w] for w in words if w in lexicon]
        positive = [v for v in valences if v > 0]
        negative = [v for v in valences if v < 0]
        emoji_words = [emojis[ch] for ch in text if ch in emojis]
        emoji_valence = sum(lexicon.get(w, 0.0) for desc in emoji_words for w in desc.split())
        compound = float(scores["compound"])
        rows.append(
            [
                float(scores["neg"]),
                float(scores["neu"]),
                float(scores["pos"]),
                compound,
                float(len(positive)),
                float(len(negative)),
                float(sum(positive)),
                float(sum(negative)),
                float(max(positive, default=0.0)),
                float(min(negative, default=0.0)),
                float(any(w in _NEGATIONS for w in words)),
                float("but" in words),
                float(text.count("!")),
                float(text.count("?")),
                sum(ch.isupper() for ch in text) / max(1, len(text)),
                float(len(words)),
                float(emoji_valence),
                float(len(emoji_words)),
                float(compound >= 0.05),
                float(compound <= -0.05),
            ]
        )
    return np.asarray(rows, dtype=np.float64).reshape(len(texts), len(LEXICON_FEATURE_NAMES))


# --- default backend: shipped head ---------------------------------------------------------


@dataclass(frozen=True)
class SentimentHead:
    """Coefficients of the shipped head. Stored as a plain .npz (no pickle)."""

    layers: tuple[int, ...]
    mean: Float64Array  # standardisation of [layer features, lexicon features]
    scale: Float64Array  # already divided by the lexicon weight for the lexicon columns
    coef: Float64Array  # (3, n_features), rows in LABELS order
    intercept: Float64Array  # (3,)
    encoder_version: str
    info: str  # JSON: training data, hyper-parameters, cross-validated scores

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        np.savez_compressed(
            tmp,
            layers=np.asarray(self.layers, dtype=np.int64),
            mean=self.mean,
            scale=self.scale,
            coef=self.coef,
            intercept=self.intercept,
            labels=np.asarray(LABELS),
            encoder_version=np.asarray(self.encoder_version),
            info=np.asarray(self.info),
        )
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> SentimentHead:
        with np.load(path, allow_pickle=False) as data:
            labels = tuple(str(x) for x in data["labels"])
            if labels != LABELS:
                raise ValueError(f"{path}: head labels {labels} != {LABELS}")
            return cls(
                layers=tuple(int(x) for x in data["layers"]),
                mean=np.asarray(data["mean"], dtype=np.float64),
                scale=np.asarray(data["scale"], dtype=np.float64),
                coef=np.asarray(data["coef"], dtype=np.float64),
                intercept=np.asarray(data["intercept"], dtype=np.float64),
                encoder_version=str(data["encoder_version"]),
                info=str(data["info"]),
            )

    def probabilities(self, features: Float64Array) -> Float64Array:
        z = (features - self.mean) / self.scale
        return _softmax(z @ self.coef.T + self.intercept)


def _softmax(logits: Float64Array) -> Float64Array:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    out: Float64Array = exp / exp.sum(axis=1, keepdims=True)
    return out


def head_features(encoder: Encoder, layers: Sequence[int], texts: Sequence[str]) -> Float64Array:
    """The head's input: encoder layer means followed by the lexicon features."""
    layer_part = encoder.encode_layer_means(texts, layers).astype(np.float64)
    return np.hstack([layer_part, lexicon_features(texts)])


class HeadSentimentAnalyzer:
    def __init__(self, head: SentimentHead, encoder: Encoder) -> None:
        if head.encoder_version != encoder.version:
            # The coefficients are only meaningful for the exact encoder they were fitted on.
            raise ValueError(
                f"Sentiment head was trained on encoder {head.encoder_version}, but the encoder "
                f"in use is {encoder.version}. Retrain it with scripts/train_sentiment.py "
                "--model-path <your model>, or select the transformers backend."
            )
        self._head = head
        self._encoder = encoder
        digest = hashlib.sha256(head.coef.tobytes()).hexdigest()[:10]
        self._version = f"head-{digest}+{encoder.version}"

    @property
    def version(self) -> str:
        return self._version

    @property
    def encoder(self) -> Encoder:
        return self._encoder

    @property
    def layers(self) -> tuple[int, ...]:
        return tuple(self._head.layers)

    def analyse(self, texts: Sequence[str]) -> list[SentimentResult]:
        if isinstance(texts, str):
            raise TypeError("analyse() takes a sequence of strings")
        if len(texts) == 0:
            return []
        probs = self._head.probabilities(head_features(self._encoder, self._head.layers, texts))
        return [_result(row, self._version) for row in probs]

    def analyse_layer_means(
        self, texts: Sequence[str], layer_means: npt.NDArray[np.float32]
    ) -> list[SentimentResult]:
        """`analyse` for texts whose layer means were computed already (one shared forward
        pass: `Encoder.encode_with_layer_means(texts, self.layers)`)."""
        if len(texts) != len(layer_means):
            raise ValueError(f"{len(texts)} texts but {len(layer_means)} feature rows")
        if len(texts) == 0:
            return []
        features = np.hstack([layer_means.astype(np.float64), lexicon_features(texts)])
        return [_result(row, self._version) for row in self._head.probabilities(features)]


# --- fine-tuned branch on the shared encoder pass ------------------------------------------


class BranchSentimentAnalyzer:
    """The fine-tuned top blocks of the encoder plus a classifier, fed by the shared pass."""

    def __init__(self, path: Path, encoder: Encoder, *, quantise: bool = True) -> None:
        import torch

        from copilot.nlp.sentiment_branch import load_branch, quantise_branch

        loaded = load_branch(path)
        if loaded.labels != LABELS:
            raise ValueError(f"{path}: branch labels {loaded.labels} != {LABELS}")
        if loaded.encoder_version != encoder.version:
            # The branch reads the encoder's hidden states: any other encoder feeds it inputs
            # it was never trained on.
            raise ValueError(
                f"Sentiment branch was trained on encoder {loaded.encoder_version}, but the "
                f"encoder in use is {encoder.version}. Retrain it with "
                "scripts/finetune_sentiment.py, or select another backend."
            )
        self._encoder = encoder
        self._start_layer = loaded.branch.config.start_layer
        quantised = quantise_branch(loaded.branch) if quantise else None
        self._net = quantised if quantised is not None else loaded.branch
        self._offsets = torch.tensor(loaded.logit_offsets, dtype=torch.float32)
        self.info = loaded.info
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:10]
        precision = "-int8" if quantised is not None else ""
        self._version = f"branch-{digest}{precision}+{encoder.version}"

    @property
    def version(self) -> str:
        return self._version

    @property
    def encoder(self) -> Encoder:
        return self._encoder

    @property
    def start_layer(self) -> int:
        return self._start_layer

    def logits(self, hidden_states: tuple[Any, ...], attention_mask: Any) -> Any:
        """(B, 3) torch logits of the branch, before its offsets, for one batch."""
        return self._net(hidden_states[self._start_layer], attention_mask)

    def probabilities(self, hidden_states: tuple[Any, ...], attention_mask: Any) -> Any:
        """(B, 3) torch probabilities from the encoder's hidden states of one batch."""
        import torch

        return torch.softmax(self.logits(hidden_states, attention_mask) + self._offsets, dim=1)

    def analyse(self, texts: Sequence[str]) -> list[SentimentResult]:
        return self.analyse_with_embeddings(texts)[1]

    def analyse_with_embeddings(
        self, texts: Sequence[str]
    ) -> tuple[FloatArray, list[SentimentResult]]:
        """Sentence embeddings and sentiment of `texts` from one encoder pass."""
        if isinstance(texts, str):
            raise TypeError("analyse() takes a sequence of strings")
        vectors, results, _ = self.analyse_with_extra(texts, None)
        return vectors, results

    def analyse_with_extra(
        self,
        texts: Sequence[str],
        other_branch: Callable[[tuple[Any, ...], Any], Any] | None,
    ) -> tuple[FloatArray, list[SentimentResult], FloatArray | None]:
        """As `analyse_with_embeddings`, plus `other_branch(hidden_states, attention_mask)` (another
        branch on the same pass, e.g. the response selector's request side) when given."""
        if isinstance(texts, str):
            raise TypeError("analyse() takes a sequence of strings")
        if len(texts) == 0:
            empty = np.zeros((0, self._encoder.dim), dtype=np.float32)
            return empty, [], (empty.copy() if other_branch is not None else None)
        if other_branch is None:
            vectors, probs = self._encoder.encode_with_branch(texts, self.probabilities)
            return vectors, [_result(row.astype(np.float64), self._version) for row in probs], None
        import torch

        def both(states: tuple[Any, ...], mask: Any) -> Any:
            return torch.cat([self.probabilities(states, mask), other_branch(states, mask)], dim=1)

        vectors, out = self._encoder.encode_with_branch(texts, both)
        results = [_result(row.astype(np.float64), self._version) for row in out[:, :3]]
        return vectors, results, np.ascontiguousarray(out[:, 3:])


# --- alternative backend: any local HF text-classification model ---------------------------

_STAR = re.compile(r"^([1-5])\s*stars?$")


def map_model_labels(id2label: Mapping[int, str]) -> dict[int, SentimentLabel]:
    """Map a classifier's own label names onto negative/neutral/positive.

    Handles names (`NEGATIVE`, `neg`, `Positive`...), 1-5 star ratings and the anonymous
    `LABEL_0..2` of cardiffnlp-style 3-class models (0 negative, 1 neutral, 2 positive) or
    `LABEL_0..1` of binary ones (0 negative, 1 positive, the SST-2 convention).
    """
    mapping: dict[int, SentimentLabel] = {}
    n = len(id2label)
    for idx, raw in id2label.items():
        name = raw.strip().lower()
        star = _STAR.match(name)
        if name.startswith("neg"):
            mapping[idx] = "negative"
        elif name.startswith("neu"):
            mapping[idx] = "neutral"
        elif name.startswith("pos"):
            mapping[idx] = "positive"
        elif star:
            stars = int(star.group(1))
            mapping[idx] = "negative" if stars <= 2 else "neutral" if stars == 3 else "positive"
        elif name == f"label_{idx}" and n == 3:
            mapping[idx] = LABELS[idx]
        elif name == f"label_{idx}" and n == 2:
            mapping[idx] = "negative" if idx == 0 else "positive"
        else:
            raise ValueError(
                f"Cannot map model label {raw!r} to negative/neutral/positive; pass label_map."
            )
    return mapping


class TransformersSentimentAnalyzer:
    """A local `AutoModelForSequenceClassification` directory; never touches the hub."""

    def __init__(
        self,
        model_path: Path,
        *,
        label_map: Mapping[str, SentimentLabel] | None = None,
        binary_neutral_margin: float = 0.2,
        max_length: int = 256,
    ) -> None:
        self.model_path = model_path
        # For a binary model "neutral" means "neither side is clearly ahead".
        self._binary_neutral_margin = binary_neutral_margin
        self._max_length = max_length
        self._label_map = dict(label_map) if label_map is not None else None
        self._lock = threading.Lock()
        self._loaded: tuple[Any, Any, dict[int, SentimentLabel]] | None = None
        self._version = f"hf-{model_path.name}"

    @property
    def version(self) -> str:
        return self._version

    def _load(self) -> tuple[Any, Any, dict[int, SentimentLabel]]:
        loaded = self._loaded
        if loaded is not None:
            return loaded
        with self._lock:
            if self._loaded is None:
                if not (self.model_path / "config.json").is_file():
                    raise FileNotFoundError(
                        f"No Hugging Face model (config.json) at {self.model_path}"
                    )
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                from transformers import AutoModelForSequenceClassification, AutoTokenizer

                # A local directory with local_files_only: nothing is fetched, so there is no
                # hub revision to pin (bandit B615 assumes a hub download).
                tokenizer = AutoTokenizer.from_pretrained(  # nosec B615
                    str(self.model_path), local_files_only=True
                )
                model = AutoModelForSequenceClassification.from_pretrained(  # nosec B615
                    str(self.model_path), local_files_only=True
                )
                model.eval()
                id2label = {int(k): str(v) for k, v in model.config.id2label.items()}
                if self._label_map is not None:
                    mapping = {i: self._label_map[name] for i, name in id2label.items()}
                else:
                    mapping = map_model_labels(id2label)
                self._loaded = (tokenizer, model, mapping)
                self._version = f"hf-{self.model_path.name}-{_files_hash(self.model_path)}"
            return self._loaded

    def analyse(self, texts: Sequence[str]) -> list[SentimentResult]:
        if isinstance(texts, str):
            raise TypeError("analyse() takes a sequence of strings")
        if len(texts) == 0:
            return []
        import torch

        tokenizer, model, mapping = self._load()
        results: list[SentimentResult] = []
        with torch.inference_mode():
            for start in range(0, len(texts), 32):
                batch = [t[: self._max_length * 64] for t in texts[start : start + 32]]
                encoded = tokenizer(
                    batch,
                    padding=True,
                    truncation=True,
                    max_length=self._max_length,
                    return_tensors="pt",
                )
                raw = torch.softmax(model(**encoded).logits, dim=-1).numpy().astype(np.float64)
                for row in raw:
                    results.append(_result(self._bucket(row, mapping), self._version))
        return results

    def _bucket(self, row: Float64Array, mapping: Mapping[int, SentimentLabel]) -> Float64Array:
        probs = np.zeros(3, dtype=np.float64)
        for idx, p in enumerate(row):
            probs[LABELS.index(mapping[idx])] += p
        if "neutral" not in mapping.values():
            gap = abs(probs[2] - probs[0])
            if gap < self._binary_neutral_margin:
                # Move mass to neutral in proportion to how undecided the binary model is.
                neutral = 1.0 - gap / self._binary_neutral_margin
                probs = np.array([probs[0] * (1 - neutral), neutral, probs[2] * (1 - neutral)])
                probs /= probs.sum()
        return probs


def _files_hash(path: Path) -> str:
    """sha256 over every file of a model directory (names and bytes), so a retrained model
    saved over the old one gets a new version even when its config is unchanged."""
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(file.relative_to(path).as_posix().encode())
        with file.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()[:10]


# --- accessor ----------------------------------------------------------------------------

_analyzers: dict[tuple[str, str, str], SentimentAnalyzer] = {}
_analyzers_lock = threading.Lock()


def get_sentiment_analyzer(
    *,
    backend: Literal["branch", "head", "transformers"] = "head",
    model_path: str | os.PathLike[str] | None = None,
    encoder_path: str | os.PathLike[str] | None = None,
) -> SentimentAnalyzer:
    """The process-wide analyser for a backend + path; built once, loaded on first use.

    backend="branch": `model_path` is a branch .safetensors (default: the shipped one),
    `encoder_path` the encoder it was fine-tuned on (default: the shipped MiniLM).
    backend="head" (default): `model_path` is a head .npz (default: the shipped one), `encoder_path`
    the sentence-transformers model it was trained on (default: the shipped MiniLM).
    backend="transformers": `model_path` is a local HF text-classification directory.
    """
    key = (backend, str(model_path or ""), str(encoder_path or ""))
    with _analyzers_lock:
        analyzer = _analyzers.get(key)
        if analyzer is None:
            if backend == "branch":
                branch_path = Path(model_path) if model_path is not None else DEFAULT_BRANCH_PATH
                analyzer = BranchSentimentAnalyzer(branch_path, get_encoder(encoder_path))
            elif backend == "head":
                head_path = Path(model_path) if model_path is not None else DEFAULT_HEAD_PATH
                analyzer = HeadSentimentAnalyzer(
                    SentimentHead.load(head_path), get_encoder(encoder_path)
                )
            elif backend == "transformers":
                if model_path is None:
                    raise ValueError("The transformers backend needs model_path")
                analyzer = TransformersSentimentAnalyzer(Path(model_path))
            else:
                raise ValueError(f"Unknown sentiment backend {backend!r}")
            _analyzers[key] = analyzer
        return analyzer


def head_info(path: Path = DEFAULT_HEAD_PATH) -> dict[str, Any]:
    """Training metadata recorded in a head file (data, hyper-parameters, scores)."""
    info: dict[str, Any] = json.loads(SentimentHead.load(path).info)
    return info
