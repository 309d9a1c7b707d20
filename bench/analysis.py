"""Copilot analysis speed: per-message latency with a large index, and bulk throughput.

Loads the demo tickets (real conversations), indexes their solved tickets with the real
encoder, then adds synthetic solved cases up to --cases (each a real case's embedding plus
noise, so the index has the size and the shape of a real one), and publishes the index through
the same rebuild code the product uses. Then:

1. latency: `analysis_run` (what the worker runs per message: database reads, the models, the
   team-scoped index search, the draft, the writes) on --messages real customer messages of the
   open demo tickets, after a warm-up, as a worker that has been running would;
2. bulk throughput: analysing and indexing a history (every demo conversation) in batches,
   against the bare sentence encoder on the same texts in the same run.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/copilot_bench \\
        .venv/bin/python bench/analysis.py --cases 100000

The database named in DATABASE_URL is created if missing and its tables are replaced; the index
goes to a temporary directory.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")

from bench.common import ensure_database, fill_synthetic_cases, percentile


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3, help="bulk rounds (median reported)")
    args = parser.parse_args()
    index_dir = tempfile.mkdtemp(prefix="copilot-bench-index-")
    os.environ["COPILOT_INDEX_DIR"] = index_dir
    try:
        run(args, index_dir)
    finally:
        shutil.rmtree(index_dir, ignore_errors=True)


def run(args: argparse.Namespace, index_dir: str) -> None:

    ensure_database()
    import django

    django.setup()
    import numpy as np
    import torch
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection
    from django.db.models import Count
    from django.utils import timezone

    from accounts.models import Team
    from copilot.engine import get_engine, get_selector
    from copilot.models import AnalysisStatus, MessageAnalysis, ReplyEntry, SolvedCase
    from copilot.nlp.draft import SimilarCase, draft_reply
    from copilot.replies_selectors import reply_entries_for_team, reply_suggestions_rank
    from copilot.selectors import case_text, customer_text_for_version
    from copilot.services.analysis import analysis_run
    from copilot.services.cases import case_index_rebuild
    from tickets.models import AuthorKind, Message, Ticket

    settings.COPILOT_INDEX_DIR = index_dir
    print(f"database: {connection.vendor} {connection.settings_dict['NAME']}")
    print(f"torch threads: {torch.get_num_threads()}, CPUs: {os.cpu_count()}")
    call_command("flush", interactive=False, verbosity=0)
    call_command("migrate", verbosity=0)
    call_command("seed_demo", no_progress=True, stdout=open(os.devnull, "w"))  # noqa: SIM115
    engine = get_engine()
    encoder = engine.encoder
    real = list(SolvedCase.objects.values_list("embedding", flat=True))
    real_vectors = np.vstack([np.frombuffer(bytes(b), dtype=np.float32) for b in real])
    print(f"real solved cases embedded: {len(real_vectors)}")

    started = time.perf_counter()
    customer, missing = fill_synthetic_cases(total=args.cases, real_vectors=real_vectors)
    print(f"synthetic cases added: {missing} in {time.perf_counter() - started:.0f}s")
    started = time.perf_counter()
    result = case_index_rebuild(progress=None)
    assert result.manifest is not None
    print(
        f"index published: {result.manifest.count} cases, {result.manifest.kind}, "
        f"{result.manifest.size_bytes / 1e6:.0f} MB, in {time.perf_counter() - started:.1f}s"
    )

    # 1. Per-message latency, as the worker runs it.
    open_tickets = [
        t
        for t in Ticket.objects.filter(status__in=["new", "open", "pending"])
        .exclude(customer=customer)
        .order_by("pk")
        if t.messages.order_by("-sequence").first().author_kind == AuthorKind.CUSTOMER
    ][: args.messages + 5]
    MessageAnalysis.objects.all().delete()
    for t in open_tickets:
        MessageAnalysis.objects.create(
            ticket=t,
            transcript_version=t.transcript_version,
            message=Message.objects.get(ticket=t, sequence=t.transcript_version),
            requested_at=timezone.now(),
        )
    for t in open_tickets[:5]:  # warm-up: models loaded, index and team map cached
        analysis_run(ticket_id=t.pk, transcript_version=t.transcript_version)
    timings = []
    for t in open_tickets[5:]:
        started = time.perf_counter()
        analysis = analysis_run(ticket_id=t.pk, transcript_version=t.transcript_version)
        timings.append((time.perf_counter() - started) * 1000)
        assert analysis is not None and analysis.status in (
            AnalysisStatus.DONE,
            AnalysisStatus.NOT_ANALYSABLE,
        )
    texts_lengths = [
        len(customer_text_for_version(ticket_id=t.pk, transcript_version=t.transcript_version)[0])
        for t in open_tickets[5:]
    ]
    print()
    print(
        f"per-message analysis (analysis_run, {len(timings)} real messages, "
        f"median {statistics.median(texts_lengths):.0f} chars, index {result.manifest.count}):"
    )
    print(
        f"  p50 {percentile(timings, 50):.1f} ms   p95 {percentile(timings, 95):.1f} ms   "
        f"p99 {percentile(timings, 99):.1f} ms   mean {statistics.mean(timings):.1f} ms"
    )
    one = [case_text(ticket=t) for t in open_tickets[5:105]]
    search_ms = []
    stored = engine.current_index()
    # Searches and rankings are per team and company: measured on the first team's largest
    # company (on the demo, the Bitext shop of Orders & Delivery).
    team_id = Team.objects.first().pk  # type: ignore[union-attr]
    company = (
        ReplyEntry.objects.filter(team_id=team_id, active=True)
        .values("company")
        .annotate(n=Count("pk"))
        .order_by("-n")
        .values_list("company", flat=True)
        .first()
    ) or ""
    allowed = engine.team_case_ids(stored, [team_id], company)
    vectors = encoder.encode(one)
    for v in vectors:
        started = time.perf_counter()
        stored.index.search(v.reshape(1, -1), 5, allowed=allowed)
        search_ms.append((time.perf_counter() - started) * 1000)
    print(
        f"  of which team- and company-scoped search of {len(allowed)} cases: "
        f"p50 {percentile(search_ms, 50):.1f} ms, p95 {percentile(search_ms, 95):.1f} ms"
    )
    # The suggestions' share: ranking the team's reply library (mapped once per process).
    rank_ms = []
    selector = get_selector()
    for v in vectors:
        started = time.perf_counter()
        reply_suggestions_rank(
            team_id=team_id, company=company, request_vecs=v.reshape(1, -1), selector=selector
        )
        rank_ms.append((time.perf_counter() - started) * 1000)
    entries, _ = reply_entries_for_team(team_id=team_id, company=company)
    suggested = MessageAnalysis.objects.filter(status=AnalysisStatus.DONE).exclude(suggestions=[])
    ranker = selector.version if selector else "cosine"
    print(
        f"  of which ranking {len(entries)} library entries ({ranker}): "
        f"p50 {percentile(rank_ms, 50):.2f} ms, p95 {percentile(rank_ms, 95):.2f} ms "
        f"(with the library's change check); {suggested.count()} of {len(open_tickets)} messages "
        "got suggestions"
    )

    # 2. Bulk: analyse and index a history vs the bare encoder on the same texts.
    history = list(
        Ticket.objects.exclude(customer=customer).prefetch_related("messages").order_by("pk")
    )
    texts = [case_text(ticket=t) for t in history]
    team_ids: list[int | None] = [t.team_id for t in history]
    bare_rates, bulk_rates = [], []
    for _ in range(args.rounds):
        started = time.perf_counter()
        encoder.encode(texts)
        bare_rates.append(len(texts) / (time.perf_counter() - started))

        started = time.perf_counter()
        analyses = engine.analyse_many(
            texts,
            team_ids=team_ids,
            exclude_cases=[t.pk for t in history],
            companies=[t.company for t in history],
        )
        resolutions = dict(
            Ticket.objects.filter(
                pk__in={n.id for a in analyses for n in a.neighbours}
            ).values_list("pk", "resolution")
        )
        for text, analysis in zip(texts, analyses, strict=True):
            draft_reply(
                message=text,
                customer_first_name=None,
                sentiment=analysis.sentiment.label,
                similar_cases=[
                    SimilarCase(case_id=n.id, similarity=n.score, resolution=resolutions[n.id])
                    for n in analysis.neighbours
                ],
            )
        solved = [i for i, t in enumerate(history) if t.status in ("solved", "closed")]
        stored.index.add(
            [history[i].pk for i in solved], np.vstack([analyses[i].vector for i in solved])
        )
        bulk_rates.append(len(texts) / (time.perf_counter() - started))
    bare, bulk = statistics.median(bare_rates), statistics.median(bulk_rates)
    print()
    print(f"bulk, {len(texts)} real conversations ({args.rounds} rounds, median):")
    print(f"  bare encoder (sentence-transformers encode): {bare:.0f} texts/s")
    print(
        f"  analyse + draft + index (Engine.analyse_many, draft_reply, index add): "
        f"{bulk:.0f} texts/s = {100 * bulk / bare:.0f}% of the bare encoder"
    )


if __name__ == "__main__":
    main()
