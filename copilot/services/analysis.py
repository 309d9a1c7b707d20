"""Analyses of customer messages: requesting them, running them (one or a batch), recording the
result, and re-sending those whose task was lost."""

import datetime as dt
import logging
import time
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, F, OuterRef, Q, Subquery
from django.utils import timezone

from copilot import tasks as copilot_tasks
from copilot.engine import EngineError, TextAnalysis, get_engine, get_selector
from copilot.intent_sets import ticket_label_set
from copilot.models import (
    AnalysisStatus,
    MessageAnalysis,
    SolvedCase,
    TicketInsight,
)
from copilot.nlp.conversation import conversation_state
from copilot.replies_selectors import reply_suggestions_rank
from copilot.selectors import (
    customer_repeat_contacts,
    customer_text_for_version,
    customer_turns_for_version,
    draft_for_ticket,
    similar_case_resolutions,
)
from copilot.signals import analysis_completed_publish
from tickets.customer_data import (
    ERASED_BEFORE_ANALYSIS,
    customer_is_erased,
    customer_lock_for_ticket,
)
from tickets.models import AuthorKind, Message, Ticket
from tickets.selectors import ACTIVE_STATUSES

logger = logging.getLogger(__name__)


def analysis_request(*, message: Message, queue: bool = True) -> MessageAnalysis:
    """Record that a customer message awaits analysis and queue the work after commit.

    Called inside the transaction that appends the message. Older pending analyses of the same
    ticket are superseded: the agent needs the copilot's view of the conversation as it is now.
    With `queue` false no task is sent for it: a bulk run (analyses_run_pending) takes it.
    """
    now = timezone.now()
    MessageAnalysis.objects.filter(
        ticket_id=message.ticket_id,
        status=AnalysisStatus.PENDING,
        transcript_version__lt=message.sequence,
    ).update(status=AnalysisStatus.SUPERSEDED, finished_at=now)
    analysis, created = MessageAnalysis.objects.get_or_create(
        ticket_id=message.ticket_id,
        transcript_version=message.sequence,
        defaults={"message": message, "requested_at": now},
    )
    if not created and analysis.status == AnalysisStatus.FAILED:
        # Asked again (an admin re-running failed analyses): start over.
        analysis.status = AnalysisStatus.PENDING
        analysis.error = ""
        analysis.requested_at = now
        analysis.finished_at = None
        analysis.requeues, analysis.requeued_at = 0, None
        analysis.save(
            update_fields=[
                "status",
                "error",
                "requested_at",
                "finished_at",
                "requeues",
                "requeued_at",
            ]
        )
    if queue:
        copilot_tasks.analyse_message.delay_on_commit(
            ticket_id=message.ticket_id, transcript_version=message.sequence
        )
    return analysis


def analyses_queue_missing(*, retry_failed: bool = False, bulk: bool = False) -> int:
    """Queue an analysis of the latest customer request of every active ticket that has none,
    whoever wrote last (tickets that arrived by import, pending ones included: their newest
    message is often the agent's, and the customer's request before it is still the work), and
    optionally re-queue failed ones. Returns how many. With `bulk`, one task analyses them all
    in batches (analyses_run_pending) instead of one task each."""
    latest_customer = Message.objects.filter(
        ticket_id=OuterRef("pk"), author_kind=AuthorKind.CUSTOMER
    ).order_by("-sequence")
    tickets = Ticket.objects.filter(status__in=ACTIVE_STATUSES).annotate(
        request_id=Subquery(latest_customer.values("pk")[:1]),
        request_sequence=Subquery(latest_customer.values("sequence")[:1]),
    )
    settled = MessageAnalysis.objects.filter(
        ticket_id=OuterRef("pk"), transcript_version=OuterRef("request_sequence")
    )
    if retry_failed:
        settled = settled.exclude(status=AnalysisStatus.FAILED)
    candidates = tickets.filter(request_id__isnull=False).filter(~Exists(settled))
    messages = Message.objects.filter(pk__in=candidates.values("request_id")).order_by(
        "-created_at"
    )
    if bulk:
        return analyses_request_many(messages=list(messages))
    queued = 0
    for message in messages:
        with transaction.atomic():
            analysis_request(message=message)
        queued += 1
    return queued


def _commit_without_flush() -> None:
    """Let the current transaction commit without waiting for its WAL to reach the disk
    (PostgreSQL's synchronous_commit off, this transaction only), unless the setting asks to wait.

    For an analysis's own rows only: they are recomputed from the messages if lost. A crash
    loses at most the last fraction of a second of such commits, whole and in commit order
    (any later commit that waits flushes them too), so the analysis is simply still pending
    and `analyses_requeue_stale` sends it again. Only when the analysis's transaction is the
    outermost one: inside a caller's transaction it would relax the caller's writes too.
    """
    if (
        connection.vendor == "postgresql"
        and not settings.COPILOT_ANALYSIS_SYNCHRONOUS_COMMIT
        and not connection.savepoint_ids  # nested atomic blocks push their savepoints here
    ):
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")


@transaction.atomic
def analyses_request_many(*, messages: list[Message]) -> int:
    """What analysis_request does for each message (older pending analyses of its ticket
    superseded, a failed one started over, a new one recorded), in a few statements for all,
    and one task that analyses them in batches (analyses_run_pending). Returns how many.

    For a backlog (an import, the demo's 983 open tickets): one by one it took 10 s of the demo's
    seed on a loaded 2-core machine, a transaction and three statements each.
    """
    if not messages:
        return 0
    now = timezone.now()
    wanted = {(m.ticket_id, m.sequence): m for m in messages}
    existing = {
        (a.ticket_id, a.transcript_version): a
        for a in MessageAnalysis.objects.filter(ticket_id__in={m.ticket_id for m in messages})
    }
    latest = {ticket_id: version for ticket_id, version in wanted}
    superseded = [
        a.pk
        for (ticket_id, version), a in existing.items()
        if a.status == AnalysisStatus.PENDING and version < latest.get(ticket_id, 0)
    ]
    MessageAnalysis.objects.filter(pk__in=superseded).update(
        status=AnalysisStatus.SUPERSEDED, finished_at=now
    )
    MessageAnalysis.objects.filter(
        pk__in=[a.pk for key, a in existing.items() if key in wanted],
        status=AnalysisStatus.FAILED,
    ).update(
        status=AnalysisStatus.PENDING,
        error="",
        requested_at=now,
        finished_at=None,
        requeues=0,
        requeued_at=None,
    )
    MessageAnalysis.objects.bulk_create(
        MessageAnalysis(
            ticket_id=ticket_id,
            transcript_version=version,
            message=message,
            requested_at=now,
        )
        for (ticket_id, version), message in wanted.items()
        if (ticket_id, version) not in existing
    )
    copilot_tasks.analyse_pending.delay_on_commit()
    return len(wanted)


@transaction.atomic
def analysis_pick_up(*, ticket_id: int, transcript_version: int) -> MessageAnalysis | None:
    """A worker took the analysis: note it, or stop here if it is gone or already superseded.

    Safe to run twice (late acknowledgement redelivers a task whose worker died): it only counts
    the attempt.
    """
    _commit_without_flush()
    analysis = (
        MessageAnalysis.objects.select_for_update()
        .filter(ticket_id=ticket_id, transcript_version=transcript_version)
        .first()
    )
    if analysis is None or analysis.status != AnalysisStatus.PENDING:
        return analysis
    analysis.attempts += 1
    analysis.picked_up_at = timezone.now()
    analysis.save(update_fields=["attempts", "picked_up_at"])
    return analysis


def is_analysable(text: str) -> bool:
    """A model can read it: at least one letter or digit (emoji or punctuation alone is not)."""
    return any(ch.isalnum() for ch in text)


def analysis_run(*, ticket_id: int, transcript_version: int) -> MessageAnalysis | None:
    """Analyse one customer message and store the result; what a worker runs per message.

    Idempotent: a redelivered or repeated task finds the analysis no longer pending and stops,
    and two workers racing on one analysis both compute but only the first writes (the row is
    re-checked under a lock). The models run outside any transaction, so a slow model never
    holds a database lock. A model that cannot be loaded marks the analysis failed (the message
    itself is untouched); database and broker errors propagate so the task is retried.
    """
    analysis = analysis_pick_up(ticket_id=ticket_id, transcript_version=transcript_version)
    if analysis is None or analysis.status != AnalysisStatus.PENDING:
        return analysis
    started = time.perf_counter()
    text, message = customer_text_for_version(
        ticket_id=ticket_id, transcript_version=transcript_version
    )
    if not is_analysable(text):
        return _analysis_finish(
            analysis,
            status=AnalysisStatus.NOT_ANALYSABLE,
            error="it has no words to read (only emoji, symbols or blank space)",
        )
    ticket = Ticket.objects.select_related("customer", "team").get(pk=ticket_id)
    try:
        result = get_engine().analyse(
            text,
            team_id=ticket.team_id,
            exclude_case=ticket.pk,
            label_set=ticket_label_set(ticket=ticket),
            company=ticket.company,
        )
    except EngineError as exc:
        logger.exception("Analysis of ticket %s v%s failed", ticket_id, transcript_version)
        return _analysis_finish(analysis, status=AnalysisStatus.FAILED, error=str(exc))
    fields = _analysis_fields(
        result, message=message, ticket=ticket, transcript_version=transcript_version
    )
    fields["duration_ms"] = round((time.perf_counter() - started) * 1000)
    return _analysis_finish(analysis, status=AnalysisStatus.DONE, **fields)


# Texts per forward pass of a bulk run: enough to share the models' per-call cost, few enough
# that the analyses appear on the inbox a batch at a time (about 5 s a batch on the loaded 2-core
# machine of the README's demo timing).
ANALYSIS_BATCH = 32


def analyses_run_pending(*, batch_size: int = ANALYSIS_BATCH) -> int:
    """Analyse every analysis pending now, `batch_size` texts per forward pass of the models,
    each stored through the same write as a single run (`_analysis_finish`). Returns how many
    were analysed.

    For a backlog (an import, the demo): one batch costs little more than one message. Safe to
    run twice or beside single runs: each analysis is picked up and finished under its lock, so
    one already finished or superseded is skipped.
    """
    pending = list(
        MessageAnalysis.objects.filter(status=AnalysisStatus.PENDING)
        .order_by("-requested_at", "-pk")
        .values_list("ticket_id", "transcript_version")
    )
    done = 0
    started = time.perf_counter()
    for start in range(0, len(pending), batch_size):
        done += _analyses_run_batch(pending[start : start + batch_size])
        # Progress in the worker's log: a backlog of hundreds takes a while.
        logger.info(
            "Bulk analysis: %s of %s analysed (%.1f s)",
            min(start + batch_size, len(pending)),
            len(pending),
            time.perf_counter() - started,
        )
    return done


@transaction.atomic
def analyses_pick_up_many(*, keys: list[tuple[int, int]]) -> list[MessageAnalysis]:
    """What analysis_pick_up does for each (ticket, transcript version), in three statements for
    the batch: the analyses still pending, each attempt counted (0.3 ms of CPU an analysis
    instead of 1.5 ms, on the loaded 2-core machine of the README's demo timing)."""
    if not keys:
        return []
    match = Q(pk__in=[])
    for ticket_id, version in keys:
        match |= Q(ticket_id=ticket_id, transcript_version=version)
    pending = MessageAnalysis.objects.filter(match, status=AnalysisStatus.PENDING)
    pks = list(pending.values_list("pk", flat=True))
    MessageAnalysis.objects.filter(pk__in=pks, status=AnalysisStatus.PENDING).update(
        attempts=F("attempts") + 1, picked_up_at=timezone.now()
    )
    return list(MessageAnalysis.objects.filter(pk__in=pks, status=AnalysisStatus.PENDING))


def _analyses_run_batch(keys: list[tuple[int, int]]) -> int:
    work: list[tuple[MessageAnalysis, str, Message]] = []
    for analysis in analyses_pick_up_many(keys=keys):
        ticket_id, version = analysis.ticket_id, analysis.transcript_version
        text, message = customer_text_for_version(ticket_id=ticket_id, transcript_version=version)
        if not is_analysable(text):
            _analysis_finish(
                analysis,
                status=AnalysisStatus.NOT_ANALYSABLE,
                error="it has no words to read (only emoji, symbols or blank space)",
            )
            continue
        work.append((analysis, text, message))
    if not work:
        return 0
    tickets = Ticket.objects.select_related("customer", "team").in_bulk(
        [a.ticket_id for a, _, _ in work]
    )
    started = time.perf_counter()
    try:
        results = get_engine().analyse_many(
            [text for _, text, _ in work],
            team_ids=[tickets[a.ticket_id].team_id for a, _, _ in work],
            exclude_cases=[a.ticket_id for a, _, _ in work],
            label_sets=[ticket_label_set(ticket=tickets[a.ticket_id]) for a, _, _ in work],
            companies=[tickets[a.ticket_id].company for a, _, _ in work],
        )
    except EngineError as exc:
        logger.exception("Bulk analysis of %s messages failed", len(work))
        for analysis, _, _ in work:
            _analysis_finish(analysis, status=AnalysisStatus.FAILED, error=str(exc))
        return 0
    # Each analysis's share of the batch's model time.
    share_ms = round((time.perf_counter() - started) * 1000 / len(work))
    for (analysis, _, message), result in zip(work, results, strict=True):
        fields = _analysis_fields(
            result,
            message=message,
            ticket=tickets[analysis.ticket_id],
            transcript_version=analysis.transcript_version,
        )
        fields["duration_ms"] = share_ms
        _analysis_finish(analysis, status=AnalysisStatus.DONE, **fields)
    return len(work)


def _analysis_fields(
    result: TextAnalysis, *, message: Message, ticket: Ticket, transcript_version: int
) -> dict[str, Any]:
    """The stored result, the same for a single run and a batch: signals, the customer's state
    across the conversation, the similar cases still valid in the database, the draft, the
    suggestions from the reply library; cases and suggestions of the ticket's own team and
    company only."""
    cases = similar_case_resolutions(
        ids=[n.id for n in result.neighbours], team_id=ticket.team_id, company=ticket.company
    )
    neighbours = [n for n in result.neighbours if n.id in cases]
    sentiment = result.sentiment
    draft = draft_for_ticket(
        ticket=ticket,
        message=message,
        sentiment=sentiment.label,
        similar=[(n.id, n.score) for n in neighbours],
        cases=cases,
    )
    intent = result.intent
    return {
        **_suggestion_fields(result, team_id=ticket.team_id, company=ticket.company),
        "sentiment": sentiment.label,
        "sentiment_score": round(sentiment.score, 4),
        "sentiment_confidence": round(sentiment.confidence, 4),
        "intent": intent.label if intent else "",
        "intent_confidence": round(intent.confidence, 4) if intent else None,
        "intent_candidates": [
            {"label": c.label, "confidence": round(c.score, 4)} for c in intent.top
        ]
        if intent
        else [],
        "similar_cases": [{"ticket_id": n.id, "similarity": round(n.score, 4)} for n in neighbours],
        "draft_reply": draft.text,
        "draft_reasons": [*draft.reasons, *result.notes],
        "model_versions": result.model_versions,
        **_conversation_fields(
            ticket=ticket,
            transcript_version=transcript_version,
            sentiment_score=sentiment.score,
            sentiment_label=sentiment.label,
            intent=intent.label if intent else "",
        ),
    }


def _suggestion_fields(result: TextAnalysis, *, team_id: int, company: str) -> dict[str, Any]:
    """Up to three of the team's library replies of this company, best first, ranked by the
    response selector
    (the encoder's cosine when none is trained); none when the best is below the trigger.
    The team's replies are mapped once per process and selector, so this is one product."""
    # The selector's request branch read this message in the same encoder pass.
    request = result.selector_input if result.selector_input is not None else result.vector
    if request is None or not settings.COPILOT_REPLY_SUGGESTIONS:
        return {"suggestions": [], "selector_version": ""}
    selector = get_selector()
    ranked, version = reply_suggestions_rank(
        team_id=team_id,
        company=company,
        request_vecs=request.reshape(1, -1),
        selector=selector,
    )
    return {
        "suggestions": [s.as_json() for s in ranked[0]],
        "selector_version": version,
    }


def _conversation_fields(
    *,
    ticket: Ticket,
    transcript_version: int,
    sentiment_score: float,
    sentiment_label: str,
    intent: str,
) -> dict[str, Any]:
    """The customer's state across the conversation: every message of theirs so far, with the
    sentiment each analysis stored, and their other recent tickets about the same issue."""
    state = conversation_state(
        turns=customer_turns_for_version(
            ticket_id=ticket.pk,
            transcript_version=transcript_version,
            current_score=sentiment_score,
            current_label=sentiment_label,
        ),
        repeat_contacts=customer_repeat_contacts(ticket=ticket, intent=intent),
    )
    return {
        "conversation_level": state.level,
        "conversation_score": state.score,
        "conversation_reasons": list(state.reasons),
    }


@transaction.atomic
def _analysis_finish(analysis: MessageAnalysis, *, status: str, **fields: Any) -> MessageAnalysis:
    # The customer first, then the analysis: the order an erasure takes them in, so the two
    # serialise on the customer and cannot deadlock. What was read before the lock (the
    # message, the customer's name) may have been erased since: re-checked below.
    _commit_without_flush()
    customer = customer_lock_for_ticket(ticket_id=analysis.ticket_id)
    locked = MessageAnalysis.objects.select_for_update().get(pk=analysis.pk)
    if locked.status != AnalysisStatus.PENDING:
        # Another worker finished first, a newer message superseded this one, or the
        # customer was erased meanwhile.
        return locked
    if customer_is_erased(customer=customer):
        # Erased after this run read their message: keep nothing of what it computed.
        locked.status = AnalysisStatus.NOT_ANALYSABLE
        locked.error = ERASED_BEFORE_ANALYSIS
        locked.finished_at = timezone.now()
        locked.save(update_fields=["status", "error", "finished_at"])
        return locked
    if fields.get("similar_cases"):
        fields = _cases_still_there(fields)
    for name, value in fields.items():
        setattr(locked, name, value)
    locked.status = status
    locked.finished_at = timezone.now()
    locked.save()
    if status == AnalysisStatus.DONE:
        _insight_update(locked)
        # After commit: what the layers above do with a finished analysis (recovery proposes
        # actions) is their own work, run outside this transaction.
        analysis_completed_publish(analysis_id=locked.pk)
    return locked


CASE_WITHDRAWN = (
    "a similar case was withdrawn while the draft was written (its customer erased or opted "
    "out, or the ticket reopened) → no draft"
)


def _cases_still_there(fields: dict[str, Any]) -> dict[str, Any]:
    """The similar cases the draft was built from, re-checked under a lock held to commit.

    Another customer's erasure deletes their cases: one that did so after this run read them
    is seen here, and the draft, which may quote them, is not stored; one that comes later
    waits for this write and then finds the copy (privacy.erasure redacts drafts that cite the
    erased customer's cases). Locked in one order (by key), so two analyses citing the same
    cases queue rather than deadlock.
    """
    cited = [c["ticket_id"] for c in fields["similar_cases"]]
    present = set(
        SolvedCase.objects.select_for_update()
        .filter(ticket_id__in=cited)
        .order_by("pk")
        .values_list("ticket_id", flat=True)
    )
    if present >= set(cited):
        return fields
    return {
        **fields,
        "similar_cases": [c for c in fields["similar_cases"] if c["ticket_id"] in present],
        "draft_reply": "",
        "draft_reasons": [CASE_WITHDRAWN],
    }


def _insight_update(analysis: MessageAnalysis) -> None:
    """Point the ticket's inbox insight at this analysis unless a newer one is there already.

    One conditional UPDATE when the ticket has an insight (every analysis after its first);
    the insert runs only for a ticket's first. Two writers cannot both insert: the caller holds
    the customer's lock (`_analysis_finish`), which every analysis of the ticket takes first.
    """
    values = {
        "analysis": analysis,
        "transcript_version": analysis.transcript_version,
        "sentiment": analysis.sentiment,
        "sentiment_score": analysis.sentiment_score,
        "intent": analysis.intent,
        "intent_confidence": analysis.intent_confidence,
        "conversation_level": analysis.conversation_level,
        "conversation_score": analysis.conversation_score,
    }
    rows = TicketInsight.objects.filter(ticket_id=analysis.ticket_id)
    if rows.filter(transcript_version__lte=analysis.transcript_version).update(**values):
        return
    if not rows.exists():  # else a newer analysis's insight is there: it stays
        TicketInsight.objects.create(ticket_id=analysis.ticket_id, **values)


REQUEUE_STALE_SECONDS = 120
REQUEUE_LIMIT = 4


def analysis_requeue_backoff(*, requeues: int) -> dt.timedelta:
    """How long an analysis re-sent ``requeues`` times waits before the next re-send."""
    return dt.timedelta(seconds=REQUEUE_STALE_SECONDS * 2**requeues)


def _requeue_due(now: dt.datetime) -> Q:
    """Pending analyses whose last request (the first time) or re-send, and last pick-up, are
    older than the back-off their number of re-sends earned."""
    due = Q(pk__in=[])
    for requeues in range(REQUEUE_LIMIT + 1):
        cutoff = now - analysis_requeue_backoff(requeues=requeues)
        sent = Q(requested_at__lt=cutoff) if requeues == 0 else Q(requeued_at__lt=cutoff)
        picked_up = Q(picked_up_at__isnull=True) | Q(picked_up_at__lt=cutoff)
        due |= Q(requeues=requeues) & sent & picked_up
    return due


def analyses_requeue_stale() -> int:
    """Send again the analyses whose task was lost (a broker restarted without persistence, a
    message dropped, its worker died long ago), backing off; fail those that nobody picked up
    after REQUEUE_LIMIT re-sends. Returns how many were sent.

    The database row is the truth, the broker only a delivery. Each re-send is claimed on the
    row first (a compare-and-set on its count), so two sweeps at once, or a sweep and a worker
    finishing the analysis, never send one analysis twice or fail a finished one.
    """
    now = timezone.now()
    stale = (
        MessageAnalysis.objects.filter(status=AnalysisStatus.PENDING)
        .filter(_requeue_due(now))
        .order_by("requested_at")
        .values_list("pk", "ticket_id", "transcript_version", "requeues")
    )
    sent = 0
    for pk, ticket_id, version, requeues in stale:
        claim = MessageAnalysis.objects.filter(
            pk=pk, status=AnalysisStatus.PENDING, requeues=requeues
        )
        if requeues >= REQUEUE_LIMIT:
            failed = claim.update(
                status=AnalysisStatus.FAILED,
                finished_at=now,
                error=(
                    f"No worker picked this analysis up after {requeues} re-sends; is a worker "
                    "consuming the copilot.fast queue? Once one is, run "
                    "`manage.py analyse_tickets --retry-failed`."
                ),
            )
            if failed:
                logger.error(
                    "Analysis of ticket %s v%s failed: not picked up after %s re-sends",
                    ticket_id,
                    version,
                    requeues,
                )
            continue
        with transaction.atomic():
            if claim.update(requeues=requeues + 1, requeued_at=now) != 1:
                continue  # another sweep sent it, or a worker finished it, meanwhile
            copilot_tasks.analyse_message.delay_on_commit(
                ticket_id=ticket_id, transcript_version=version
            )
        sent += 1
    return sent
