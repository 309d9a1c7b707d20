from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from copilot.nlp.index import (
    IndexBusy,
    IndexCorrupt,
    IndexKind,
    IndexMissing,
    IndexModelMismatch,
    IndexStore,
    Neighbour,
    SimilarCaseIndex,
    ivf_nlist_for,
    rerank_by_intent,
)

DIM = 16


def unit_vectors(n: int, seed: int = 0) -> npt.NDArray[np.float32]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, DIM)).astype(np.float32)
    out: npt.NDArray[np.float32] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


VECTORS = unit_vectors(300)
IDS = np.arange(10_000, 10_300, dtype=np.int64)


@pytest.mark.parametrize("kind", ["flat", "hnsw", "ivf"])
def test_each_vector_finds_itself_first(kind: IndexKind) -> None:
    index = SimilarCaseIndex.build(IDS, VECTORS, kind=kind)

    hits = index.search(VECTORS[:20], k=3)

    assert [row[0].id for row in hits] == IDS[:20].tolist()
    assert all(row[0].score == pytest.approx(1.0, abs=1e-5) for row in hits)
    assert len(index) == 300
    assert 10_005 in index and index.contains(10_005)
    assert 5 not in index


@pytest.mark.parametrize("kind", ["flat", "hnsw", "ivf"])
def test_remove_drops_cases_from_results(kind: IndexKind) -> None:
    index = SimilarCaseIndex.build(IDS, VECTORS, kind=kind)

    removed = index.remove([10_000, 10_001, 424242])

    assert removed == 2
    assert len(index) == 298
    assert 10_000 not in index
    hits = index.search(VECTORS[:3], k=5)
    assert all(n.id not in (10_000, 10_001) for row in hits for n in row)
    # The rest still map to the right ids after the delete (IVF/IDMap pitfall).
    assert hits[2][0].id == 10_002


@pytest.mark.parametrize("kind", ["flat", "hnsw", "ivf"])
def test_add_replaces_an_id_already_present(kind: IndexKind) -> None:
    index = SimilarCaseIndex.build(IDS, VECTORS, kind=kind)
    new_vector = unit_vectors(1, seed=99)

    index.add([10_007], new_vector)

    assert len(index) == 300
    assert index.search(new_vector, k=1)[0][0].id == 10_007
    assert index.search(VECTORS[7:8], k=1)[0][0].id != 10_007


def test_search_skips_missing_slots_and_excludes_ids() -> None:
    index = SimilarCaseIndex.build([1, 2, 3], VECTORS[:3])

    hits = index.search(VECTORS[:1], k=10, exclude=[1])

    assert sorted(n.id for n in hits[0]) == [2, 3]


def test_empty_index_searches_to_nothing_and_ivf_falls_back_to_flat() -> None:
    index = SimilarCaseIndex.build([], np.zeros((0, DIM), np.float32), kind="ivf")

    assert index.kind == "flat"
    assert index.search(VECTORS[:2], k=5) == [[], []]


def test_ivf_list_count_follows_history_size() -> None:
    assert ivf_nlist_for(10) == 1
    assert ivf_nlist_for(300) == 7
    assert ivf_nlist_for(100_000) == 1265


def test_wrong_dimension_is_rejected() -> None:
    index = SimilarCaseIndex.build(IDS[:3], VECTORS[:3])

    with pytest.raises(ValueError, match="shape"):
        index.add([1], np.ones((1, DIM + 1), np.float32))


# --- store -----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["flat", "hnsw", "ivf"])
def test_index_round_trips_through_the_store(tmp_path: Path, kind: IndexKind) -> None:
    store = IndexStore(tmp_path)
    index = SimilarCaseIndex.build(IDS, VECTORS, kind=kind)

    manifest = store.publish(index, model_version="minilm-abc")
    loaded = store.load(expected_model_version="minilm-abc")

    assert manifest.generation == 1
    assert loaded.manifest == manifest
    assert (manifest.kind, manifest.dim, manifest.count) == (kind, DIM, 300)
    assert loaded.index.kind == kind
    assert loaded.index.ids() == index.ids()
    assert loaded.index.search(VECTORS[:5], 3) == index.search(VECTORS[:5], 3)
    # The loaded index stays usable for incremental updates.
    loaded.index.remove([10_000])
    assert 10_000 not in loaded.index


def test_no_index_yet_says_how_to_rebuild(tmp_path: Path) -> None:
    store = IndexStore(tmp_path, rebuild_hint="Run manage.py copilot_rebuild_index.")

    assert store.current_generation() is None
    with pytest.raises(IndexMissing, match=r"Run manage\.py copilot_rebuild_index"):
        store.load()


def test_corrupted_index_file_is_detected(tmp_path: Path) -> None:
    store = IndexStore(tmp_path)
    store.publish(SimilarCaseIndex.build(IDS, VECTORS), model_version="m")
    path = tmp_path / "gen-00000001" / "index.faiss"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))

    with pytest.raises(IndexCorrupt, match=r"checksum.*Rebuild it"):
        store.load()


def test_manifest_count_mismatch_is_detected(tmp_path: Path) -> None:
    store = IndexStore(tmp_path)
    store.publish(SimilarCaseIndex.build(IDS, VECTORS), model_version="m")
    manifest_path = tmp_path / "gen-00000001" / "manifest.json"
    manifest_path.write_text(manifest_path.read_text().replace('"count": 300', '"count": 299'))

    with pytest.raises(IndexCorrupt, match="holds 300 cases, its manifest says 299"):
        store.load()


def test_index_from_another_embedding_model_is_refused(tmp_path: Path) -> None:
    store = IndexStore(tmp_path)
    store.publish(SimilarCaseIndex.build(IDS, VECTORS), model_version="old-model")

    with pytest.raises(IndexModelMismatch, match="old-model"):
        store.load(expected_model_version="new-model")


def test_publish_interrupted_before_pointer_swap_leaves_readers_on_previous(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = IndexStore(tmp_path)
    store.publish(SimilarCaseIndex.build(IDS[:10], VECTORS[:10]), model_version="m")

    def crash(self: IndexStore, generation: int) -> None:
        raise KeyboardInterrupt("power cut")

    monkeypatch.setattr(IndexStore, "_swap_pointer", crash)
    with pytest.raises(KeyboardInterrupt):
        store.publish(SimilarCaseIndex.build(IDS, VECTORS), model_version="m")
    monkeypatch.undo()

    loaded = store.load()
    assert store.current_generation() == 1
    assert len(loaded.index) == 10
    # The orphaned generation 2 is skipped and cleaned up by the next publish.
    assert store.publish(SimilarCaseIndex.build(IDS, VECTORS), model_version="m").generation == 3
    assert store.generations() == [1, 3]


def test_old_generations_are_pruned_to_the_last_two(tmp_path: Path) -> None:
    store = IndexStore(tmp_path)
    for n in (5, 6, 7, 8):
        store.publish(SimilarCaseIndex.build(IDS[:n], VECTORS[:n]), model_version="m")

    assert store.generations() == [3, 4]
    assert store.current_generation() == 4
    assert store.read_manifest().previous_generation == 3
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-")]


def test_reader_reloads_only_when_a_newer_generation_is_published(tmp_path: Path) -> None:
    store = IndexStore(tmp_path)
    store.publish(SimilarCaseIndex.build(IDS[:5], VECTORS[:5]), model_version="m")
    held = store.load()

    assert store.load_if_newer(held) is held
    store.publish(SimilarCaseIndex.build(IDS[:6], VECTORS[:6]), model_version="m")
    fresh = store.load_if_newer(held)
    assert (fresh.generation, len(fresh.index)) == (2, 6)


def test_concurrent_readers_always_see_a_complete_generation(tmp_path: Path) -> None:
    store = IndexStore(tmp_path)
    store.publish(SimilarCaseIndex.build(IDS[:50], VECTORS[:50]), model_version="m")
    errors: list[BaseException] = []
    seen: list[tuple[int, int]] = []
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            try:
                loaded = store.load()
                seen.append((loaded.generation, len(loaded.index)))
            except BaseException as exc:
                errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    for n in range(51, 71):
        store.publish(SimilarCaseIndex.build(IDS[:n], VECTORS[:n]), model_version="m")
    stop.set()
    for t in threads:
        t.join()

    assert errors == []
    assert seen
    # Generation g always holds exactly 49 + g cases: never a half-written one.
    assert all(count == 49 + generation for generation, count in seen)


def test_intent_rerank_puts_cases_of_the_likely_intent_first_but_keeps_cosine() -> None:
    hits = [Neighbour(1, 0.80), Neighbour(2, 0.78), Neighbour(3, 0.60)]

    reranked = rerank_by_intent(
        hits,
        case_intents={1: "cancel_order", 2: "track_order", 3: "track_order"},
        query_intent_probabilities={"track_order": 0.9, "cancel_order": 0.1},
        weight=0.3,
    )

    assert [n.id for n in reranked] == [2, 3, 1]
    assert reranked[0].score == 0.78


@pytest.mark.parametrize("kind", ["flat", "hnsw", "ivf"])
def test_search_can_be_restricted_to_allowed_ids(kind: IndexKind) -> None:
    # Every 7th case belongs to "this team": its best five must come back, in exact order,
    # however many other cases are closer to the query.
    index = SimilarCaseIndex.build(IDS, VECTORS, kind=kind)
    allowed = IDS[::7]
    query = VECTORS[3]
    allowed_vectors = VECTORS[::7]
    expected = allowed[np.argsort(-(allowed_vectors @ query))[:5]].tolist()

    [hits] = index.search(query, 5, allowed=allowed)

    assert [h.id for h in hits] == expected
    assert index.search(query, 5, allowed=np.zeros(0, dtype=np.int64)) == [[]]


def test_restricted_search_is_exact_for_small_and_large_id_sets() -> None:
    # A large set is answered by filtering an unrestricted search, a tiny one (here 3 of 300)
    # by FAISS's id selector; both must give the exact top-k of the allowed ids, batch-wise.
    index = SimilarCaseIndex.build(IDS, VECTORS)
    queries = VECTORS[:20]
    for allowed in (IDS[::2], IDS[[5, 150, 299]]):
        allowed_vectors = VECTORS[np.isin(IDS, allowed)]
        hits = index.search(queries, 5, allowed=allowed)
        for query, row in zip(queries, hits, strict=True):
            order = np.argsort(-(allowed_vectors @ query))[: min(5, len(allowed))]
            assert [h.id for h in row] == allowed[order].tolist()


def test_restricted_search_takes_the_ids_in_any_order() -> None:
    # Several teams' cases come as their sorted lists one after the other: the filter must not
    # depend on the whole being sorted.
    index = SimilarCaseIndex.build(IDS, VECTORS)
    queries = VECTORS[:20]
    allowed = IDS[::3]
    shuffled = np.concatenate([allowed[1::2], allowed[::2]])

    assert index.search(queries, 5, allowed=shuffled) == index.search(queries, 5, allowed=allowed)
    allowed_vectors = VECTORS[::3]
    for query, row in zip(queries, index.search(queries, 5, allowed=shuffled), strict=True):
        assert [h.id for h in row] == allowed[np.argsort(-(allowed_vectors @ query))[:5]].tolist()


def test_prune_all_but_current_leaves_only_the_published_generation(tmp_path: Path) -> None:
    store = IndexStore(tmp_path)
    for n in (10, 20, 30):
        store.publish(SimilarCaseIndex.build(IDS[:n], VECTORS[:n]), model_version="m")

    assert store.prune_all_but_current() == 1  # the previous generation; older ones were pruned
    assert store.generations() == [3]
    assert len(store.load().index) == 30


def test_a_writer_holds_the_one_lock_from_its_read_to_its_publish(tmp_path: Path) -> None:
    store = IndexStore(tmp_path)
    store.publish(SimilarCaseIndex.build(IDS[:10], VECTORS[:10]), model_version="m")

    with store.writer(wait=False) as writer:
        index = store.load().index
        index.add(IDS[10:20], VECTORS[10:20])
        # Any other writer, a lone publish included, is kept out until this cycle publishes.
        with pytest.raises(IndexBusy), IndexStore(tmp_path).writer(wait=False):
            pass
        manifest = writer.publish(index, model_version="m")

    assert manifest.generation == 2 and len(store.load().index) == 20
    with store.writer(wait=False):
        pass  # released


def test_a_writer_is_refused_once_its_lock_is_released(tmp_path: Path) -> None:
    store = IndexStore(tmp_path)
    with store.writer() as writer:
        pass

    with pytest.raises(RuntimeError, match="released"):
        writer.publish(SimilarCaseIndex.build(IDS[:10], VECTORS[:10]), model_version="m")
    assert store.current_generation() is None


def test_a_lone_publish_waits_for_a_writer_in_another_thread(tmp_path: Path) -> None:
    store = IndexStore(tmp_path)
    order: list[str] = []
    holding = threading.Event()

    def lone_publish() -> None:
        holding.wait()
        IndexStore(tmp_path).publish(
            SimilarCaseIndex.build(IDS[:5], VECTORS[:5]), model_version="m"
        )
        order.append("lone publish")

    thread = threading.Thread(target=lone_publish)
    thread.start()
    with store.writer() as writer:
        holding.set()
        thread.join(timeout=0.3)
        writer.publish(SimilarCaseIndex.build(IDS[:10], VECTORS[:10]), model_version="m")
        order.append("cycle")
    thread.join(timeout=10)

    assert order == ["cycle", "lone publish"]
    assert store.current_generation() == 2 and len(store.load().index) == 5
