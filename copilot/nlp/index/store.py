"""Crash-safe on-disk store of similar-case index generations.

Layout of a store directory:

    CURRENT                 text: the name of the published generation directory
    gen-00000007/           index.faiss + manifest.json (kind, dim, count, model version,
                            sha256 of index.faiss, created time, generation number)
    .tmp-gen-00000008-xxxx  a publish in progress (or the leftover of a crashed one)
    .lock                   the one writer lock: serialises writers across processes and
                            machines sharing the directory; readers never take it
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from copilot.nlp.index.similar import KINDS, IndexKind, SimilarCaseIndex

INDEX_FILE = "index.faiss"
MANIFEST_FILE = "manifest.json"
CURRENT_FILE = "CURRENT"
LOCK_FILE = ".lock"
_GEN_DIR = re.compile(r"^gen-(\d{8})$")

DEFAULT_REBUILD_HINT = (
    "Rebuild it from the stored case embeddings: build a SimilarCaseIndex and publish it with "
    "IndexStore.publish() (the copilot's index rebuild command does exactly that)."
)


class IndexStoreError(Exception):
    """Base class: the stored index cannot be used."""


class IndexMissing(IndexStoreError):
    pass


class IndexCorrupt(IndexStoreError):
    pass


class IndexModelMismatch(IndexStoreError):
    """The index was built with another embedding model than the one in use."""


class IndexBusy(Exception):
    """Another process holds the writer lock right now (asked not to wait)."""


@dataclass(frozen=True)
class Manifest:
    generation: int
    kind: IndexKind
    dim: int
    count: int
    model_version: str
    sha256: str
    size_bytes: int
    created_at: str  # ISO 8601, UTC
    previous_generation: int | None
    params: dict[str, Any]
    index_file: str = INDEX_FILE
    format_version: int = 1

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        data = json.loads(text)
        if data.get("kind") not in KINDS:
            raise ValueError(f"unknown index kind {data.get('kind')!r}")
        return cls(
            generation=int(data["generation"]),
            kind=cast(IndexKind, data["kind"]),
            dim=int(data["dim"]),
            count=int(data["count"]),
            model_version=str(data["model_version"]),
            sha256=str(data["sha256"]),
            size_bytes=int(data["size_bytes"]),
            created_at=str(data["created_at"]),
            previous_generation=(
                None
                if data.get("previous_generation") is None
                else int(data["previous_generation"])
            ),
            params=dict(data.get("params", {})),
            index_file=str(data.get("index_file", INDEX_FILE)),
            format_version=int(data.get("format_version", 1)),
        )


@dataclass(frozen=True)
class StoredIndex:
    index: SimilarCaseIndex
    manifest: Manifest

    @property
    def generation(self) -> int:
        return self.manifest.generation


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_durable(path: Path, data: bytes) -> None:
    with path.open("wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def _gen_name(generation: int) -> str:
    return f"gen-{generation:08d}"


class IndexStore:
    """A directory of index generations with an atomically swapped CURRENT pointer.

    Layout: `CURRENT` (text: the generation directory name), `gen-00000007/{index.faiss,
    manifest.json}`, `.tmp-*` while a publish is being written. A reader only ever follows
    CURRENT, and CURRENT only ever names a directory that was complete and fsynced before the
    pointer was swapped, so a crash at any point leaves readers on a complete generation.
    """

    def __init__(self, root: str | os.PathLike[str], *, rebuild_hint: str = DEFAULT_REBUILD_HINT):
        self.root = Path(root)
        self.rebuild_hint = rebuild_hint

    # --- readers ---------------------------------------------------------------------

    def current_generation(self) -> int | None:
        """The published generation number, from one tiny file read; None if none yet.

        Readers poll this and reload when it differs from what they hold.
        """
        try:
            name = (self.root / CURRENT_FILE).read_text(encoding="ascii").strip()
        except FileNotFoundError:
            return None
        match = _GEN_DIR.match(name)
        if match is None:
            raise IndexCorrupt(
                f"{self.root / CURRENT_FILE} does not name a generation ({name!r}). "
                f"{self.rebuild_hint}"
            )
        return int(match.group(1))

    def index_path(self, manifest: Manifest) -> Path:
        return self.root / _gen_name(manifest.generation) / manifest.index_file

    def read_manifest(self, generation: int | None = None) -> Manifest:
        generation = self._resolve(generation)
        path = self.root / _gen_name(generation) / MANIFEST_FILE
        try:
            return Manifest.from_json(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise IndexMissing(
                f"Index generation {generation} has no manifest at {path}. {self.rebuild_hint}"
            ) from exc
        except (ValueError, KeyError, TypeError) as exc:
            raise IndexCorrupt(f"Unreadable manifest {path}: {exc}. {self.rebuild_hint}") from exc

    def _resolve(self, generation: int | None) -> int:
        if generation is not None:
            return generation
        current = self.current_generation()
        if current is None:
            raise IndexMissing(
                f"No similar-case index published in {self.root}. {self.rebuild_hint}"
            )
        return current

    def verify(self, generation: int | None = None) -> Manifest:
        """Check a generation's index file against its manifest (size and sha256) without
        loading it: the file is read in chunks, so memory stays flat whatever its size."""
        manifest = self.read_manifest(generation)
        path = self.root / _gen_name(manifest.generation) / manifest.index_file
        digest, size = hashlib.sha256(), 0
        try:
            with path.open("rb") as fh:
                while chunk := fh.read(1 << 20):
                    digest.update(chunk)
                    size += len(chunk)
        except FileNotFoundError as exc:
            raise IndexMissing(f"Index file {path} is missing. {self.rebuild_hint}") from exc
        if size != manifest.size_bytes or digest.hexdigest() != manifest.sha256:
            raise IndexCorrupt(
                f"Index file {path} does not match its manifest ({size} of "
                f"{manifest.size_bytes} bytes, sha256 {digest.hexdigest()[:12]}… != "
                f"{manifest.sha256[:12]}…). {self.rebuild_hint}"
            )
        return manifest

    def load(self, *, expected_model_version: str | None = None) -> StoredIndex:
        """Load and verify the current generation.

        Retries when a concurrent publish prunes the generation between reading CURRENT and
        opening its files (a reader would need to be two publishes slow for that).
        """
        for attempt in range(3):
            generation = self._resolve(None)
            try:
                return self.load_generation(
                    generation, expected_model_version=expected_model_version
                )
            except IndexMissing:
                if attempt == 2 or self.current_generation() == generation:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def load_generation(
        self, generation: int, *, expected_model_version: str | None = None
    ) -> StoredIndex:
        manifest = self.read_manifest(generation)
        if manifest.generation != generation:
            raise IndexCorrupt(
                f"Manifest of generation {generation} says generation {manifest.generation}. "
                f"{self.rebuild_hint}"
            )
        path = self.root / _gen_name(generation) / manifest.index_file
        try:
            data = path.read_bytes()
        except FileNotFoundError as exc:
            raise IndexMissing(f"Index file {path} is missing. {self.rebuild_hint}") from exc
        digest = hashlib.sha256(data).hexdigest()
        if digest != manifest.sha256 or len(data) != manifest.size_bytes:
            raise IndexCorrupt(
                f"Index file {path} does not match its manifest checksum (sha256 {digest[:12]}… "
                f"!= {manifest.sha256[:12]}…, {len(data)} != {manifest.size_bytes} bytes). "
                f"{self.rebuild_hint}"
            )
        try:
            index = SimilarCaseIndex.from_bytes(data, kind=manifest.kind, dim=manifest.dim)
        except (RuntimeError, ValueError) as exc:
            raise IndexCorrupt(
                f"Index file {path} cannot be read: {exc}. {self.rebuild_hint}"
            ) from exc
        if len(index) != manifest.count:
            raise IndexCorrupt(
                f"Index file {path} holds {len(index)} cases, its manifest says "
                f"{manifest.count}. {self.rebuild_hint}"
            )
        if expected_model_version is not None and manifest.model_version != expected_model_version:
            raise IndexModelMismatch(
                f"Index generation {generation} was built with embedding model "
                f"{manifest.model_version}, the copilot now uses {expected_model_version}. "
                f"{self.rebuild_hint}"
            )
        return StoredIndex(index=index, manifest=manifest)

    def load_if_newer(
        self, held: StoredIndex | None, *, expected_model_version: str | None = None
    ) -> StoredIndex:
        """`held` if it is still current, otherwise the newly published generation."""
        if held is not None and self.current_generation() == held.generation:
            return held
        return self.load(expected_model_version=expected_model_version)

    # --- writer ----------------------------------------------------------------------

    # One lock suffices for every writer, and there is exactly one: an flock on LOCK_FILE. Readers
    # never lock (they follow CURRENT, which only ever names a complete generation), so the lock
    # only has to keep writers apart, and every writer is one of two kinds: a single step
    # (`publish`, `prune_all_but_current`), or a read-modify-publish cycle (the services'
    # sync, rebuild and repair: load the current generation, change it, publish the result),
    # which must hold the lock from its read to its publish or two cycles would each publish
    # their own change and lose the other's. A cycle takes `writer()` and publishes through the
    # `IndexWriter` it yields, under the lock it already holds; a single step takes the lock
    # for itself. Not re-entrant: a second `writer()` in the same process opens the file anew,
    # and flock treats it as another holder, so a nested take waits (or is IndexBusy).

    @contextlib.contextmanager
    def writer(self, *, wait: bool = True) -> Iterator[IndexWriter]:
        """Hold the writer lock, across processes and machines sharing the directory, for as
        long as the block runs, and publish through the yielded writer. Raises IndexBusy when
        `wait` is false and another writer holds it."""
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / LOCK_FILE).open("a") as fh:
            flags = fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB
            try:
                fcntl.flock(fh.fileno(), flags)
            except BlockingIOError as exc:
                raise IndexBusy(str(self.root)) from exc
            writer = IndexWriter(self)
            try:
                yield writer
            finally:
                writer.closed = True
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)

    def generations(self) -> list[int]:
        """Generation directories on disk (published or orphaned), ascending."""
        if not self.root.is_dir():
            return []
        found = []
        for entry in self.root.iterdir():
            match = _GEN_DIR.match(entry.name)
            if match and entry.is_dir():
                found.append(int(match.group(1)))
        return sorted(found)

    def publish(self, index: SimilarCaseIndex, *, model_version: str) -> Manifest:
        """Write `index` as a new generation and make it current atomically (takes the writer
        lock for this one step; a read-modify-publish cycle publishes through `writer()`)."""
        with self.writer() as writer:
            return writer.publish(index, model_version=model_version)

    def _publish_locked(self, index: SimilarCaseIndex, *, model_version: str) -> Manifest:
        previous = self.current_generation()
        generation = max([0, previous or 0, *self.generations()]) + 1
        manifest = self._write_generation(index, generation, previous, model_version)
        self._swap_pointer(generation)
        self._prune(keep={generation} | ({previous} if previous is not None else set()))
        return manifest

    def _write_generation(
        self,
        index: SimilarCaseIndex,
        generation: int,
        previous: int | None,
        model_version: str,
    ) -> Manifest:
        data = index.to_bytes()
        manifest = Manifest(
            generation=generation,
            kind=index.kind,
            dim=index.dim,
            count=len(index),
            model_version=model_version,
            sha256=hashlib.sha256(data).hexdigest(),
            size_bytes=len(data),
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
            previous_generation=previous,
            params=index.params(),
        )
        tmp = self.root / f".tmp-{_gen_name(generation)}-{uuid.uuid4().hex[:8]}"
        tmp.mkdir()
        _write_durable(tmp / INDEX_FILE, data)
        _write_durable(tmp / MANIFEST_FILE, manifest.to_json().encode("utf-8"))
        _fsync_dir(tmp)
        # A directory rename is atomic: gen-N either does not exist or is complete.
        os.rename(tmp, self.root / _gen_name(generation))
        _fsync_dir(self.root)
        return manifest

    def _swap_pointer(self, generation: int) -> None:
        tmp = self.root / f".{CURRENT_FILE}.{uuid.uuid4().hex[:8]}.tmp"
        _write_durable(tmp, f"{_gen_name(generation)}\n".encode("ascii"))
        os.replace(tmp, self.root / CURRENT_FILE)
        _fsync_dir(self.root)

    def prune_all_but_current(self) -> int:
        """Remove every generation but the published one (normally the previous one is kept
        for readers mid-switch). For erasure: an older generation may hold removed vectors.
        Returns how many generations were removed."""
        with self.writer() as writer:
            return writer.prune_all_but_current()

    def _prune_all_but_current_locked(self) -> int:
        current = self.current_generation()
        before = self.generations()
        self._prune(keep={current} if current is not None else set())
        return len(before) - len(self.generations())

    def _prune(self, keep: set[int]) -> None:
        """Drop generations other than the current and the previous one, and leftovers of
        interrupted publishes (we hold the writer lock, so no .tmp-* is in progress)."""
        for generation in self.generations():
            if generation not in keep:
                shutil.rmtree(self.root / _gen_name(generation), ignore_errors=True)
        for entry in self.root.iterdir():
            if entry.name.startswith(".tmp-") or (
                entry.name.startswith(f".{CURRENT_FILE}.") and entry.name.endswith(".tmp")
            ):
                if entry.is_dir():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink(missing_ok=True)


class IndexWriter:
    """What the holder of a store's writer lock may do; made only by `IndexStore.writer()`, and
    refused once that block has ended (the lock is gone)."""

    def __init__(self, store: IndexStore) -> None:
        self._store = store
        self.closed = False

    def _check(self) -> IndexStore:
        if self.closed:
            raise RuntimeError("this index writer's lock was released")
        return self._store

    def publish(self, index: SimilarCaseIndex, *, model_version: str) -> Manifest:
        """Write `index` as a new generation and make it current atomically."""
        return self._check()._publish_locked(index, model_version=model_version)

    def prune_all_but_current(self) -> int:
        """See `IndexStore.prune_all_but_current`."""
        return self._check()._prune_all_but_current_locked()
