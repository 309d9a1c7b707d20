"""The response selector's 1-of-100 test (`manage.py evaluate --replies`).

For each held-out customer request, the agent reply that really followed it is ranked among 99
other replies of the same company (or of the whole source when the company has fewer than 100
replies: then the request is counted as "whole set"). R@k is the share of requests whose true
reply is among the top k. Replies are de-identified first, as the reply library stores them.

Sources, each split so that no test ticket's pair is trained on:
- Twitter customer support (TWCS, the `twcs-` tickets of `data/demo/tickets.jsonl`): every
  (customer turn(s), the agent reply that followed) of a thread; split by time, the newest 20%
  of the threads held out. The company is the brand that replied.
- IBM customer care (`data/eval/twitter_cdp_ibm`): the customer's side of each conversation
  and the agent's resolving reply; train on dev.json (the `ibm-dev-` demo tickets), test on
  test.json.
- Bitext (`data/eval/bitext_customer_support`): instruction and response, the stratified 80/20
  split (seed 13) of the retrieval evaluation. One company.

The selector is the shipped one (`copilot/nlp/weights/selector_branch.safetensors`, trained by
`scripts/finetune_selector.py` on the train pairs of all three sources, never on a test pair),
with its request branch reading the encoder's hidden states. Next to it: the earlier selector
(residual linear maps on the frozen embeddings, trained here on the same train pairs) and three
baselines: BM25 of the request against each reply, the encoder's cosine, and the reply of the
nearest training request (today's drafting; each candidate scored by its cosine to that reply).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from copilot.nlp.datasets import load_bitext, load_ibm
from copilot.nlp.deid import deidentify
from copilot.nlp.embeddings import Encoder, FloatArray
from copilot.nlp.intent import Calibration, threshold_calibrate
from copilot.nlp.selector import ResponseSelector, SelectorConfig

CANDIDATES = 100
TEST_SHARE = 0.2
# Share of the train tickets kept aside to choose the trigger threshold before the final fit.
CALIBRATION_SHARE = 0.1
BITEXT_SPLIT_SEED = 13


@dataclass(frozen=True)
class ReplyPair:
    source: str  # "twcs", "ibm", "bitext"
    company: str
    ticket: str  # pairs of one ticket stay on one side of every split
    request: str
    reply: str  # de-identified
    split: str  # "train" or "test"


def conversation_pairs(turns: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """(request, reply) for every agent turn that follows customer turns: the request is the
    customer's turns since the previous agent turn, joined by newlines. `turns` are
    (author kind, text) in order; kinds other than "customer" and "agent" are skipped."""
    pairs: list[tuple[str, str]] = []
    pending: list[str] = []
    for kind, text in turns:
        if kind == "customer":
            pending.append(text)
        elif kind == "agent":
            if pending:
                pairs.append(("\n".join(pending), text))
            pending = []
    return pairs


def reply_text(text: str) -> str:
    """A reply as the library stores it: de-identified, whitespace tidied."""
    return " ".join(deidentify(text).text.split())


def load_twcs_pairs(tickets_jsonl: Path, *, test_share: float = TEST_SHARE) -> list[ReplyPair]:
    threads = []
    with tickets_jsonl.open(encoding="utf-8") as fh:
        for line in fh:
            ticket = json.loads(line)
            if ticket["external_id"].startswith("twcs-"):
                threads.append(ticket)
    # The file is sorted by created_at already; sorting again keeps the split honest if not.
    threads.sort(key=lambda t: (t["created_at"], t["external_id"]))
    cut = len(threads) - round(test_share * len(threads))
    out = []
    for position, ticket in enumerate(threads):
        messages = ticket["messages"]
        agents = [m["author"] for m in messages if m["author_kind"] == "agent"]
        if not agents:
            continue
        turns = [(m["author_kind"], m["body"]) for m in messages]
        for request, reply in conversation_pairs(turns):
            out.append(
                ReplyPair(
                    source="twcs",
                    company=agents[0],
                    ticket=ticket["external_id"],
                    request=request,
                    reply=reply_text(reply),
                    split="train" if position < cut else "test",
                )
            )
    return out


def load_ibm_pairs(directory: Path) -> list[ReplyPair]:
    out = []
    for split, name in (("train", "dev"), ("test", "test")):
        for i, conversation in enumerate(load_ibm(directory, name)):
            out.append(
                ReplyPair(
                    source="ibm",
                    company=conversation.company,
                    ticket=f"ibm-{name}-{i}",
                    request=conversation.customer_text,
                    reply=reply_text(conversation.resolution),
                    split=split,
                )
            )
    return out


def load_bitext_pairs(directory: Path) -> list[ReplyPair]:
    from sklearn.model_selection import train_test_split

    rows = load_bitext(directory)
    _, test = train_test_split(
        list(range(len(rows))),
        test_size=TEST_SHARE,
        random_state=BITEXT_SPLIT_SEED,
        stratify=[r.intent for r in rows],
    )
    held = set(int(i) for i in test)
    return [
        ReplyPair(
            source="bitext",
            company="Bitext",
            ticket=f"bitext-{i}",
            request=row.instruction,
            reply=reply_text(row.response),
            split="test" if i in held else "train",
        )
        for i, row in enumerate(rows)
    ]


def real_pairs(tickets_jsonl: Path, data_dir: Path) -> list[ReplyPair]:
    """The real conversations: Twitter then IBM (the order of `evaluate_replies`)."""
    return [
        *load_twcs_pairs(tickets_jsonl),
        *load_ibm_pairs(data_dir / "twitter_cdp_ibm"),
    ]


# ----------------------------------------------------------------------------------------
# 1-of-100
# ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CandidateSets:
    """For each query pair, the row indexes (into the pairs) of its 100 candidate replies:
    the true one first."""

    rows: np.ndarray  # (n queries, CANDIDATES) int64, column 0 = the true reply
    whole_set: np.ndarray  # (n queries,) bool: distractors drawn from the whole source


def candidate_sets(
    pairs: Sequence[ReplyPair], queries: Sequence[int], *, seed: int = 0, size: int = CANDIDATES
) -> CandidateSets:
    """`size - 1` distractors per query from the replies (train and test) of the same company
    whose text differs from the true reply; from the whole source where the company has too
    few. `size` must not exceed the source's distinct replies."""
    rng = np.random.default_rng(seed)
    by_company: dict[tuple[str, str], list[int]] = {}
    by_source: dict[str, list[int]] = {}
    for i, pair in enumerate(pairs):
        by_company.setdefault((pair.source, pair.company), []).append(i)
        by_source.setdefault(pair.source, []).append(i)
    rows = np.zeros((len(queries), size), dtype=np.int64)
    whole = np.zeros(len(queries), dtype=bool)
    for q, i in enumerate(queries):
        truth = pairs[i]
        pool = [
            j for j in by_company[(truth.source, truth.company)] if pairs[j].reply != truth.reply
        ]
        if len(pool) < size - 1:
            pool = [j for j in by_source[truth.source] if pairs[j].reply != truth.reply]
            whole[q] = True
        rows[q, 0] = i
        rows[q, 1:] = rng.choice(np.asarray(pool), size=size - 1, replace=False)
    return CandidateSets(rows=rows, whole_set=whole)


def ranks_of_truth(scores: np.ndarray) -> np.ndarray:
    """0-based rank of column 0 in each row; ties count against the true reply."""
    return np.asarray((scores[:, 1:] >= scores[:, :1]).sum(axis=1), dtype=np.int64)


@dataclass(frozen=True)
class Recall:
    n: int
    r1: float
    r3: float


def recall(ranks: np.ndarray) -> Recall:
    if len(ranks) == 0:
        return Recall(0, 0.0, 0.0)
    return Recall(
        n=len(ranks),
        r1=100 * float(np.mean(ranks < 1)),
        r3=100 * float(np.mean(ranks < 3)),
    )


# ----------------------------------------------------------------------------------------
# The methods
# ----------------------------------------------------------------------------------------


def _bm25_scores(
    pairs: Sequence[ReplyPair], sets: CandidateSets, queries: Sequence[int]
) -> np.ndarray:
    from rank_bm25 import BM25Okapi  # type: ignore[import-untyped]

    from copilot.nlp.evaluation import bm25_tokens

    out = np.zeros(sets.rows.shape, dtype=np.float64)
    by_source: dict[str, list[int]] = {}
    for i, pair in enumerate(pairs):
        by_source.setdefault(pair.source, []).append(i)
    for source, members in by_source.items():
        # Term statistics over the source's reply library.
        local = {j: k for k, j in enumerate(members)}
        bm25 = BM25Okapi([bm25_tokens(pairs[j].reply) or [""] for j in members])
        for q, i in enumerate(queries):
            if pairs[i].source != source:
                continue
            ids = [local[int(j)] for j in sets.rows[q]]
            out[q] = bm25.get_batch_scores(bm25_tokens(pairs[i].request), ids)
    return out


def _nearest_case_scores(
    pairs: Sequence[ReplyPair],
    sets: CandidateSets,
    queries: Sequence[int],
    train: Sequence[int],
    request_vecs: FloatArray,
    reply_vecs: FloatArray,
) -> np.ndarray:
    """Each candidate's cosine to the reply of the training request nearest to the query
    (nearest among the same company's training requests, else the source's)."""
    groups: dict[tuple[str, str], list[int]] = {}
    sources: dict[str, list[int]] = {}
    for i in train:
        groups.setdefault((pairs[i].source, pairs[i].company), []).append(i)
        sources.setdefault(pairs[i].source, []).append(i)
    out = np.zeros(sets.rows.shape, dtype=np.float64)
    for q, i in enumerate(queries):
        pool = groups.get((pairs[i].source, pairs[i].company)) or sources[pairs[i].source]
        nearest = pool[int(np.argmax(request_vecs[pool] @ request_vecs[i]))]
        out[q] = reply_vecs[sets.rows[q]] @ reply_vecs[nearest]
    return out


def _selector_scores(
    selector: ResponseSelector,
    sets: CandidateSets,
    queries: Sequence[int],
    request_vecs: FloatArray,
    reply_vecs: FloatArray,
) -> np.ndarray:
    mapped_requests = selector.requests_map(request_vecs[list(queries)])
    mapped_replies = selector.replies_map(reply_vecs)
    out: np.ndarray = np.einsum("qd,qcd->qc", mapped_requests, mapped_replies[sets.rows])
    return out.astype(np.float64)


# ----------------------------------------------------------------------------------------
# The run
# ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GroupResult:
    name: str
    whole_set: int  # requests whose distractors came from the whole source
    by_method: dict[str, Recall]


@dataclass(frozen=True)
class TriggerResult:
    threshold: float
    target_precision: float
    reached: bool
    coverage: float  # % of test requests with at least one suggestion
    r1_triggered: float
    r3_triggered: float


@dataclass(frozen=True)
class ReplyEvaluation:
    encoder_version: str
    selector_version: str
    n_train: int
    groups: tuple[GroupResult, ...]
    trigger: dict[str, TriggerResult]
    calibration: Calibration  # the linear maps' trigger, chosen here (the selector's is shipped)
    score_ms_5000: float
    score_mapped_ms_5000: float
    encode_seconds: float
    branch_seconds: float
    seconds: float
    trigger_threshold: float = 0.0
    trigger_note: str = ""


METHODS = ("selector", "linear maps", "encoder cosine", "nearest case's reply", "BM25")


def embed_cached(encoder: Encoder, texts: Sequence[str], cache_dir: Path | None) -> FloatArray:
    """Encoder embeddings of `texts`, kept in `cache_dir` keyed by the texts and encoder."""
    digest = hashlib.sha256(encoder.version.encode())
    for text in texts:
        digest.update(text.encode())
        digest.update(b"\x00")
    path = cache_dir / f"reply-eval-{digest.hexdigest()[:16]}.npy" if cache_dir else None
    if path is not None and path.is_file():
        cached: FloatArray = np.load(path, allow_pickle=False)
        if cached.shape[0] == len(texts):
            return cached
    vectors = encoder.encode(list(texts))
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, vectors, allow_pickle=False)
    return vectors


def evaluate_replies(
    *,
    tickets_jsonl: Path,
    data_dir: Path,
    encoder: Encoder,
    cache_dir: Path | None,
    target_precision: float,
    selector: ResponseSelector,
    real_only: bool = False,
    config: SelectorConfig | None = None,
    seed: int = 0,
    progress: Callable[[str], None] = lambda _: None,
) -> ReplyEvaluation:
    """`selector`: the selector under test (the shipped branch), trained on no test pair."""
    started = time.perf_counter()
    pairs = real_pairs(tickets_jsonl, data_dir)
    if not real_only:
        pairs += load_bitext_pairs(data_dir / "bitext_customer_support")
    progress(f"{len(pairs)} pairs; encoding")
    t0 = time.perf_counter()
    request_vecs = embed_cached(encoder, [p.request for p in pairs], cache_dir)
    reply_vecs = embed_cached(encoder, [p.reply for p in pairs], cache_dir)
    encode_seconds = time.perf_counter() - t0

    train = [i for i, p in enumerate(pairs) if p.split == "train"]
    test = [i for i, p in enumerate(pairs) if p.split == "test"]

    # Trigger: fit on most train tickets, choose the threshold on the rest (1-of-100 among
    # their own company's replies), then fit on every train ticket with that threshold.
    fit_rows, calibration_rows = split_for_calibration(pairs, train, seed=seed)
    first = ResponseSelector.fit(
        request_vecs[fit_rows],
        reply_vecs[fit_rows],
        encoder_version=encoder.version,
        reply_keys=[pairs[i].reply for i in fit_rows],
        config=config,
    )
    calibration_sets = candidate_sets(pairs, calibration_rows, seed=seed + 1)
    calibration_scores = _selector_scores(
        first, calibration_sets, calibration_rows, request_vecs, reply_vecs
    )
    calibration = trigger_calibrate(calibration_scores, target_precision=target_precision)
    progress("training the linear maps")
    linear = ResponseSelector.fit(
        request_vecs[train],
        reply_vecs[train],
        encoder_version=encoder.version,
        reply_keys=[pairs[i].reply for i in train],
        threshold=calibration.chosen.threshold,
        config=config,
    )

    progress("the selector's request side on the test requests")
    selector_inputs = request_vecs.copy()
    t0 = time.perf_counter()
    if selector.request_branch is not None:
        selector_inputs[test] = selector.request_inputs([pairs[i].request for i in test], encoder)
    branch_seconds = time.perf_counter() - t0
    progress("ranking")
    sets = candidate_sets(pairs, test, seed=seed)
    scores = {
        "selector": _selector_scores(selector, sets, test, selector_inputs, reply_vecs),
        "linear maps": _selector_scores(linear, sets, test, request_vecs, reply_vecs),
        "encoder cosine": np.einsum("qd,qcd->qc", request_vecs[test], reply_vecs[sets.rows]).astype(
            np.float64
        ),
        "nearest case's reply": _nearest_case_scores(
            pairs, sets, test, train, request_vecs, reply_vecs
        ),
        "BM25": _bm25_scores(pairs, sets, test),
    }
    ranks = {name: ranks_of_truth(s) for name, s in scores.items()}

    groups: list[GroupResult] = []

    def group(name: str, members: np.ndarray) -> None:
        groups.append(
            GroupResult(
                name=name,
                whole_set=int(sets.whole_set[members].sum()),
                by_method={m: recall(ranks[m][members]) for m in METHODS},
            )
        )

    sources = np.array([pairs[i].source for i in test])
    companies = np.array([pairs[i].company for i in test])
    labels = {"twcs": "Twitter (TWCS)", "ibm": "IBM customer care", "bitext": "Bitext"}
    trigger: dict[str, TriggerResult] = {}
    top = scores["selector"].max(axis=1)
    for source in ("twcs", "ibm"):
        in_source = sources == source
        own = in_source & ~sets.whole_set
        for company in sorted(set(companies[own].tolist())):
            group(f"  {company}", np.flatnonzero(own & (companies == company)))
        if (in_source & sets.whole_set).any():
            group(
                "  other companies (distractors from the whole set)",
                np.flatnonzero(in_source & sets.whole_set),
            )
        group(f"{labels[source]}, all", np.flatnonzero(in_source))
    if not real_only:
        group(labels["bitext"], np.flatnonzero(sources == "bitext"))
    real = np.isin(sources, ["twcs", "ibm"])
    group("Real conversations (Twitter + IBM)", np.flatnonzero(real))
    for name, members in (
        ("Twitter (TWCS)", sources == "twcs"),
        ("IBM customer care", sources == "ibm"),
        ("Bitext", sources == "bitext"),
        ("Real conversations (Twitter + IBM)", real),
    ):
        if not members.any():
            continue
        shown = members & (top >= selector.threshold)
        trigger[name] = TriggerResult(
            threshold=selector.threshold,
            target_precision=target_precision,
            reached=bool(selector.training.get("trigger_reached", True)),
            coverage=100 * float(shown.sum()) / max(1, int(members.sum())),
            r1_triggered=recall(ranks["selector"][shown]).r1,
            r3_triggered=recall(ranks["selector"][shown]).r3,
        )

    return ReplyEvaluation(
        encoder_version=encoder.version,
        selector_version=selector.version,
        n_train=len(train),
        groups=tuple(groups),
        trigger=trigger,
        calibration=calibration,
        score_ms_5000=score_timing(selector),
        score_mapped_ms_5000=score_timing(selector, mapped=True),
        encode_seconds=encode_seconds,
        branch_seconds=branch_seconds,
        trigger_threshold=selector.threshold,
        trigger_note=str(selector.training.get("trigger", "")),
        seconds=time.perf_counter() - started,
    )


def split_for_calibration(
    pairs: Sequence[ReplyPair], rows: Sequence[int], *, seed: int, share: float = CALIBRATION_SHARE
) -> tuple[list[int], list[int]]:
    """Rows of most tickets to fit on, and rows of a seeded `share` of the tickets to choose
    the trigger on (a ticket's pairs stay together)."""
    tickets = sorted({pairs[i].ticket for i in rows})
    rng = np.random.default_rng(seed)
    held = set(
        rng.choice(
            np.asarray(tickets), size=max(1, round(share * len(tickets))), replace=False
        ).tolist()
    )
    fit = [i for i in rows if pairs[i].ticket not in held]
    calibration = [i for i in rows if pairs[i].ticket in held]
    return fit, calibration


def trigger_calibrate(scores: np.ndarray, *, target_precision: float) -> Calibration:
    """The lowest top-score threshold at which, among the requests it lets through, the true
    reply is among the three shown for at least `target_precision` of them (1-of-100 sets,
    true reply in column 0)."""
    ranks = ranks_of_truth(scores)
    return threshold_calibrate(
        scores.max(axis=1).tolist(), (ranks < 3).tolist(), target_precision=target_precision
    )


def score_timing(
    selector: ResponseSelector, *, entries: int = 5000, repeats: int = 50, mapped: bool = False
) -> float:
    """Milliseconds of `scores` for one request against `entries` library replies (median);
    `mapped`: the library's replies mapped beforehand, as a held library would be."""
    rng = np.random.default_rng(0)
    library = rng.standard_normal((entries, selector.dim)).astype(np.float32)
    request = rng.standard_normal((1, selector.dim)).astype(np.float32)
    held = selector.replies_map(library)

    def run() -> None:
        if mapped:
            selector.scores_mapped(selector.requests_map(request), held)
        else:
            selector.scores(request, library)

    run()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    return 1000 * float(np.median(times))


def format_replies(result: ReplyEvaluation) -> str:
    header = f"{'':52} " + "  ".join(f"{m:>22}" for m in METHODS)
    lines = [
        f"Encoder: {result.encoder_version}; selector {result.selector_version} (shipped, "
        f"trained on no test pair); linear maps trained here on {result.n_train} train pairs",
        "1-of-100: the true reply among 99 others of the same company; R@1 / R@3 in %",
        header,
    ]
    for g in result.groups:
        name = g.name + (f" [{g.whole_set} whole-set]" if g.whole_set else "")
        first = next(iter(g.by_method.values()))
        cells = "  ".join(
            f"{g.by_method[m].r1:9.1f} / {g.by_method[m].r3:5.1f}      " for m in METHODS
        )
        lines.append(f"{name[:44]:44} n={first.n:<5} {cells}")
    c = result.calibration
    lines += [
        "",
        f"Trigger of the selector: threshold {result.trigger_threshold:.2f} on the top score, "
        f"shipped with it ({result.trigger_note})",
        f"(the linear maps' own, chosen here for {100 * c.target_precision:.0f}% of triggered "
        f"requests having the true reply among the three shown: {c.chosen.threshold:.2f})",
    ]
    for name, t in result.trigger.items():
        lines.append(
            f"  {name}: {t.coverage:.1f}% of requests get a suggestion; among them "
            f"R@1 {t.r1_triggered:.1f}, R@3 {t.r3_triggered:.1f}"
        )
    lines += [
        "",
        f"Selector {result.selector_version}: scores for 1 request x 5,000 entries "
        f"{result.score_ms_5000:.2f} ms ({result.score_mapped_ms_5000:.2f} ms with the "
        "entries mapped beforehand)",
        f"Encoding {result.encode_seconds:.0f}s; the request branch on the test requests "
        f"{result.branch_seconds:.0f}s (a full encoder pass each); total {result.seconds:.0f}s",
    ]
    return "\n".join(lines)
