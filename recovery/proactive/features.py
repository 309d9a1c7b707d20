"""Each solve's features as of the moment it was solved, and whether the customer wrote again
within the window after it: the rows the predictor learns from and scores.

A solve is a ticket's `solved_at` (its latest solve: an earlier solve that was reopened shows
only as the reopen event, which is a feature). Everything a feature reads is dated before the
solve, so a row computed today for last month's solve sees what we saw then.

The queries read the customers' tickets, their messages' times and authors, reopen events and
the copilot's conversation-level reading, in a fixed number of queries for any number of
customers; the rows are then computed in memory (a few seconds per 100,000 messages).
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections import defaultdict
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from django.db.models import Max
from django.utils import timezone

from copilot.models import AnalysisStatus, MessageAnalysis
from recovery.proactive.model import WINDOW_DAYS, SolveFeatures
from recovery.proactive.models import ProactiveEntry, ProactiveStatus
from tickets.consent import ConsentPurpose, customer_ids_opted_out
from tickets.models import AuthorKind, Customer, Message, Status, Ticket, TicketEvent

RECENT_DAYS = 30


@dataclass(frozen=True)
class SolveRow:
    ticket_id: int
    customer_id: int
    team_id: int
    solved_at: dt.datetime
    features: SolveFeatures
    # 1 = a customer message in (solved_at, solved_at + window]; None when the window is not
    # over by the end of the history (not a label yet).
    label: int | None


def history_end() -> dt.datetime | None:
    """The newest customer message (not the wall clock: an imported snapshot ends earlier)."""
    newest = Message.objects.filter(author_kind=AuthorKind.CUSTOMER).aggregate(
        newest=Max("created_at")
    )["newest"]
    return None if newest is None else min(newest, timezone.now())


def _intent(row: Mapping[str, Any]) -> str:
    # The shop's own label first; the copilot's reading of the ticket when there is none.
    return str(row["intent"] or row["insight__intent"] or "")


def solve_rows(
    *,
    solved_from: dt.datetime | None = None,
    solved_to: dt.datetime | None = None,
    customer_ids: Collection[int] | None = None,
    window_days: int = WINDOW_DAYS,
    end: dt.datetime | None = None,
    exclude_training_opt_outs: bool = False,
) -> list[SolveRow]:
    """One row per ticket solved in [solved_from, solved_to) (of these customers), by solve
    time. `end`: the end of the recorded history, which decides whether a label is known."""
    solved = Ticket.objects.filter(
        solved_at__isnull=False, status__in=[Status.SOLVED, Status.CLOSED]
    )
    if solved_from is not None:
        solved = solved.filter(solved_at__gte=solved_from)
    if solved_to is not None:
        solved = solved.filter(solved_at__lt=solved_to)
    if customer_ids is not None:
        solved = solved.filter(customer_id__in=list(customer_ids))
    if exclude_training_opt_outs:
        solved = solved.exclude(
            customer_id__in=customer_ids_opted_out(purpose=ConsentPurpose.TRAINING)
        )
    solves = list(
        solved.order_by("solved_at", "pk").values(
            "pk", "customer_id", "team_id", "solved_at", "intent", "insight__intent"
        )
    )
    if not solves:
        return []
    customers = {row["customer_id"] for row in solves}
    ticket_ids = [row["pk"] for row in solves]

    tickets_of: dict[int, list[tuple[dt.datetime, str, int]]] = defaultdict(list)
    for row in (
        Ticket.objects.filter(customer_id__in=customers)
        .order_by("created_at", "pk")
        .values("pk", "customer_id", "created_at", "intent", "insight__intent")
    ):
        tickets_of[row["customer_id"]].append((row["created_at"], _intent(row), row["pk"]))

    # Times of the customers' own messages (for the label), and each solved ticket's
    # transcript (for the time waited on us).
    customer_times: dict[int, list[dt.datetime]] = defaultdict(list)
    transcript: dict[int, list[tuple[dt.datetime, str]]] = defaultdict(list)
    wanted = set(ticket_ids)
    for ticket_id, customer_id, kind, created in (
        Message.objects.filter(ticket__customer_id__in=customers)
        .exclude(author_kind=AuthorKind.SYSTEM)
        .order_by("created_at", "pk")
        .values_list("ticket_id", "ticket__customer_id", "author_kind", "created_at")
    ):
        if kind == AuthorKind.CUSTOMER:
            customer_times[customer_id].append(created)
        if ticket_id in wanted:
            transcript[ticket_id].append((created, kind))

    reopens: dict[int, list[tuple[dt.datetime, int]]] = defaultdict(list)
    for ticket_id, customer_id, created in (
        TicketEvent.objects.filter(
            ticket__customer_id__in=customers,
            kind="status_changed",
            data__from__in=[Status.SOLVED.value, Status.CLOSED.value],
            data__to__in=[Status.OPEN.value, Status.PENDING.value],
        )
        .order_by("created_at")
        .values_list("ticket_id", "ticket__customer_id", "created_at")
    ):
        reopens[customer_id].append((created, ticket_id))

    # The conversation-level reading of the newest analysed customer message of each ticket.
    conversation: dict[int, list[tuple[dt.datetime, float]]] = defaultdict(list)
    for ticket_id, created, score in (
        MessageAnalysis.objects.filter(
            ticket_id__in=ticket_ids,
            status=AnalysisStatus.DONE,
            conversation_score__isnull=False,
        )
        .order_by("message__created_at")
        .values_list("ticket_id", "message__created_at", "conversation_score")
    ):
        conversation[ticket_id].append((created, float(score or 0.0)))

    profile = {
        pk: (signup, order_count)
        for pk, signup, order_count in Customer.objects.filter(pk__in=customers).values_list(
            "pk", "signup_date", "order_count"
        )
    }
    outreach: dict[int, list[dt.datetime]] = defaultdict(list)
    for customer_id, decided in (
        ProactiveEntry.objects.filter(
            customer_id__in=customers, status=ProactiveStatus.SENT, decided_at__isnull=False
        )
        .order_by("decided_at")
        .values_list("customer_id", "decided_at")
    ):
        if decided is not None:
            outreach[customer_id].append(decided)

    window = dt.timedelta(days=window_days)
    recent = dt.timedelta(days=RECENT_DAYS)
    rows: list[SolveRow] = []
    for solve in solves:
        pk, cid = solve["pk"], solve["customer_id"]
        at: dt.datetime = solve["solved_at"]  # type: ignore[assignment]  # filtered not null
        intent = _intent(solve)
        own = [t for t in tickets_of[cid] if t[0] <= at]
        in_30 = [t for t in own if t[0] >= at - recent]
        same = sum(1 for t in in_30 if t[1] == intent and t[2] != pk) if intent else 0
        earlier_reopens = [r for r in reopens[cid] if r[0] < at]
        scores = [s for created, s in conversation[pk] if created <= at]
        signup, order_count = profile.get(cid, (None, 0))
        tenure = 0.0
        if signup is not None:
            tenure = float(max(0, (timezone.localdate(at) - signup).days))
        elif own:
            tenure = max(0.0, (at - own[0][0]).total_seconds() / 86400)
        features = SolveFeatures(
            same_intent_30d=same,
            tickets_30d=len(in_30),
            ticket_reopened=any(t == pk for _, t in earlier_reopens),
            reopened_before=len({t for _, t in earlier_reopens if t != pk}),
            conversation_score=scores[-1] if scores else None,
            wait_hours=_waited_hours(transcript[pk], until=at),
            prior_tickets=sum(1 for t in own if t[2] != pk),
            tenure_days=tenure,
            order_count=order_count,
            outreach_after_solve=any(at < d <= at + window for d in outreach[cid]),
            intent=intent,
        )
        label: int | None = None
        if end is not None and at + window <= end:
            times = customer_times[cid]
            first_after = bisect.bisect_right(times, at)
            label = int(first_after < len(times) and times[first_after] <= at + window)
        rows.append(
            SolveRow(
                ticket_id=pk,
                customer_id=cid,
                team_id=solve["team_id"],
                solved_at=at,
                features=features,
                label=label,
            )
        )
    return rows


# One message left unanswered for weeks (an import's odd dates) must not dominate the feature.
WAIT_CAP_HOURS = 24.0 * 14


def _waited_hours(messages: list[tuple[dt.datetime, str]], *, until: dt.datetime) -> float:
    """Hours the customer spent waiting on us: from each customer message that follows one of
    ours (or opens the ticket) to our next reply, or to the solve when none came."""
    waited = 0.0
    waiting_since: dt.datetime | None = None
    for created, kind in messages:
        if created > until:
            break
        if kind == AuthorKind.CUSTOMER and waiting_since is None:
            waiting_since = created
        elif kind == AuthorKind.AGENT and waiting_since is not None:
            waited += min(WAIT_CAP_HOURS, (created - waiting_since).total_seconds() / 3600)
            waiting_since = None
    if waiting_since is not None:
        waited += min(WAIT_CAP_HOURS, max(0.0, (until - waiting_since).total_seconds() / 3600))
    return waited
