"""Solved cases and the similar-case index: the database is the truth, the index follows it.

A ticket that is solved gets a `SolvedCase` row (its problem statement and embedding); one that
is reopened loses it. `case_index_sync` then brings the published FAISS index in line with those
rows (adds what is new, removes what is gone) and publishes a new generation atomically.
`case_index_rebuild` builds the whole index from the database, for a first start, a lost or
corrupt index directory, a new embedding model or a new index kind; `case_index_repair` does it
only when no usable generation is published (workers queue it when they start).

Only one writer changes the index at a time: each holds the store's writer lock
(`IndexStore.writer`, the one lock of the index directory) for its whole read-modify-publish
cycle, across processes and machines sharing it, and publishes through it.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from django.conf import settings
from django.db import transaction

from copilot import tasks as copilot_tasks
from copilot.engine import get_engine, index_health, index_store
from copilot.models import SolvedCase
from copilot.nlp.index import IndexMissing, IndexWriter, Manifest, SimilarCaseIndex
from copilot.selectors import case_text
from tickets.consent import ConsentPurpose, consent_granted, customer_ids_opted_out
from tickets.models import DONE_STATUSES, Ticket

logger = logging.getLogger(__name__)

EMBED_BATCH = 256


def case_eligible(ticket: Ticket) -> bool:
    """Solved or closed, with a resolution a draft can be built from, of a customer who lets
    their tickets be examples for others."""
    return (
        ticket.status in DONE_STATUSES
        and bool(ticket.resolution.strip())
        and consent_granted(customer=ticket.customer, purpose=ConsentPurpose.SIMILAR_CASES)
    )


def case_record(*, ticket_id: int) -> SolvedCase | None:
    """Embed a solved ticket and store it as a case (replacing an older row of the ticket)."""
    ticket = Ticket.objects.filter(pk=ticket_id).first()
    if ticket is None or not case_eligible(ticket):
        return None
    encoder = get_engine().encoder
    text = case_text(ticket=ticket)
    vector = encoder.encode([text])[0]
    with transaction.atomic():
        locked = Ticket.objects.select_for_update().get(pk=ticket_id)
        if not case_eligible(locked):
            return None  # reopened while we were embedding
        SolvedCase.objects.filter(ticket=locked).delete()
        return SolvedCase.objects.create(
            ticket=locked,
            text=text,
            embedding=vector.astype(np.float32).tobytes(),
            model_version=encoder.version,
        )


def case_forget(*, ticket: Ticket) -> bool:
    """The ticket is no longer a solved case (reopened, erased): drop its row. The next index
    sync removes its vector; until then searches re-check hits against the database."""
    deleted, _ = SolvedCase.objects.filter(ticket=ticket).delete()
    return deleted > 0


def case_on_status_change(*, ticket: Ticket, old: str, new: str) -> None:
    """Keep the similar-case index in step with a ticket's life cycle (inside its transaction).

    Solved: embed it and index it once the transaction commits. Reopened: drop the case now, so
    no draft is built from a resolution that turned out not to solve the problem.
    """
    was_done, is_done = old in DONE_STATUSES, new in DONE_STATUSES
    if is_done and not was_done:
        copilot_tasks.record_solved_case.delay_on_commit(ticket_id=ticket.pk)
    elif was_done and not is_done and case_forget(ticket=ticket):
        copilot_tasks.sync_case_index.delay_on_commit()


def _vectors(rows: list[tuple[int, bytes]], dim: int) -> tuple[np.ndarray, np.ndarray]:
    ids = np.fromiter((ticket_id for ticket_id, _ in rows), dtype=np.int64, count=len(rows))
    matrix = np.zeros((len(rows), dim), dtype=np.float32)
    for i, (_, blob) in enumerate(rows):
        matrix[i] = np.frombuffer(bytes(blob), dtype=np.float32)
    return ids, matrix


@dataclass(frozen=True)
class SyncResult:
    added: int
    removed: int
    manifest: Manifest | None  # None: nothing changed, nothing published


def case_index_sync(*, wait: bool = False) -> SyncResult:
    """Publish a new index generation with the cases added and removed since the last one.

    Raises IndexBusy when another writer holds the index and `wait` is false (the task then
    retries shortly: whichever sync runs next picks up every change made until then).
    """
    encoder = get_engine().encoder
    store = index_store()
    with store.writer(wait=wait) as writer:
        try:
            index = store.load(expected_model_version=encoder.version).index
        except IndexMissing:
            logger.info("No similar-case index yet: building it from the database")
            return _rebuild_locked(writer, kind=settings.COPILOT_INDEX_KIND, progress=None)
        current = dict(
            SolvedCase.objects.filter(model_version=encoder.version).values_list(
                "ticket_id", "indexed"
            )
        )
        in_index = index.ids()
        removed = sorted(in_index - current.keys())
        to_add = [
            ticket_id
            for ticket_id, indexed in current.items()
            if not indexed or ticket_id not in in_index
        ]
        if not removed and not to_add:
            return SyncResult(added=0, removed=0, manifest=None)
        index.remove(removed)
        row_ids: list[int] = []
        for start in range(0, len(to_add), 2000):
            rows = list(
                SolvedCase.objects.filter(ticket_id__in=to_add[start : start + 2000]).values_list(
                    "pk", "ticket_id", "embedding"
                )
            )
            row_ids.extend(pk for pk, _, _ in rows)
            ids, matrix = _vectors([(t, e) for _, t, e in rows], index.dim)
            index.add(ids, matrix)
        manifest = writer.publish(index, model_version=encoder.version)
        SolvedCase.objects.filter(pk__in=row_ids).update(indexed=True)
        logger.info(
            "Index generation %s: +%s -%s, %s cases",
            manifest.generation,
            len(row_ids),
            len(removed),
            manifest.count,
        )
        return SyncResult(added=len(row_ids), removed=len(removed), manifest=manifest)


def case_index_rebuild(
    *, kind: str | None = None, reembed: bool = False, progress: Callable[[int], None] | None
) -> SyncResult:
    """Build the index from the database and publish it (waits for any running writer)."""
    with index_store().writer(wait=True) as writer:
        return _rebuild_locked(
            writer, kind=kind or settings.COPILOT_INDEX_KIND, progress=progress, reembed=reembed
        )


def case_index_repair() -> SyncResult | None:
    """Rebuild the index from the database if it is missing or damaged; None when it is fine.

    Checked under the writer lock, so of several repairs queued at once (every worker queues
    one when it starts and finds the index unusable) only the first rebuilds.
    """
    with index_store().writer(wait=True) as writer:
        ok, problem = index_health(verify=True)
        if ok:
            return None
        logger.warning("Similar-case index unusable (%s): rebuilding it from the database", problem)
        return _rebuild_locked(writer, kind=settings.COPILOT_INDEX_KIND, progress=None)


def cases_to_embed(*, reembed: bool = False) -> list[int]:
    """Solved tickets whose case row is missing or was embedded by another model."""
    version = get_engine().encoder.version
    eligible = (
        Ticket.objects.filter(status__in=DONE_STATUSES)
        .exclude(resolution="")
        .exclude(customer_id__in=customer_ids_opted_out(purpose=ConsentPurpose.SIMILAR_CASES))
    )
    if not reembed:
        eligible = eligible.exclude(solved_case__model_version=version)
    return list(eligible.order_by("pk").values_list("pk", flat=True))


def _text_digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def case_vectors_save(*, path: Path) -> int:
    """Write every stored case's vector, keyed by its ticket's external id and the digest of its
    text, with the encoder version that computed them (the demo ships this file: embedding its
    2,742 cases took 2 min 20 s on a busy 2-core machine). float16 halves the file; a cosine
    moves by under 0.001. Returns how many were written."""
    encoder = get_engine().encoder
    rows = list(
        SolvedCase.objects.filter(model_version=encoder.version, ticket__external_id__isnull=False)
        .order_by("ticket__external_id")
        .values_list("ticket__external_id", "text", "embedding")
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as fh:
        np.savez_compressed(
            fh,
            encoder_version=np.array(encoder.version),
            external_ids=np.array([external_id for external_id, _, _ in rows], dtype=str),
            text_digests=np.array([_text_digest(text) for _, text, _ in rows], dtype=str),
            vectors=np.array(
                [np.frombuffer(bytes(blob), dtype=np.float32) for _, _, blob in rows],
                dtype=np.float16,
            ).reshape(len(rows), -1),
        )
    return len(rows)


def case_vectors_load(*, path: Path) -> int:
    """Store the shipped vectors of the solved tickets still to embed, as their cases.

    Refused whole when another encoder computed them (a changed model setting or model
    release): those tickets are then embedded as usual. A ticket whose problem statement is not
    the text the vector was computed from (an edited data file) is embedded too. Returns how
    many cases were stored from the file.
    """
    if not path.is_file():
        return 0
    encoder = get_engine().encoder
    with np.load(path, allow_pickle=False) as shipped:
        version = str(shipped["encoder_version"])
        if version != encoder.version:
            logger.warning(
                "Shipped case vectors in %s are of encoder %s, this one is %s: recomputing them",
                path,
                version,
                encoder.version,
            )
            return 0
        by_external_id = {
            str(external_id): (str(digest), i)
            for i, (external_id, digest) in enumerate(
                zip(shipped["external_ids"], shipped["text_digests"], strict=True)
            )
        }
        vectors = shipped["vectors"].astype(np.float32)
    # float16 rounding leaves the vectors a hair off unit length: normalise again, so that inner
    # product stays cosine.
    vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    pending = cases_to_embed()
    stored = 0
    for start in range(0, len(pending), EMBED_BATCH * 4):
        batch = (
            Ticket.objects.filter(pk__in=pending[start : start + EMBED_BATCH * 4])
            .exclude(external_id=None)
            .prefetch_related("messages")
        )
        cases = []
        for ticket in batch:
            known = by_external_id.get(ticket.external_id or "")
            if known is None:
                continue
            text = case_text(ticket=ticket)
            digest, row = known
            if digest != _text_digest(text):
                continue
            cases.append(
                SolvedCase(
                    ticket=ticket,
                    text=text,
                    embedding=vectors[row].tobytes(),
                    model_version=encoder.version,
                )
            )
        with transaction.atomic():
            SolvedCase.objects.filter(ticket__in=[c.ticket for c in cases]).delete()
            SolvedCase.objects.bulk_create(cases)
        stored += len(cases)
    return stored


def _rebuild_locked(
    writer: IndexWriter, *, kind: str, progress: Callable[[int], None] | None, reembed: bool = False
) -> SyncResult:
    encoder = get_engine().encoder
    pending = cases_to_embed(reembed=reembed)
    for start in range(0, len(pending), EMBED_BATCH):
        batch = list(
            Ticket.objects.filter(pk__in=pending[start : start + EMBED_BATCH]).prefetch_related(
                "messages"
            )
        )
        texts = [case_text(ticket=t) for t in batch]
        vectors = encoder.encode(texts)
        with transaction.atomic():
            SolvedCase.objects.filter(ticket__in=batch).delete()
            SolvedCase.objects.bulk_create(
                SolvedCase(
                    ticket=t,
                    text=text,
                    embedding=vector.astype(np.float32).tobytes(),
                    model_version=encoder.version,
                )
                for t, text, vector in zip(batch, texts, vectors, strict=True)
            )
        if progress is not None:
            progress(len(batch))
    # Cases of another model (a changed setting) cannot share an index with these, and cases
    # of customers who opted out have no place in it.
    SolvedCase.objects.exclude(model_version=encoder.version).delete()
    SolvedCase.objects.filter(
        ticket__customer_id__in=customer_ids_opted_out(purpose=ConsentPurpose.SIMILAR_CASES)
    ).delete()
    rows = list(
        SolvedCase.objects.order_by("ticket_id").values_list("pk", "ticket_id", "embedding")
    )
    # The stored vectors tell their dimension: when all came from a file (the demo), the model
    # is never loaded here (importing it alone took 10 s on a loaded 2-core machine).
    dim = len(rows[0][2]) // np.dtype(np.float32).itemsize if rows else encoder.dim
    ids, matrix = _vectors([(t, e) for _, t, e in rows], dim)
    index = SimilarCaseIndex.build(ids, matrix, kind=kind, dim=dim)  # type: ignore[arg-type]
    manifest = writer.publish(index, model_version=encoder.version)
    # By key: a case recorded while we built is not in this generation; the next sync adds it.
    SolvedCase.objects.filter(pk__in=[pk for pk, _, _ in rows]).update(indexed=True)
    return SyncResult(added=len(rows), removed=0, manifest=manifest)
