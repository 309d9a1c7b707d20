"""The models of one worker process, built from settings, and the analysis of one text.

`copilot.nlp` is plain Python; this module is the Django-aware side: it reads the model paths
from settings, holds one encoder / sentiment model / intent model / index per process (loaded on
first use, reused by every task the process runs), follows newly published index generations,
and maps index hits onto what a team may see.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from django.conf import settings
from django.core.cache import cache

from copilot.nlp.embeddings import Encoder, get_encoder
from copilot.nlp.index import (
    IndexMissing,
    IndexStore,
    IndexStoreError,
    Neighbour,
    StoredIndex,
    rerank_by_intent,
)
from copilot.nlp.intent import UNSURE, IntentClassifier, IntentPrediction
from copilot.nlp.selector import ResponseSelector
from copilot.nlp.selector_branch import SHIPPED as SHIPPED_SELECTOR
from copilot.nlp.selector_branch import has_selector, load_selector
from copilot.nlp.sentiment import (
    BranchSentimentAnalyzer,
    HeadSentimentAnalyzer,
    SentimentAnalyzer,
    SentimentResult,
    get_sentiment_analyzer,
)
from copilot.selectors import case_intents, solved_case_teams

logger = logging.getLogger(__name__)

# Trained by `manage.py train_intent --output copilot/nlp/weights/intent` on the demo tickets;
# used until the organisation trains its own into COPILOT_INTENT_MODEL_DIR.
SHIPPED_INTENT_DIR = Path(__file__).resolve().parent / "nlp" / "weights" / "intent"

# How many nearest cases are re-ranked by intent before the top k are kept. Bitext P@5: 95.50
# plain, 99.49 re-ranking the top 50 (manage.py evaluate).
INTENT_RERANK_POOL = 50

REBUILD_HINT = "Rebuild it from the database with: python manage.py rebuild_case_index"


class EngineError(RuntimeError):
    """A model cannot be loaded or run: retrying the same task will not help."""


@dataclass(frozen=True)
class TextAnalysis:
    sentiment: SentimentResult
    intent: IntentPrediction | None  # None: no intent model trained yet
    neighbours: list[Neighbour]
    model_versions: dict[str, Any]
    notes: list[str] = field(default_factory=list)  # why evidence is missing, for the agent
    vector: npt.NDArray[np.float32] | None = None  # the text's embedding
    # The text as the response selector's request side reads it (its branch on the same
    # encoder pass); None: the selector reads `vector`.
    selector_input: npt.NDArray[np.float32] | None = None


def index_store() -> IndexStore:
    return IndexStore(settings.COPILOT_INDEX_DIR, rebuild_hint=REBUILD_HINT)


def intent_model_dir() -> Path | None:
    """The organisation's own intent model if trained, else the shipped one, else none."""
    for candidate in (Path(settings.COPILOT_INTENT_MODEL_DIR), SHIPPED_INTENT_DIR):
        if (candidate / "intent_model.json").is_file():
            return candidate
    return None


def selector_model_dir() -> Path | None:
    """The organisation's response selector, if `train_intent` has trained one."""
    candidate = Path(settings.COPILOT_SELECTOR_MODEL_DIR)
    return candidate if has_selector(candidate) else None


def selector_model_path() -> Path | None:
    """The organisation's response selector if trained, else the shipped one (trained on
    public support conversations, see README), else none."""
    own = selector_model_dir()
    if own is not None:
        return own
    if not settings.COPILOT_SELECTOR_SHIPPED or not SHIPPED_SELECTOR.is_file():
        return None
    return SHIPPED_SELECTOR.parent


def index_health(*, verify: bool) -> tuple[bool, str]:
    """Is a usable index published? `verify` also reads and checksums it (worker start-up);
    without it only the pointer and manifest are read (cheap enough for `manage.py check`)."""
    store = index_store()
    try:
        if verify:
            manifest = store.load().manifest
        else:
            manifest = store.read_manifest()
            index_file = store.index_path(manifest)
            if not index_file.is_file() or index_file.stat().st_size != manifest.size_bytes:
                return False, f"index file {index_file} is missing or truncated. {REBUILD_HINT}"
    except IndexStoreError as exc:
        return False, str(exc)
    return True, (
        f"generation {manifest.generation}, {manifest.count} cases, {manifest.kind} index, "
        f"model {manifest.model_version}"
    )


# How long a checksum of the published index file is trusted while the file looks unchanged
# (same generation, size, modification time and inode). Writing over the file shows at once;
# damage that leaves its times alone (a failing disk) shows within this time. Reading the file
# costs about a second per GB, once per period for every web process (the verdict is shared
# through the cache).
INDEX_CHECKSUM_TTL_SECONDS = 600


@dataclass(frozen=True)
class IndexState:
    """What the status endpoint and the supervisors' panel say about the published index."""

    state: str  # "ok", "missing" or "corrupt"
    generation: int | None

    @property
    def ok(self) -> bool:
        return self.state == "ok"


def index_state() -> IndexState:
    """Is the published generation whole? Its file is checked against the manifest's size and
    sha256; the verdict is cached per generation and file (see INDEX_CHECKSUM_TTL_SECONDS)."""
    store = index_store()
    try:
        manifest = store.read_manifest()
        stat = store.index_path(manifest).stat()
    except (IndexMissing, FileNotFoundError):
        return IndexState("missing", None)
    except IndexStoreError:
        return IndexState("corrupt", None)
    generation = manifest.generation
    seen = f"{store.root}:{generation}:{stat.st_size}:{stat.st_mtime_ns}:{stat.st_ino}"
    key = "copilot:index-state:" + hashlib.sha256(seen.encode()).hexdigest()[:32]
    state = cache.get(key)
    if state is None:
        try:
            store.verify(generation)
            state = "ok"
        except IndexMissing:
            state = "missing"
        except IndexStoreError as exc:
            logger.error("Similar-case index: %s", exc)
            state = "corrupt"
        cache.set(key, state, INDEX_CHECKSUM_TTL_SECONDS)
    return IndexState(state, generation)


class Engine:
    """Everything a worker needs to analyse a message. One per process: see `get_engine()`."""

    def __init__(self) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        self._lock = threading.Lock()
        # The warm-up thread and a first task may ask for the index at once: load it once.
        self._index_lock = threading.Lock()
        self._intent: IntentClassifier | None = None
        self._intent_loaded = False
        self._selector: ResponseSelector | None = None
        self._selector_loaded = False
        self._held: StoredIndex | None = None
        self._held_root: Path | None = None
        # generation -> {team id: sorted case ids}; rebuilt when the generation changes.
        self._team_cases: tuple[int, dict[int, npt.NDArray[np.int64]]] | None = None

    @property
    def encoder(self) -> Encoder:
        return get_encoder(settings.COPILOT_EMBEDDING_MODEL or None)

    @property
    def sentiment(self) -> SentimentAnalyzer:
        """The shipped fine-tuned branch by default; `COPILOT_SENTIMENT_MODEL=head` selects the
        earlier head, a `.safetensors` path another branch, any other path an HF classifier."""
        choice = settings.COPILOT_SENTIMENT_MODEL
        encoder_path = settings.COPILOT_EMBEDDING_MODEL or None
        try:
            if choice == "head":
                return get_sentiment_analyzer(encoder_path=encoder_path)
            if not choice or choice.endswith(".safetensors"):
                # The fine-tuned branch (scripts/finetune_sentiment.py) on the shared encoder.
                return get_sentiment_analyzer(
                    backend="branch", model_path=choice or None, encoder_path=encoder_path
                )
            return get_sentiment_analyzer(backend="transformers", model_path=choice)
        except (OSError, ValueError) as exc:
            raise EngineError(f"Sentiment model cannot be loaded: {exc}") from exc

    @property
    def intent(self) -> IntentClassifier | None:
        if not self._intent_loaded:
            with self._lock:
                if not self._intent_loaded:
                    directory = intent_model_dir()
                    if directory is not None:
                        try:
                            model = IntentClassifier.load(directory)
                        except (OSError, ValueError) as exc:
                            raise EngineError(f"Intent model in {directory}: {exc}") from exc
                        if settings.COPILOT_INTENT_THRESHOLD is not None:
                            # An explicit setting overrides the threshold saved with the model.
                            model = model.with_threshold(settings.COPILOT_INTENT_THRESHOLD)
                        self._intent = model
                    self._intent_loaded = True
        return self._intent

    @property
    def selector(self) -> ResponseSelector | None:
        """The trained response selector, or None (no model trained, or trained on another
        encoder): then suggestions are ranked by the encoder's cosine."""
        if not self._selector_loaded:
            with self._lock:
                if not self._selector_loaded:
                    directory = selector_model_path()
                    if directory is not None:
                        try:
                            model = load_selector(directory)
                        except (OSError, ValueError) as exc:
                            raise EngineError(f"Response selector in {directory}: {exc}") from exc
                        if model.encoder_version == self.encoder.version:
                            self._selector = model
                        else:
                            logger.warning(
                                "Response selector %s was trained on encoder %s, not %s; "
                                "ranking replies by cosine until train_intent runs again",
                                model.version,
                                model.encoder_version,
                                self.encoder.version,
                            )
                    self._selector_loaded = True
        return self._selector

    # --- similar-case index -------------------------------------------------------------

    def current_index(self) -> StoredIndex:
        """The newest published index; a cheap check of one small file when nothing changed.

        If a newer generation cannot be read, the one already held keeps serving (and the
        failure is logged): a bad publish must not blind the workers.
        """
        store = index_store()
        with self._index_lock:
            if self._held_root != store.root:
                # The setting changed (tests, a management command): what is held is another
                # index.
                self._held, self._held_root, self._team_cases = None, store.root, None
            try:
                self._held = store.load_if_newer(
                    self._held, expected_model_version=self.encoder.version
                )
            except IndexStoreError:
                if self._held is None:
                    raise
                logger.exception("Keeping index generation %s", self._held.generation)
            return self._held

    def team_case_ids(
        self, stored: StoredIndex, team_ids: Collection[int]
    ) -> npt.NDArray[np.int64]:
        """The ids of these teams' cases in this generation (one query per generation)."""
        cached = self._team_cases
        if cached is None or cached[0] != stored.generation:
            by_team: dict[int, list[int]] = {}
            in_index = stored.index.ids()
            for case_id, case_team in solved_case_teams():
                if case_id in in_index:
                    by_team.setdefault(case_team, []).append(case_id)
            cached = (
                stored.generation,
                {team: np.asarray(sorted(ids), dtype=np.int64) for team, ids in by_team.items()},
            )
            self._team_cases = cached
        parts = [cached[1][team] for team in team_ids if team in cached[1]]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)

    def similar(
        self,
        vector: npt.NDArray[np.float32],
        *,
        k: int,
        team_ids: Collection[int] | None,
        exclude: tuple[int, ...] = (),
    ) -> tuple[list[Neighbour], int]:
        """Top-k solved cases of these teams (all teams when None), and the index generation."""
        stored = self.current_index()
        allowed = None if team_ids is None else self.team_case_ids(stored, team_ids)
        hits = stored.index.search(vector.reshape(1, -1), k, exclude=exclude, allowed=allowed)
        return hits[0], stored.generation

    # --- analysis ------------------------------------------------------------------------

    def signals(
        self, texts: list[str]
    ) -> tuple[npt.NDArray[np.float32], list[SentimentResult], list[IntentPrediction] | None]:
        """Embeddings, sentiment and intent of a batch of texts."""
        vectors, sentiments, intents, _ = self._signals(texts)
        return vectors, sentiments, intents

    def _signals(
        self, texts: list[str]
    ) -> tuple[
        npt.NDArray[np.float32],
        list[SentimentResult],
        list[IntentPrediction] | None,
        npt.NDArray[np.float32] | None,
    ]:
        """Embeddings, sentiment, intent and the response selector's request vectors (None
        when the selector reads the embedding) of a batch of texts.

        With the shipped sentiment head (or the fine-tuned branch) on the same encoder, one
        forward pass of the encoder serves all of them: the embedding for intent and search, its
        hidden states for sentiment and for the selector's request branch.
        """
        try:
            encoder = self.encoder
            sentiment = self.sentiment
            selector = self.selector
            branch = selector.branch_inputs if selector and selector.request_branch else None
            selector_inputs = None
            if isinstance(sentiment, BranchSentimentAnalyzer) and sentiment.encoder is encoder:
                vectors, sentiments, selector_inputs = sentiment.analyse_with_extra(texts, branch)
            elif isinstance(sentiment, HeadSentimentAnalyzer) and sentiment.encoder is encoder:
                vectors, means = encoder.encode_with_layer_means(texts, sentiment.layers)
                sentiments = sentiment.analyse_layer_means(texts, means)
            else:
                vectors = encoder.encode(texts)
                sentiments = sentiment.analyse(texts)
            if branch is not None and selector_inputs is None and selector is not None:
                # Another sentiment backend: the selector's branch needs a pass of its own.
                selector_inputs = selector.request_inputs(texts, encoder)
            intent_model = self.intent
            intents = (
                intent_model.predict(texts, embeddings=vectors, encoder=encoder)
                if intent_model is not None
                else None
            )
        except EngineError:
            raise
        except (OSError, ValueError, RuntimeError) as exc:
            raise EngineError(f"{type(exc).__name__}: {exc}") from exc
        return vectors, sentiments, intents, selector_inputs

    def analyse_many(
        self,
        texts: list[str],
        *,
        team_ids: list[int | None],
        exclude_cases: list[int | None] | None = None,
    ) -> list[TextAnalysis]:
        """Analyse texts in one batch (a history after an import, a benchmark); each text is
        matched against the solved cases of its own team."""
        vectors, sentiments, intents, selector_inputs = self._signals(texts)
        versions: dict[str, Any] = {
            "encoder": self.encoder.version,
            "sentiment": sentiments[0].model_version if sentiments else "",
        }
        notes: list[str] = []
        if intents is not None:
            versions["intent"] = intents[0].model_version if intents else ""
        else:
            notes.append("no intent model trained yet (python manage.py train_intent)")
        neighbours: list[list[Neighbour]] = [[] for _ in texts]
        excludes = exclude_cases or [None] * len(texts)
        k = settings.COPILOT_SIMILAR_CASES
        # With an intent model, fetch a pool and re-rank it by intent (see rerank_by_intent).
        pool = max(k, INTENT_RERANK_POOL) if intents is not None else k
        try:
            stored = self.current_index()
            versions["index_generation"] = stored.generation
            for team in set(team_ids):
                rows = [i for i, t in enumerate(team_ids) if t == team]
                allowed = None if team is None else self.team_case_ids(stored, [team])
                # Each row excludes at most its own ticket: one extra hit covers it.
                extra = int(any(excludes[i] is not None for i in rows))
                hits = stored.index.search(vectors[rows], pool + extra, allowed=allowed)
                for row, found in zip(rows, hits, strict=True):
                    neighbours[row] = [n for n in found if n.id != excludes[row]][:pool]
            if intents is not None:
                neighbours = self._rerank(neighbours, intents, k)
        except IndexStoreError as exc:
            logger.error("Similar-case index unavailable: %s", exc)
            notes.append("similar-case index unavailable; an admin must rebuild it")
        return [
            TextAnalysis(
                sentiment=sentiments[i],
                intent=intents[i] if intents is not None else None,
                neighbours=neighbours[i],
                model_versions=dict(versions),
                notes=list(notes),
                vector=vectors[i],
                selector_input=selector_inputs[i] if selector_inputs is not None else None,
            )
            for i in range(len(texts))
        ]

    @staticmethod
    def _rerank(
        neighbours: list[list[Neighbour]], intents: list[IntentPrediction], k: int
    ) -> list[list[Neighbour]]:
        """Cases of the intent the message most likely has move up (cosine orders within)."""
        labels = case_intents(ids={n.id for row in neighbours for n in row})
        out = []
        for row, prediction in zip(neighbours, intents, strict=True):
            probabilities = {s.label: s.score for s in prediction.top}
            ranked = rerank_by_intent(
                row, case_intents=labels, query_intent_probabilities=probabilities
            )
            out.append(ranked[:k])
        return out

    def analyse(
        self, text: str, *, team_id: int | None, exclude_case: int | None = None
    ) -> TextAnalysis:
        return self.analyse_many([text], team_ids=[team_id], exclude_cases=[exclude_case])[0]

    def warm_up(self) -> None:
        """Load every model now (a worker does this at start), and say clearly what is wrong."""
        self.encoder.encode(["warm up"])
        self.sentiment.analyse(["warm up"])
        if self.intent is None:
            logger.warning("No intent model: intents will be empty until train_intent runs")
        try:
            stored = self.current_index()
            logger.info(
                "Similar-case index generation %s: %s cases", stored.generation, len(stored.index)
            )
        except IndexStoreError as exc:
            logger.error("Similar-case index: %s", exc)


_engine: Engine | None = None
_engine_lock = threading.Lock()


def get_engine() -> Engine:
    global _engine
    if _engine is None:
        with _engine_lock:
            if _engine is None:
                _engine = Engine()
    return _engine


def get_selector() -> ResponseSelector | None:
    """The process's response selector, or None when none is trained (rank by cosine then).
    Every suggestion records `selector.version`."""
    return get_engine().selector


def reset_engine() -> None:
    """Forget the process's engine (tests that change model settings)."""
    global _engine
    with _engine_lock:
        _engine = None


__all__ = [
    "UNSURE",
    "Engine",
    "EngineError",
    "TextAnalysis",
    "get_engine",
    "get_selector",
    "index_store",
]
