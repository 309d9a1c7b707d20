"""Reads of the reply library: what it is built from, what admins list, what ranking reads.

Kept apart from copilot/selectors.py (cases, analyses, drafts) so each stays one subject.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from django.db.models import Count, Max, Q, QuerySet

from copilot.models import ReplyEntry, ReplySource
from copilot.nlp.deid import KnownPeople
from copilot.nlp.selector import ResponseSelector, top_scores
from copilot.selectors import people_known_all
from tickets.consent import ConsentPurpose, customer_ids_opted_out
from tickets.customer_data import customer_ids_erased
from tickets.models import DONE_STATUSES, AuthorKind, Message

# An imported agent's display name with a space is a person ("Jill W."); without one it is a
# brand's handle ("AppleSupport", "Delta"), which must stay in the text as the company's name.
_PERSON_AUTHOR = re.compile(r"\S\s+\S")


@dataclass(frozen=True)
class PastReply:
    """An agent's reply to a customer message, in a solved or closed ticket."""

    ticket_id: int
    team_id: int
    body: str
    company: str = ""  # the ticket's brand: the entry is suggested to that brand only


def past_replies_for_library(*, team_ids: list[int] | None = None) -> Iterator[PastReply]:
    """Every agent message that directly follows a customer message in a solved or closed
    ticket, oldest ticket first. A customer who opted out of training or was erased
    contributes nothing (their whole tickets are skipped, agents' replies included: those
    replies answer them)."""
    messages = (
        Message.objects.filter(ticket__status__in=DONE_STATUSES)
        .exclude(author_kind=AuthorKind.SYSTEM)
        .exclude(ticket__customer_id__in=customer_ids_opted_out(purpose=ConsentPurpose.TRAINING))
        .exclude(ticket__customer_id__in=customer_ids_erased())
        .order_by("ticket_id", "sequence")
    )
    if team_ids is not None:
        messages = messages.filter(ticket__team_id__in=team_ids)
    previous: tuple[int, str] | None = None
    rows = messages.values_list(
        "ticket_id", "ticket__team_id", "ticket__company", "author_kind", "body"
    )
    for ticket_id, team_id, company, kind, body in rows.iterator(chunk_size=2000):
        follows_customer = previous == (ticket_id, AuthorKind.CUSTOMER)
        previous = (ticket_id, kind)
        if kind == AuthorKind.AGENT and follows_customer:
            yield PastReply(ticket_id=ticket_id, team_id=team_id, body=body, company=company)


def people_known_for_library() -> KnownPeople:
    """Everyone the database can name: every customer and staff account (`people_known_all`)
    plus the imported agents' display names that are a person's name."""
    everyone = people_known_all()
    authors = (
        Message.objects.filter(author_kind=AuthorKind.AGENT)
        .exclude(author_name="")
        .values_list("author_name", flat=True)
        .distinct()
    )
    agents = KnownPeople.from_records(
        full_names=[name for name in authors if _PERSON_AUTHOR.search(name)]
    )
    return KnownPeople(names=everyone.names | agents.names, handles=everyone.handles)


def reply_entry_list(
    *,
    q: str = "",
    team_id: int | None = None,
    source: str = "",
    active: bool | None = None,
    company: str | None = None,
) -> QuerySet[ReplyEntry]:
    """Entries for the admins' list (admins see every team), most used first."""
    qs = ReplyEntry.objects.select_related("team").order_by("team__name", "company", "-count", "pk")
    if company is not None:
        qs = qs.filter(company=company)
    if q:
        qs = qs.filter(text__icontains=q)
    if team_id is not None:
        qs = qs.filter(team_id=team_id)
    if source in ReplySource.values:
        qs = qs.filter(source=source)
    if active is not None:
        qs = qs.filter(active=active)
    return qs


def reply_entry_get(*, entry_id: int) -> ReplyEntry:
    """One entry by id (admins only reach this; they see every team). Raises DoesNotExist."""
    return ReplyEntry.objects.select_related("team").get(pk=entry_id)


# --- For ranking ----------------------------------------------------------------------------


@dataclass(frozen=True)
class TeamReplies:
    entries: list[ReplyEntry]  # active entries of the team, in `vectors` row order
    vectors: npt.NDArray[np.float32]  # (len(entries), dim) unit rows: `vectors @ q` is cosine


# Per process: (team id, company) -> (stamp, replies). The stamp is read from the database on
# every call (one indexed aggregate), so a change made by any process (a rebuild, an admin's
# edit) is seen at once, without a cache server to invalidate; every write sets `updated_at`
# (bulk updates set it explicitly, since queryset.update() skips auto_now).
_team_cache: dict[tuple[int, str], tuple[tuple[object, ...], TeamReplies]] = {}
_team_cache_lock = threading.Lock()


def _team_stamp(team_id: int, company: str) -> tuple[object, ...]:
    agg = ReplyEntry.objects.filter(team_id=team_id, company=company).aggregate(
        n=Count("pk"),
        n_active=Count("pk", filter=Q(active=True)),
        changed=Max("updated_at"),
        last=Max("pk"),
    )
    return (agg["n"], agg["n_active"], agg["changed"], agg["last"])


def reply_entries_for_team(
    *, team_id: int, company: str = ""
) -> tuple[list[ReplyEntry], npt.NDArray[np.float32]]:
    """The active entries of the team and company ("": the team's entries without a company)
    and their embeddings as one float32 matrix (a row per entry, same order), for ranking as a
    matrix product. Cached per team and company in the process and re-read when any of their
    entries was added, changed, disabled or deleted."""
    stamp = _team_stamp(team_id, company)
    with _team_cache_lock:
        cached = _team_cache.get((team_id, company))
    if cached is not None and cached[0] == stamp:
        return cached[1].entries, cached[1].vectors
    entries = list(
        ReplyEntry.objects.filter(team_id=team_id, company=company, active=True)
        .defer("embedding")
        .order_by("-count", "pk")
    )
    blobs = dict(
        ReplyEntry.objects.filter(pk__in=[e.pk for e in entries]).values_list("pk", "embedding")
    )
    vectors = reply_vectors([bytes(blobs[e.pk]) for e in entries])
    replies = TeamReplies(entries=entries, vectors=vectors)
    with _team_cache_lock:
        _team_cache[(team_id, company)] = (stamp, replies)
    return replies.entries, replies.vectors


def reply_vectors(blobs: list[bytes]) -> npt.NDArray[np.float32]:
    """Stored embeddings as a (n, dim) float32 matrix (n = 0: a (0, 0) matrix)."""
    if not blobs:
        return np.zeros((0, 0), dtype=np.float32)
    return np.stack([np.frombuffer(blob, dtype=np.float32) for blob in blobs])


# Any slot the de-identifier can write, not only the common ones (a template placeholder of an
# imported reply becomes a slot of its own name).
_SLOT_IN_TEXT = re.compile(r"(\{[a-z][a-z_]{0,40}\})")


def reply_text_pieces(*, text: str) -> list[tuple[str, bool]]:
    """The entry's text cut into pieces, each marked True when it is a slot (to highlight)."""
    return [(piece, i % 2 == 1) for i, piece in enumerate(_SLOT_IN_TEXT.split(text)) if piece]


# --- Suggestions ----------------------------------------------------------------------------

# At most this many suggestions per message (Smart Reply's three).
SUGGESTIONS_SHOWN = 3
# The trigger when no selector is trained: the encoder's cosine must reach this. An untrained
# selector scores exactly as the cosine (its maps start at the identity), so its calibrated
# trigger carries over: 0.32, chosen by `evaluate --replies` on held-aside train tickets for
# 80% of suggested requests having the agent's real reply among the three (README, "Trigger").
COSINE_TRIGGER = 0.32
COSINE_VERSION = "cosine"


@dataclass(frozen=True)
class Suggestion:
    entry_id: int
    text: str  # with its slots, as in the library
    score: float

    def as_json(self) -> dict[str, object]:
        return {"entry_id": self.entry_id, "text": self.text, "score": round(self.score, 4)}


# Per process: (team id, company, selector version) -> (the vectors it was mapped from, mapped).
# The team's matrix is a new object whenever the library changed (`reply_entries_for_team`),
# so an identity check is the whole invalidation; ranking a message is then one product.
_mapped_cache: dict[
    tuple[int, str, str], tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]
] = {}


def _team_mapped(
    *,
    team_id: int,
    company: str,
    vectors: npt.NDArray[np.float32],
    selector: ResponseSelector | None,
) -> npt.NDArray[np.float32]:
    if selector is None or len(vectors) == 0:
        return vectors
    key = (team_id, company, selector.version)
    with _team_cache_lock:
        cached = _mapped_cache.get(key)
    if cached is not None and cached[0] is vectors:
        return cached[1]
    mapped = selector.replies_map(vectors)
    with _team_cache_lock:
        _mapped_cache[key] = (vectors, mapped)
    return mapped


def reply_suggestions_rank(
    *,
    team_id: int,
    request_vecs: npt.NDArray[np.float32],
    selector: ResponseSelector | None,
    company: str = "",
    exclude_ticket_ids: list[int | None] | None = None,
    k: int = SUGGESTIONS_SHOWN,
) -> tuple[list[list[Suggestion]], str]:
    """Up to `k` of the active library entries of the team and company (the ticket's own: one
    brand's customer never gets another brand's reply) for each request (rows of
    `selector.request_inputs`: the encoder's embeddings, or its request branch's), best first,
    none at all for a request whose best entry scores below the trigger; and which ranker
    scored them (the selector's version, or "cosine").

    `exclude_ticket_ids[i]`: entries built from that ticket alone are not offered to request i
    (a replay must not find a ticket's own reply in the library)."""
    version = selector.version if selector is not None else COSINE_VERSION
    entries, vectors = reply_entries_for_team(team_id=team_id, company=company)
    out: list[list[Suggestion]] = [[] for _ in range(len(request_vecs))]
    if not entries or len(request_vecs) == 0:
        return out, version
    mapped = _team_mapped(team_id=team_id, company=company, vectors=vectors, selector=selector)
    if selector is not None:
        scores = selector.scores_mapped(selector.requests_map(request_vecs), mapped)
        threshold = selector.threshold
    else:
        scores = (request_vecs.astype(np.float32, copy=False) @ vectors.T).astype(np.float32)
        threshold = COSINE_TRIGGER
    excludes = exclude_ticket_ids or [None] * len(request_vecs)
    for i, row in enumerate(scores):
        own = excludes[i]
        if own is not None:
            row = row.copy()
            for j, entry in enumerate(entries):
                if entry.examples and set(entry.examples) <= {own}:
                    row[j] = -np.inf
        out[i] = [
            Suggestion(entry_id=entries[j].pk, text=entries[j].text, score=score)
            for j, score in top_scores(row, k=k, threshold=threshold)
        ]
    return out, version
