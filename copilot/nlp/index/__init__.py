"""Similar-case retrieval: a FAISS index keyed by case ids, and its on-disk store."""

from copilot.nlp.index.similar import (
    INTENT_RERANK_WEIGHT,
    KINDS,
    IndexKind,
    Neighbour,
    SimilarCaseIndex,
    ivf_nlist_for,
    ivf_nprobe_for,
    rerank_by_intent,
)
from copilot.nlp.index.store import (
    DEFAULT_REBUILD_HINT,
    IndexBusy,
    IndexCorrupt,
    IndexMissing,
    IndexModelMismatch,
    IndexStore,
    IndexStoreError,
    IndexWriter,
    Manifest,
    StoredIndex,
)

__all__ = [
    "DEFAULT_REBUILD_HINT",
    "INTENT_RERANK_WEIGHT",
    "KINDS",
    "IndexBusy",
    "IndexCorrupt",
    "IndexKind",
    "IndexMissing",
    "IndexModelMismatch",
    "IndexStore",
    "IndexStoreError",
    "IndexWriter",
    "Manifest",
    "Neighbour",
    "SimilarCaseIndex",
    "StoredIndex",
    "ivf_nlist_for",
    "ivf_nprobe_for",
    "rerank_by_intent",
]
