"""The reply library: suggestable replies built from the organisation's own past replies, and
the saved replies its admins add.

Every text enters the library de-identified (`copilot.nlp.deid.deidentify`: names, handles,
signatures, numbers, addresses and links become typed slots or go), and is refused when the
leak check (`identifier_leaks`, broader than the de-identifier) still finds an identifier in
it, so an entry holds slots and nothing of anyone. Slots are filled at send time from the
ticket at hand and its agent only (`slots_fill`).

A build reads every agent reply that answers a customer message in a solved or closed ticket,
per team; drops what is empty, a bare greeting or too short to be a reply; collapses exact
duplicates (same normalised text) and then near-duplicates (cosine of the base encoder's
embeddings at or above NEAR_DUPLICATE_COSINE, greedy, most frequent first) into one entry with
a count and a few example tickets. Entries are per team and company (the tickets' brand): one
brand's replies are never suggested to another brand's customer, nor merged with its replies.
A rebuild replaces the team's history entries; saved replies
and what an admin decided about a history entry (an edit, a disable) are kept.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
from django.db import transaction
from django.utils import timezone

from accounts.models import Team, User
from copilot.engine import get_engine
from copilot.models import ReplyEntry, ReplySource
from copilot.nlp.deid import SLOTS, KnownPeople, deidentify, identifier_leaks
from copilot.replies_selectors import past_replies_for_library, people_known_for_library
from core.errors import DomainError

logger = logging.getLogger(__name__)

# Near-duplicates: two de-identified replies whose embeddings' cosine is at least this say the
# same thing. Measured on the demo data (2,742 solved tickets, 3,199 agent replies); see
# docs/architecture.md, "Reply library", for what it merged.
NEAR_DUPLICATE_COSINE = 0.95
# A reply shorter than this many words (slots not counted) is too short to suggest: on the
# demo data those are acknowledgements with nothing to reuse ("We're on it!", "Glad to help.",
# "Sure thing {url}").
MIN_WORDS = 4
# How many source tickets an entry keeps as examples.
MAX_EXAMPLES = 5
# Greeting, thanks and sign-off words: a reply made only of these (and slots) is no answer.
_COURTESY = frozenset(
    [
        "hi",
        "hello",
        "hey",
        "heya",
        "hiya",
        "dear",
        "there",
        "good",
        "morning",
        "afternoon",
        "evening",
        "day",
        "thanks",
        "thank",
        "you",
        "so",
        "much",
        "very",
        "many",
        "thx",
        "ty",
        "cheers",
        "regards",
        "kind",
        "best",
        "warm",
        "wishes",
        "sincerely",
        "yours",
        "take",
        "care",
        "all",
        "the",
        "welcome",
        "youre",
        "you're",
        "your",
        "are",
        "np",
        "no",
        "problem",
        "anytime",
        "any",
        "time",
        "glad",
        "to",
        "help",
        "happy",
        "great",
        "awesome",
        "ok",
        "okay",
        "sure",
        "have",
        "a",
        "nice",
        "wonderful",
        "lovely",
        "weekend",
    ]
)
_WORD = re.compile(r"[A-Za-z][A-Za-z'\u2019]*")
_SLOT_ANY = re.compile(r"\{[a-z][a-z_]{0,40}\}")
_ADMIN_SLOT = re.compile(r"\{([^{}]{0,60})\}")

DROP_EMPTY = "empty after de-identification"
DROP_COURTESY = "greeting or sign-off only"
DROP_SHORT = f"fewer than {MIN_WORDS} words"
DROP_LEAK = "an identifier the de-identifier missed"
DROP_RESIDUE = "a signature or thread marker inside the text"
# What the de-identifier removes only at the very end of a reply, found elsewhere: a signature
# followed by a link ("... on my end? ^Wren {url}"), a thread marker before one ("{url}...1/2").
# Such a reply is dropped rather than cut: seen 29 times in the demo's 3,199 replies.
_RESIDUE = re.compile(
    r"[\^~]\s*[A-Za-z]{1,20}\b|(?:^|\s)\*[A-Z]{2,4}\b|(?<![\d/])[1-9]/[1-9](?![\d/])"
)


def reply_key(text: str) -> str:
    """The normalised text's digest: case, spacing and punctuation do not make a new reply."""
    normal = " ".join(re.findall(r"\{[a-z_]+\}|[a-z0-9']+", text.lower()))
    return hashlib.sha256(normal.encode()).hexdigest()


def _drop_reason(text: str) -> str | None:
    if not text.strip():
        return DROP_EMPTY
    words = [w.lower() for w in _WORD.findall(_SLOT_ANY.sub(" ", text))]
    if not words:
        return DROP_EMPTY
    if all(w in _COURTESY for w in words):
        return DROP_COURTESY
    if len(words) < MIN_WORDS:
        return DROP_SHORT
    return None


def _leaks(text: str, known: KnownPeople) -> tuple[str, ...]:
    return identifier_leaks(text, allowed_text="", allowed_names=(), known=known)


@dataclass
class TeamBuild:
    team: str
    read: int = 0
    kept: int = 0  # entries the build wrote
    collapsed_exact: int = 0  # replies folded into an entry of the same normalised text
    collapsed_near: int = 0  # distinct texts folded into a near-duplicate entry
    dropped: Counter[str] = field(default_factory=Counter)
    removed: int = 0  # history entries of an earlier build that no reply yields any more
    curated_kept: int = 0  # entries an admin edited or disabled, kept as they decided
    companies: int = 0  # companies (brands) the team's entries belong to


@dataclass
class BuildReport:
    build_id: str
    near_duplicate_cosine: float
    teams: list[TeamBuild]
    embedded: int  # texts the encoder embedded now
    from_file: int  # texts whose vectors came from a shipped file
    seconds: float


@dataclass
class _Group:
    company: str
    text: str
    key: str
    count: int
    examples: list[int]
    merged: list[str] = field(default_factory=list)  # texts of near-duplicates folded in


def _text_digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _embed(
    texts: list[str], *, shipped: dict[str, npt.NDArray[np.float32]]
) -> tuple[npt.NDArray[np.float32], int]:
    """Unit vectors of `texts`, from the shipped ones where their text is the same; returns the
    matrix and how many were embedded now."""
    missing = [t for t in dict.fromkeys(texts) if _text_digest(t) not in shipped]
    computed: dict[str, npt.NDArray[np.float32]] = {}
    if missing:
        vectors = get_engine().encoder.encode(missing)
        computed = {_text_digest(t): v for t, v in zip(missing, vectors, strict=True)}
    rows = [computed.get(_text_digest(t), shipped.get(_text_digest(t))) for t in texts]
    if not rows:
        return np.zeros((0, 0), dtype=np.float32), 0
    return np.stack([r for r in rows if r is not None]).astype(np.float32), len(missing)


def reply_vectors_load(*, path: Path | None) -> dict[str, npt.NDArray[np.float32]]:
    """Shipped vectors by text digest, when the file exists and the same encoder made them."""
    if path is None or not path.is_file():
        return {}
    with np.load(path, allow_pickle=False) as shipped:
        version = str(shipped["encoder_version"])
        if version != get_engine().encoder.version:
            logger.warning("Reply vectors in %s are of encoder %s: recomputing", path, version)
            return {}
        vectors = shipped["vectors"].astype(np.float32)
        digests = [str(d) for d in shipped["text_digests"]]
    # float16 rounding leaves rows a hair off unit length: normalise, so inner product = cosine.
    vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    return dict(zip(digests, vectors, strict=True))


def _near_duplicates(
    groups: list[_Group], vectors: npt.NDArray[np.float32], report: TeamBuild
) -> tuple[list[_Group], list[npt.NDArray[np.float32]]]:
    """Greedy: the most frequent text first becomes an entry; each later text joins the first
    entry it is a near-duplicate of, or becomes an entry itself."""
    order = sorted(range(len(groups)), key=lambda i: (-groups[i].count, i))
    kept: list[_Group] = []
    kept_rows: list[int] = []
    for i in order:
        group = groups[i]
        if kept_rows:
            sims = vectors[kept_rows] @ vectors[i]
            best = int(np.argmax(sims))
            if sims[best] >= NEAR_DUPLICATE_COSINE:
                target = kept[best]
                target.count += group.count
                target.examples = list(dict.fromkeys(target.examples + group.examples))[
                    :MAX_EXAMPLES
                ]
                target.merged.append(group.text)
                report.collapsed_near += 1
                continue
        kept.append(group)
        kept_rows.append(i)
    return kept, [vectors[i] for i in kept_rows]


def reply_library_build(
    *, team_ids: list[int] | None = None, vectors_path: Path | None = None
) -> BuildReport:
    """Build the teams' history entries from their past replies (every team when None)."""
    started = time.monotonic()
    built_at = timezone.now()
    build_id = (
        built_at.strftime("%Y%m%dT%H%M%S")
        + "-"
        + hashlib.sha256(str(time.time_ns()).encode()).hexdigest()[:6]
    )
    known = people_known_for_library()
    teams = Team.objects.all() if team_ids is None else Team.objects.filter(pk__in=team_ids)
    reports = {team.pk: TeamBuild(team=team.slug) for team in teams.order_by("name")}
    # team id -> (company, key) -> group
    groups: dict[int, dict[tuple[str, str], _Group]] = {team_id: {} for team_id in reports}
    for reply in past_replies_for_library(team_ids=list(reports)):
        report = reports[reply.team_id]
        report.read += 1
        text = deidentify(reply.body, known=known).text
        reason = (
            _drop_reason(text)
            or (DROP_RESIDUE if _RESIDUE.search(text) else None)
            or (DROP_LEAK if _leaks(text, known) else None)
        )
        if reason is not None:
            report.dropped[reason] += 1
            continue
        key = reply_key(text)
        group = groups[reply.team_id].get((reply.company, key))
        if group is None:
            groups[reply.team_id][(reply.company, key)] = _Group(
                company=reply.company, text=text, key=key, count=1, examples=[reply.ticket_id]
            )
            continue
        group.count += 1
        report.collapsed_exact += 1
        if reply.ticket_id not in group.examples and len(group.examples) < MAX_EXAMPLES:
            group.examples.append(reply.ticket_id)

    shipped = reply_vectors_load(path=vectors_path)
    embedded = from_file = 0
    version = get_engine().encoder.version
    for team_id, report in reports.items():
        team_groups = list(groups[team_id].values())
        vectors, now = _embed([g.text for g in team_groups], shipped=shipped)
        embedded += now
        from_file += len({g.text for g in team_groups}) - now
        kept: list[_Group] = []
        kept_vectors: list[npt.NDArray[np.float32]] = []
        # Near-duplicates collapse within one company: two brands' replies stay two entries.
        for company in sorted({g.company for g in team_groups}):
            rows = [i for i, g in enumerate(team_groups) if g.company == company]
            company_kept, company_vectors = _near_duplicates(
                [team_groups[i] for i in rows], vectors[rows], report
            )
            kept += company_kept
            kept_vectors += company_vectors
        report.companies = len({g.company for g in kept})
        _history_replace(
            team_id=team_id,
            groups=kept,
            vectors=kept_vectors,
            model_version=version,
            build_id=build_id,
            built_at=built_at,
            report=report,
        )
    return BuildReport(
        build_id=build_id,
        near_duplicate_cosine=NEAR_DUPLICATE_COSINE,
        teams=list(reports.values()),
        embedded=embedded,
        from_file=from_file,
        seconds=time.monotonic() - started,
    )


def _history_replace(
    *,
    team_id: int,
    groups: list[_Group],
    vectors: list[npt.NDArray[np.float32]],
    model_version: str,
    build_id: str,
    built_at: dt.datetime,
    report: TeamBuild,
) -> None:
    """Replace the team's history entries with this build's, by key: an entry an admin
    curated keeps its text and switch (its count and examples follow the build), or stays as
    a tombstone with no count when no reply yields it any more, so it does not come back
    enabled; the others are rewritten or deleted. Saved replies are not touched."""
    with transaction.atomic():
        existing = {
            (e.company, e.key): e
            for e in ReplyEntry.objects.select_for_update().filter(
                team_id=team_id, source=ReplySource.HISTORY
            )
        }
        new_keys = {(g.company, g.key) for g in groups}
        gone = [e for key, e in existing.items() if key not in new_keys]
        stale = [e.pk for e in gone if not e.curated]
        report.removed = len(stale)
        ReplyEntry.objects.filter(pk__in=stale).delete()
        ReplyEntry.objects.filter(pk__in=[e.pk for e in gone if e.curated]).update(
            count=0, examples=[], build_id=build_id, built_at=built_at, updated_at=built_at
        )
        creates: list[ReplyEntry] = []
        updates: list[ReplyEntry] = []
        for group, vector in zip(groups, vectors, strict=True):
            entry = existing.get((group.company, group.key))
            if entry is None:
                creates.append(
                    ReplyEntry(
                        team_id=team_id,
                        company=group.company,
                        text=group.text,
                        key=group.key,
                        count=group.count,
                        examples=group.examples,
                        source=ReplySource.HISTORY,
                        embedding=vector.astype(np.float32).tobytes(),
                        model_version=model_version,
                        build_id=build_id,
                        built_at=built_at,
                    )
                )
                continue
            entry.count, entry.examples = group.count, group.examples
            entry.build_id, entry.built_at, entry.updated_at = build_id, built_at, built_at
            if entry.curated:
                report.curated_kept += 1
            else:
                entry.text = group.text
                entry.embedding = vector.astype(np.float32).tobytes()
                entry.model_version = model_version
            updates.append(entry)
        ReplyEntry.objects.bulk_create(creates, batch_size=500)
        ReplyEntry.objects.bulk_update(
            updates,
            [
                "text",
                "count",
                "examples",
                "embedding",
                "model_version",
                "build_id",
                "built_at",
                "updated_at",
            ],
            batch_size=500,
        )
        report.kept = len(groups)


# --- Admins' saved replies and edits --------------------------------------------------------


def reply_text_clean(*, text: str) -> str:
    """An admin's reply as the library stores it: de-identified, with their slots kept.

    `{customer_first_name}` and the other slots of SLOTS are the admin's to write; any other
    brace, and any identifier left after de-identification, is refused (DomainError on
    `text`, naming it)."""
    stripped = text.strip()
    if not stripped:
        raise DomainError("Write the reply's text.", field="text", code="required")
    if len(stripped) > 5000:
        raise DomainError("The reply is longer than 5,000 characters.", field="text")
    unknown = [m.group(0) for m in _ADMIN_SLOT.finditer(stripped) if m.group(1) not in SLOTS]
    if unknown:
        raise DomainError(
            f"Unknown slot {unknown[0]}: the slots are "
            + ", ".join("{" + s + "}" for s in SLOTS)
            + ".",
            field="text",
            code="unknown_slot",
        )
    # The de-identifier turns literal braces into parentheses; a placeholder in double braces
    # is a slot it keeps, so the admin's slots are handed to it that way.
    as_placeholders = _ADMIN_SLOT.sub(lambda m: "{{" + m.group(1) + "}}", stripped)
    known = people_known_for_library()
    cleaned = deidentify(as_placeholders, known=known).text
    leaks = _leaks(cleaned, known)
    if leaks:
        raise DomainError(
            f"The reply still names someone or something of one customer: {', '.join(leaks)}. "
            "Use a slot such as {customer_first_name} or {order_number} instead.",
            field="text",
            code="identifier",
        )
    if not cleaned:
        raise DomainError(
            "Nothing is left of the reply once names and numbers are taken out.", field="text"
        )
    return cleaned


def _vector_of(text: str) -> tuple[bytes, str]:
    encoder = get_engine().encoder
    return encoder.encode([text])[0].astype(np.float32).tobytes(), encoder.version


def reply_entry_create(*, team: Team, text: str, by: User, company: str = "") -> ReplyEntry:
    """Add a saved reply to a team's library, for the team's tickets of `company` ("": those
    without one)."""
    cleaned = reply_text_clean(text=text)
    company = " ".join(company.split())
    if len(company) > 100:
        raise DomainError("A company name is limited to 100 characters.", field="company")
    embedding, version = _vector_of(cleaned)
    return ReplyEntry.objects.create(
        team=team,
        company=company,
        text=cleaned,
        key=reply_key(cleaned),
        count=0,
        examples=[],
        source=ReplySource.ADMIN,
        embedding=embedding,
        model_version=version,
        created_by=by,
        updated_by=by,
    )


def reply_entry_update(
    *, entry: ReplyEntry, by: User, text: str | None = None, active: bool | None = None
) -> ReplyEntry:
    """Edit an entry's text (embedded again) or switch it on or off. A history entry changed
    this way is curated: a rebuild keeps the admin's text and switch."""
    fields = ["updated_by", "updated_at"]
    if text is not None:
        cleaned = reply_text_clean(text=text)
        if cleaned != entry.text:
            entry.text = cleaned
            entry.embedding, entry.model_version = _vector_of(cleaned)
            fields += ["text", "embedding", "model_version"]
    if active is not None and active != entry.active:
        entry.active = active
        fields.append("active")
    if len(fields) == 2:
        return entry  # nothing changed: no curation, no new stamp
    if entry.source == ReplySource.HISTORY:
        entry.curated = True
        fields.append("curated")
    entry.updated_by = by
    with transaction.atomic():
        entry.save(update_fields=fields)
    return entry


def reply_vectors_save(*, path: Path, reuse: Path | None = None) -> int:
    """Write every history entry's text digest and vector, and the texts they stand for, with
    the encoder version (the demo ships this file, so `seed_demo` embeds nothing). With
    `reuse`, an earlier such file, only texts it lacks are embedded (a de-identifier change
    rewrites a few dozen texts: minutes of embedding on 2 cores become seconds)."""
    # Every de-identified text a build would embed, not only the entries' own: a near-duplicate
    # is compared before it is merged, so it needs its vector too.
    version = get_engine().encoder.version
    known = people_known_for_library()
    texts: dict[str, str] = {}
    for reply in past_replies_for_library():
        text = deidentify(reply.body, known=known).text
        if _drop_reason(text) is None:
            texts.setdefault(_text_digest(text), text)
    digests = list(texts)
    vectors, _ = _embed([texts[d] for d in digests], shipped=reply_vectors_load(path=reuse))
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as fh:
        np.savez_compressed(
            fh,
            encoder_version=np.array(version),
            text_digests=np.array(digests, dtype=str),
            vectors=vectors.astype(np.float16).reshape(len(digests), -1),
        )
    return len(digests)
