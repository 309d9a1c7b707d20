"""Similar-case index on FAISS (in memory). Persistence lives in `store.py`.

Vectors are the encoder's unit vectors, so inner product == cosine similarity; ids are the
int64 primary keys of the cases in the database.

Kinds:
* "flat" (default): exact search, `IndexIDMap2(IndexFlatIP)`. Fine up to a few 100k cases.
* "hnsw": graph search, `IndexIDMap2(IndexHNSWFlat)`. FAISS cannot delete from HNSW, so
  remove() and replacing an existing id rebuild the graph from the stored vectors.
* "ivf": inverted lists, `IndexIVFFlat` with its own id storage. Not wrapped in IndexIDMap2:
  IDMap's remove_ids assumes the inner index renumbers like a flat index does, which IVF does
  not, and searches then return wrong ids after a delete (reproduced on faiss-cpu 1.15.1).
  IVF must be trained; with few vectors nlist is chosen from n, and with none it falls back
  to flat.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import faiss
import numpy as np
import numpy.typing as npt

IndexKind = Literal["flat", "hnsw", "ivf"]
KINDS: tuple[IndexKind, ...] = ("flat", "hnsw", "ivf")

# HNSW parameters: M=32 / efSearch=64 is FAISS's usual recall>0.95 point for 384-d text
# embeddings; efConstruction=80 keeps build time at a few seconds per 10k vectors on 2 cores.
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH = 64
# FAISS warns below 39 training points per centroid; 4*sqrt(n) is its usual nlist guide.
IVF_MIN_POINTS_PER_LIST = 39
# A search restricted to some ids first fetches up to this many unrestricted hits and filters
# them (see SimilarCaseIndex._search_allowed); beyond it the id selector is cheaper.
ALLOWED_OVERFETCH_MAX = 512
# faiss's bundled type stubs omit DirectMap; the attribute exists at run time.
_DIRECT_MAP_HASHTABLE: int = faiss.DirectMap.Hashtable  # type: ignore[attr-defined]

IdArray = npt.NDArray[np.int64]
CaseIds = Iterable[int] | npt.NDArray[np.integer[Any]]
# A group's key in `subsets` (a team, or a team and a company).
K = TypeVar("K", bound=Hashable)
FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Neighbour:
    id: int
    score: float  # cosine similarity in [-1, 1]


# Weight of intent agreement against cosine similarity when re-ranking. Chosen on an inner
# 80/20 split of the Bitext *training* rows (grid 0.02-1.0; P@5 rises to 99.3 at 0.3 and stays
# flat), so intent agreement dominates and cosine orders cases within an intent.
INTENT_RERANK_WEIGHT = 0.3


def rerank_by_intent(
    neighbours: Sequence[Neighbour],
    *,
    case_intents: Mapping[int, str],
    query_intent_probabilities: Mapping[str, float],
    weight: float = INTENT_RERANK_WEIGHT,
) -> list[Neighbour]:
    """Re-order dense hits by cosine + weight * P(the query has the case's intent).

    For histories whose cases carry an intent (assigned by agents or by the intent
    classifier). Search with a generous k (e.g. 50) first, then keep the top of this list.
    The returned `score` stays the cosine similarity, which is what agents are shown; only
    the order changes. Cases without a known intent get no bonus.
    """

    def key(neighbour: Neighbour) -> float:
        intent = case_intents.get(neighbour.id)
        bonus = query_intent_probabilities.get(intent, 0.0) if intent is not None else 0.0
        return neighbour.score + weight * bonus

    return sorted(neighbours, key=key, reverse=True)


def _as_ids(ids: CaseIds) -> IdArray:
    array = ids if isinstance(ids, np.ndarray) else np.asarray(list(ids))
    if array.size == 0:
        return np.zeros(0, dtype=np.int64)
    if array.ndim != 1 or not np.issubdtype(array.dtype, np.integer):
        raise ValueError("ids must be a 1-d sequence of integers")
    return np.ascontiguousarray(array, dtype=np.int64)


def _as_vectors(vectors: npt.ArrayLike, dim: int) -> FloatArray:
    array = np.asarray(vectors, dtype=np.float32)
    if array.ndim == 1 and array.size == dim:
        array = array.reshape(1, dim)
    if array.size == 0:
        return np.zeros((0, dim), dtype=np.float32)
    if array.ndim != 2 or array.shape[1] != dim:
        raise ValueError(f"vectors must have shape (n, {dim}), got {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError("vectors contain NaN or infinity")
    return np.ascontiguousarray(array)


def ivf_nlist_for(n: int) -> int:
    """Number of IVF lists for n training vectors (>= 1)."""
    return max(1, min(round(4 * math.sqrt(max(n, 1))), n // IVF_MIN_POINTS_PER_LIST))


def ivf_nprobe_for(nlist: int) -> int:
    # Probing 1/8 of the lists (at least 16) keeps recall@10 above ~0.95 on sentence
    # embeddings while still skipping most of the data for large nlist.
    return min(nlist, max(16, nlist // 8))


class SimilarCaseIndex:
    """An in-memory FAISS index keyed by int64 case ids. Not thread-safe for writes."""

    def __init__(self, dim: int, kind: IndexKind = "flat") -> None:
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
        if dim <= 0:
            raise ValueError("dim must be positive")
        self.dim = dim
        # The kind actually built: "ivf" requested on an empty history becomes "flat".
        self.kind: IndexKind = kind
        self.requested_kind: IndexKind = kind
        self._ids: set[int] = set()
        self._index: Any = self._new_index(kind, n_train=0)

    # --- construction ----------------------------------------------------------------

    def _new_index(self, kind: IndexKind, n_train: int) -> Any:
        if kind == "flat":
            return faiss.IndexIDMap2(faiss.IndexFlatIP(self.dim))
        if kind == "hnsw":
            hnsw = faiss.IndexHNSWFlat(self.dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
            hnsw.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
            hnsw.hnsw.efSearch = HNSW_EF_SEARCH
            return faiss.IndexIDMap2(hnsw)
        nlist = ivf_nlist_for(n_train)
        quantizer = faiss.IndexFlatIP(self.dim)
        ivf = faiss.IndexIVFFlat(quantizer, self.dim, nlist, faiss.METRIC_INNER_PRODUCT)
        ivf.nprobe = ivf_nprobe_for(nlist)
        # The hashtable direct map gives reconstruct(id) and survives remove_ids.
        ivf.set_direct_map_type(_DIRECT_MAP_HASHTABLE)
        return ivf

    @classmethod
    def build(
        cls,
        ids: CaseIds,
        vectors: npt.ArrayLike,
        *,
        kind: IndexKind = "flat",
        dim: int | None = None,
    ) -> SimilarCaseIndex:
        """A fresh index over (ids, vectors). IVF is trained on these vectors."""
        id_array = _as_ids(ids)
        raw = np.asarray(vectors, dtype=np.float32)
        if dim is None:
            if raw.ndim != 2:
                raise ValueError("pass dim= when building from no vectors")
            dim = int(raw.shape[1])
        matrix = _as_vectors(raw, dim)
        if len(id_array) != len(matrix):
            raise ValueError(f"{len(id_array)} ids but {len(matrix)} vectors")
        id_array, matrix = _last_wins(id_array, matrix)
        index = cls(dim, "flat" if kind == "ivf" else kind)
        index.requested_kind = kind
        if kind == "ivf":
            if len(matrix) == 0:
                # Nothing to train on: exact search over nothing is still correct.
                index.kind = "flat"
            else:
                index.kind = "ivf"
                index._index = index._new_index("ivf", n_train=len(matrix))
                index._index.train(matrix)
        index._raw_add(id_array, matrix)
        return index

    # --- mutation --------------------------------------------------------------------

    def add(self, ids: CaseIds, vectors: npt.ArrayLike) -> None:
        """Add cases; an id already present is replaced (its old vector is dropped)."""
        id_array = _as_ids(ids)
        matrix = _as_vectors(vectors, self.dim)
        if len(id_array) != len(matrix):
            raise ValueError(f"{len(id_array)} ids but {len(matrix)} vectors")
        if len(id_array) == 0:
            return
        id_array, matrix = _last_wins(id_array, matrix)
        existing = [i for i in id_array.tolist() if i in self._ids]
        if existing:
            self.remove(existing)
        self._raw_add(id_array, matrix)

    def _raw_add(self, ids: IdArray, vectors: FloatArray) -> None:
        if len(ids) == 0:
            return
        self._index.add_with_ids(vectors, ids)
        self._ids.update(ids.tolist())

    def remove(self, ids: CaseIds) -> int:
        """Remove cases by id; unknown ids are ignored. Returns how many were removed."""
        present = [i for i in _as_ids(ids).tolist() if i in self._ids]
        if not present:
            return 0
        if self.kind == "hnsw":
            keep_ids, keep_vectors = self._all_vectors(exclude=set(present))
            self._index = self._new_index("hnsw", n_train=0)
            self._ids = set()
            self._raw_add(keep_ids, keep_vectors)
        else:
            removed = int(self._index.remove_ids(np.asarray(present, dtype=np.int64)))
            if removed != len(present):
                raise RuntimeError(f"FAISS removed {removed} of {len(present)} ids")
            self._ids.difference_update(present)
        return len(present)

    def _all_vectors(self, exclude: Collection[int] = ()) -> tuple[IdArray, FloatArray]:
        """All (ids, vectors) currently stored, for rebuilds."""
        if self.kind == "ivf":
            ids = np.asarray(sorted(self._ids), dtype=np.int64)
            vectors = np.vstack([self._index.reconstruct(int(i)) for i in ids]).astype(np.float32)
        else:
            ids = faiss.vector_to_array(self._index.id_map).astype(np.int64)
            vectors = self._index.index.reconstruct_n(0, self._index.ntotal)
        keep = np.array([int(i) not in exclude for i in ids], dtype=bool)
        return ids[keep], np.ascontiguousarray(vectors[keep], dtype=np.float32)

    def subsets(self, groups: Mapping[K, CaseIds]) -> dict[K, SimilarCaseIndex]:
        """For each group of ids, an exact (flat) index of those cases only, their vectors
        copied from this one (ids not held here are skipped). A search of a group's own index
        gives the same hits as `search(..., allowed=group)` and reads only the group's
        vectors."""
        ids, vectors = self._all_vectors()
        out: dict[K, SimilarCaseIndex] = {}
        for key, group in groups.items():
            keep = _members(ids, np.sort(_as_ids(group)))
            out[key] = SimilarCaseIndex.build(ids[keep], vectors[keep], kind="flat", dim=self.dim)
        return out

    # --- queries ---------------------------------------------------------------------

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def __contains__(self, case_id: object) -> bool:
        return isinstance(case_id, (int, np.integer)) and int(case_id) in self._ids

    def contains(self, case_id: int) -> bool:
        return case_id in self

    def ids(self) -> frozenset[int]:
        return frozenset(self._ids)

    def search(
        self,
        vectors: npt.ArrayLike,
        k: int,
        *,
        exclude: Collection[int] = (),
        allowed: npt.NDArray[np.int64] | None = None,
    ) -> list[list[Neighbour]]:
        """Top-k neighbours per query row, best first. Missing slots (-1) are skipped.

        `exclude` drops ids from the results (typically the query case itself); the search
        over-fetches so up to k results still come back. `allowed`, when given, restricts the
        search itself to those ids (a team's own cases), so a small team still gets its k
        best cases however many other cases rank above them.
        """
        if k <= 0:
            raise ValueError("k must be positive")
        queries = _as_vectors(vectors, self.dim)
        if len(queries) == 0:
            return []
        if len(self) == 0 or (allowed is not None and len(allowed) == 0):
            return [[] for _ in range(len(queries))]
        excluded = {int(i) for i in exclude}
        fetch = min(len(self), k + len(excluded))
        if allowed is None:
            scores, ids = self._index.search(queries, fetch)
        else:
            scores, ids = self._search_allowed(queries, fetch, _as_ids(allowed))
        results: list[list[Neighbour]] = []
        for row_scores, row_ids in zip(scores, ids, strict=True):
            row: list[Neighbour] = []
            for score, case_id in zip(row_scores.tolist(), row_ids.tolist(), strict=True):
                if case_id == -1 or case_id in excluded:
                    continue
                row.append(Neighbour(id=int(case_id), score=float(score)))
                if len(row) == k:
                    break
            results.append(row)
        return results

    def _search_allowed(
        self, queries: FloatArray, k: int, allowed: IdArray
    ) -> tuple[npt.NDArray[np.float32], IdArray]:
        """Top-k among `allowed` ids only.

        First an unrestricted search for enough hits that k allowed ones are expected among
        them (fast: one matrix product for the whole batch); where at least k allowed ids (or
        all of them) came back, those are exactly the top-k allowed ones. Rows that fell short
        are searched again with a FAISS id selector, which checks every candidate against the
        allowed set and is several times slower, so it is kept for rare, small id sets.
        """
        n = len(queries)
        out_scores = np.full((n, k), -np.inf, dtype=np.float32)
        out_ids = np.full((n, k), -1, dtype=np.int64)
        wanted = min(k, len(allowed))
        share = len(allowed) / max(1, len(self))
        overfetch = min(len(self), max(4 * k, math.ceil(2 * k / share)))
        short = list(range(n))
        if overfetch <= ALLOWED_OVERFETCH_MAX:
            scores, ids = self._index.search(queries, overfetch)
            keep = _members(ids, allowed)
            short = []
            for row in range(n):
                row_ids = ids[row][keep[row]][:k]
                if len(row_ids) < wanted:
                    short.append(row)
                    continue
                out_ids[row, : len(row_ids)] = row_ids
                out_scores[row, : len(row_ids)] = scores[row][keep[row]][:k]
        if short:
            params = self._search_params(faiss.IDSelectorBatch(allowed))
            scores, ids = self._index.search(queries[short], k, params=params)
            out_scores[short], out_ids[short] = scores, ids
        return out_scores, out_ids

    def _search_params(self, selector: Any) -> Any:
        """Search parameters carrying an id selector, keeping the kind's own tuning."""
        # faiss's Python layer accepts these keyword arguments (and keeps the selector alive);
        # its generated SWIG signatures do not list them.
        wrapper: Any = faiss
        if self.kind == "ivf":
            return wrapper.SearchParametersIVF(sel=selector, nprobe=int(self._index.nprobe))
        if self.kind == "hnsw":
            hnsw: Any = faiss.downcast_index(self._index.index)
            return wrapper.SearchParametersHNSW(sel=selector, efSearch=int(hnsw.hnsw.efSearch))
        return wrapper.SearchParameters(sel=selector)

    # --- (de)serialisation -----------------------------------------------------------

    def to_bytes(self) -> bytes:
        return bytes(faiss.serialize_index(self._index).tobytes())

    @classmethod
    def from_bytes(cls, data: bytes, *, kind: IndexKind, dim: int) -> SimilarCaseIndex:
        raw: Any = faiss.deserialize_index(np.frombuffer(data, dtype=np.uint8))
        if int(raw.d) != dim:
            raise ValueError(f"index has dimension {raw.d}, expected {dim}")
        index = cls(dim, "flat")
        index.kind = kind
        index.requested_kind = kind
        if kind == "ivf":
            ivf = faiss.extract_index_ivf(raw)
            ivf.set_direct_map_type(_DIRECT_MAP_HASHTABLE)
            index._ids = set(_ivf_ids(ivf))
        else:
            index._ids = set(faiss.vector_to_array(raw.id_map).astype(np.int64).tolist())
        index._index = raw
        if len(index._ids) != int(raw.ntotal):
            raise ValueError("index holds duplicate ids")
        return index

    def params(self) -> dict[str, Any]:
        """Kind-specific settings, recorded in a store manifest."""
        if self.kind == "ivf":
            return {"nlist": int(self._index.nlist), "nprobe": int(self._index.nprobe)}
        if self.kind == "hnsw":
            hnsw: Any = faiss.downcast_index(self._index.index)
            return {"M": HNSW_M, "efSearch": int(hnsw.hnsw.efSearch)}
        return {}


def _members(ids: IdArray, allowed: IdArray) -> npt.NDArray[np.bool_]:
    """`np.isin(ids, allowed)` by binary search in the sorted allowed ids: a few hundred hits
    against a team's tens of thousands of cases, where isin would sort them all on every
    query (about 2 ms of the search's time per message)."""
    if len(allowed) == 0:
        return np.zeros(ids.shape, dtype=np.bool_)
    if len(allowed) > 1 and not bool(np.all(allowed[:-1] <= allowed[1:])):
        allowed = np.sort(allowed)
    at = np.minimum(np.searchsorted(allowed, ids), len(allowed) - 1)
    found: npt.NDArray[np.bool_] = allowed[at] == ids
    return found


def _ivf_ids(ivf: Any) -> list[int]:
    lists = ivf.invlists
    out: list[int] = []
    for list_no in range(ivf.nlist):
        size = lists.list_size(list_no)
        if size:
            out.extend(faiss.rev_swig_ptr(lists.get_ids(list_no), size).tolist())
    return out


def _last_wins(ids: IdArray, vectors: FloatArray) -> tuple[IdArray, FloatArray]:
    """Deduplicate ids within one call; the last occurrence is the newest data."""
    if len(np.unique(ids)) == len(ids):
        return ids, vectors
    last: dict[int, int] = {}
    for position, case_id in enumerate(ids.tolist()):
        last[case_id] = position
    keep = np.asarray(sorted(last.values()), dtype=np.int64)
    return ids[keep], vectors[keep]
