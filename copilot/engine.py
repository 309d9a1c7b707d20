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
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from django.conf import settings
from django.core.cache import cache

from copilot.intent_sets import DEFAULT_LABEL_SET, label_set_model_dir
from copilot.nlp.embeddings import Encoder, get_encoder
from copilot.nlp.index import (
    IndexMissing,
    IndexStore,
    IndexStoreError,
    Neighbour,
    SimilarCaseIndex,
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


def intent_model_dir(label_set: str = DEFAULT_LABEL_SET) -> Path | None:
    """The organisation's own intent model of this label set if trained, else the shipped one,
    else none (see copilot.intent_sets)."""
    return label_set_model_dir(label_set)


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
        # label set -> its model, or None when the set has none; loaded on first use.
        self._intents: dict[str, IntentClassifier | None] = {}
        self._selector: ResponseSelector | None = None
        self._selector_loaded = False
        self._held: StoredIndex | None = None
        self._held_root: Path | None = None
        # generation -> {(team id, company): sorted case ids}; rebuilt when the generation
        # changes.
        self._team_cases: tuple[int, dict[tuple[int, str], npt.NDArray[np.int64]]] | None = None
        # generation -> {(team id, company): an exact index of those cases only} (flat indexes).
        self._team_indexes: tuple[int, dict[tuple[int, str], SimilarCaseIndex]] | None = None

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
        """The default label set's intent model (see `intent_for`)."""
        return self.intent_for(DEFAULT_LABEL_SET)

    def intent_for(self, label_set: str) -> IntentClassifier | None:
        """The intent model of a label set, with the threshold saved with it; None when the set
        has no model (nothing trained or shipped for it)."""
        if label_set not in self._intents:
            with self._lock:
                if label_set not in self._intents:
                    try:
                        directory = intent_model_dir(label_set)
                    except ValueError as exc:
                        raise EngineError(f"Intent label set: {exc}") from exc
                    model = None
                    if directory is not None:
                        try:
                            model = IntentClassifier.load(directory)
                        except (OSError, ValueError) as exc:
                            raise EngineError(f"Intent model in {directory}: {exc}") from exc
                        if settings.COPILOT_INTENT_THRESHOLD is not None:
                            # An explicit setting overrides the threshold saved with the model.
                            model = model.with_threshold(settings.COPILOT_INTENT_THRESHOLD)
                    self._intents[label_set] = model
        return self._intents[label_set]

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
                self._held, self._held_root = None, store.root
                self._team_cases = self._team_indexes = None
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
        self, stored: StoredIndex, team_ids: Collection[int], company: str | None = None
    ) -> npt.NDArray[np.int64]:
        """The ids of these teams' cases in this generation (one query per generation); with
        `company`, only that company's cases ("" : the cases without one)."""
        teams = set(team_ids)
        parts = [
            ids
            for (team, case_company), ids in self._team_map(stored).items()
            if team in teams and (company is None or case_company == company)
        ]
        return np.sort(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.int64)

    def _team_map(self, stored: StoredIndex) -> dict[tuple[int, str], npt.NDArray[np.int64]]:
        cached = self._team_cases
        if cached is None or cached[0] != stored.generation:
            by_scope: dict[tuple[int, str], list[int]] = {}
            in_index = stored.index.ids()
            for case_id, case_team, case_company in solved_case_teams():
                if case_id in in_index:
                    by_scope.setdefault((case_team, case_company), []).append(case_id)
            cached = (
                stored.generation,
                {scope: np.asarray(sorted(ids), dtype=np.int64) for scope, ids in by_scope.items()},
            )
            self._team_cases = cached
        return cached[1]

    def team_search(
        self,
        stored: StoredIndex,
        vectors: npt.NDArray[np.float32],
        k: int,
        *,
        team_ids: Collection[int] | None,
        exclude: Collection[int] = (),
        company: str | None = None,
    ) -> list[list[Neighbour]]:
        """Top-k of these teams' cases (all teams when None; with `company`, that company's
        cases of them) for each row of `vectors`.

        A single team and company's search over an exact index reads only those vectors, from a
        copy of them made once per generation (COPILOT_INDEX_PER_TEAM): the same hits as
        filtering the whole index by their ids, in their share of the time. Approximate kinds,
        and several teams or companies at once, are searched with the ids as a filter.
        """
        if team_ids is None:
            return stored.index.search(vectors, k, exclude=exclude)
        if (
            len(team_ids) == 1
            and company is not None
            and stored.index.kind == "flat"
            and settings.COPILOT_INDEX_PER_TEAM
        ):
            [team] = team_ids
            own = self._team_index(stored).get((team, company))
            if own is None:  # no case of this team and company in this generation
                return [[] for _ in range(len(vectors))]
            return own.search(vectors, k, exclude=exclude)
        allowed = self.team_case_ids(stored, team_ids, company)
        return stored.index.search(vectors, k, exclude=exclude, allowed=allowed)

    def _team_index(self, stored: StoredIndex) -> dict[tuple[int, str], SimilarCaseIndex]:
        cached = self._team_indexes
        if cached is None or cached[0] != stored.generation:
            cached = (stored.generation, stored.index.subsets(self._team_map(stored)))
            self._team_indexes = cached
        return cached[1]

    def similar(
        self,
        vector: npt.NDArray[np.float32],
        *,
        k: int,
        team_ids: Collection[int] | None,
        exclude: tuple[int, ...] = (),
        company: str | None = None,
    ) -> tuple[list[Neighbour], int]:
        """Top-k solved cases of these teams (all teams when None; with `company`, that
        company's cases of them), and the index generation."""
        stored = self.current_index()
        hits = self.team_search(
            stored, vector.reshape(1, -1), k, team_ids=team_ids, exclude=exclude, company=company
        )
        return hits[0], stored.generation

    # --- analysis ------------------------------------------------------------------------

    def signals(
        self, texts: list[str], *, label_sets: Sequence[str] | None = None
    ) -> tuple[npt.NDArray[np.float32], list[SentimentResult], list[IntentPrediction | None]]:
        """Embeddings, sentiment and intent of a batch of texts (see `_signals`)."""
        vectors, sentiments, intents, _ = self._signals(texts, label_sets=label_sets)
        return vectors, sentiments, intents

    def _signals(
        self, texts: list[str], *, label_sets: Sequence[str] | None = None
    ) -> tuple[
        npt.NDArray[np.float32],
        list[SentimentResult],
        list[IntentPrediction | None],
        npt.NDArray[np.float32] | None,
    ]:
        """Embeddings, sentiment, intent and the response selector's request vectors (None
        when the selector reads the embedding) of a batch of texts.

        Each text's intent comes from the model of its label set (`label_sets`, one per text;
        the default set for all when None), None where that set has no model.

        With the shipped sentiment head (or the fine-tuned branch) on the same encoder, one
        forward pass of the encoder serves all of them: the embedding for intent and search, its
        hidden states for sentiment and for the selector's request branch.
        """
        sets = list(label_sets) if label_sets is not None else [DEFAULT_LABEL_SET] * len(texts)
        if len(sets) != len(texts):
            raise ValueError(f"{len(texts)} texts but {len(sets)} label sets")
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
            intents: list[IntentPrediction | None] = [None] * len(texts)
            for label_set in sorted(set(sets)):
                intent_model = self.intent_for(label_set)
                if intent_model is None:
                    continue
                rows = [i for i, s in enumerate(sets) if s == label_set]
                predicted = intent_model.predict(
                    [texts[i] for i in rows], embeddings=vectors[rows], encoder=encoder
                )
                for row, prediction in zip(rows, predicted, strict=True):
                    intents[row] = prediction
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
        label_sets: Sequence[str] | None = None,
        companies: list[str] | None = None,
    ) -> list[TextAnalysis]:
        """Analyse texts in one batch (a history after an import, a benchmark); each text is
        matched against the solved cases of its own team and, with `companies`, its own
        company (a brand's customer is never shown another brand's case), and read with the
        intents of its own label set (`label_sets`, one per text; the default set for all when
        None)."""
        sets = list(label_sets) if label_sets is not None else [DEFAULT_LABEL_SET] * len(texts)
        vectors, sentiments, intents, selector_inputs = self._signals(texts, label_sets=sets)
        versions: dict[str, Any] = {
            "encoder": self.encoder.version,
            "sentiment": sentiments[0].model_version if sentiments else "",
        }
        notes: list[str] = []
        neighbours: list[list[Neighbour]] = [[] for _ in texts]
        excludes = exclude_cases or [None] * len(texts)
        k = settings.COPILOT_SIMILAR_CASES
        # With an intent model, fetch a pool and re-rank it by intent (see rerank_by_intent).
        pool = max(k, INTENT_RERANK_POOL) if any(p is not None for p in intents) else k
        try:
            stored = self.current_index()
            versions["index_generation"] = stored.generation
            scopes: list[tuple[int | None, str | None]] = [
                (team, companies[i] if companies is not None else None)
                for i, team in enumerate(team_ids)
            ]
            for team, company in set(scopes):
                rows = [i for i, scope in enumerate(scopes) if scope == (team, company)]
                # Each row excludes at most its own ticket: one extra hit covers it.
                extra = int(any(excludes[i] is not None for i in rows))
                hits = self.team_search(
                    stored,
                    vectors[rows],
                    pool + extra,
                    team_ids=None if team is None else [team],
                    company=company,
                )
                for row, found in zip(rows, hits, strict=True):
                    neighbours[row] = [n for n in found if n.id != excludes[row]][:pool]
            neighbours = self._rerank(neighbours, intents, k)
        except IndexStoreError as exc:
            logger.error("Similar-case index unavailable: %s", exc)
            notes.append("similar-case index unavailable; an admin must rebuild it")
        out = []
        for i in range(len(texts)):
            prediction = intents[i]
            own_versions = {**versions, "intent_label_set": sets[i]}
            own_notes = list(notes)
            if prediction is not None:
                own_versions["intent"] = prediction.model_version
            elif sets[i] == DEFAULT_LABEL_SET:
                own_notes.append("no intent model trained yet (python manage.py train_intent)")
            else:
                own_notes.append(
                    f"no intent model for label set {sets[i]!r} yet "
                    f"(python manage.py train_intent --label-set {sets[i]})"
                )
            out.append(
                TextAnalysis(
                    sentiment=sentiments[i],
                    intent=prediction,
                    neighbours=neighbours[i],
                    model_versions=own_versions,
                    notes=own_notes,
                    vector=vectors[i],
                    selector_input=selector_inputs[i] if selector_inputs is not None else None,
                )
            )
        return out

    @staticmethod
    def _rerank(
        neighbours: list[list[Neighbour]], intents: list[IntentPrediction | None], k: int
    ) -> list[list[Neighbour]]:
        """Cases of the intent the message most likely has move up (cosine orders within);
        a text without an intent keeps the cosine order."""
        labels = case_intents(ids={n.id for row in neighbours for n in row})
        out = []
        for row, prediction in zip(neighbours, intents, strict=True):
            if prediction is None:
                out.append(row[:k])
                continue
            probabilities = {s.label: s.score for s in prediction.top}
            ranked = rerank_by_intent(
                row, case_intents=labels, query_intent_probabilities=probabilities
            )
            out.append(ranked[:k])
        return out

    def analyse(
        self,
        text: str,
        *,
        team_id: int | None,
        exclude_case: int | None = None,
        label_set: str = DEFAULT_LABEL_SET,
        company: str | None = None,
    ) -> TextAnalysis:
        return self.analyse_many(
            [text],
            team_ids=[team_id],
            exclude_cases=[exclude_case],
            label_sets=[label_set],
            companies=None if company is None else [company],
        )[0]

    def warm_up(self) -> None:
        """Load every model now (a worker does this at start), and say clearly what is wrong."""
        self.encoder.encode(["warm up"])
        self.sentiment.analyse(["warm up"])
        if self.intent is None:
            logger.warning("No intent model: intents will be empty until train_intent runs")
        for label_set in sorted(set(settings.COPILOT_INTENT_LABEL_SET_BY_CHANNEL.values())):
            if self.intent_for(label_set) is None:
                logger.warning(
                    "No intent model for label set %r: its tickets get no intent until "
                    "train_intent --label-set %s runs",
                    label_set,
                    label_set,
                )
        try:
            stored = self.current_index()
            if stored.index.kind == "flat" and settings.COPILOT_INDEX_PER_TEAM:
                self._team_index(stored)  # the teams' copies, before the first message needs them
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
