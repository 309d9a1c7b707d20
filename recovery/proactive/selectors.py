"""Reads of the proactive queue, scoped to the user's teams."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

from django.db.models import Avg, Count, Q, QuerySet
from django.http import Http404
from django.utils import timezone

from accounts.models import User
from accounts.selectors import team_ids_for_user
from recovery.proactive.models import (
    WAITING,
    EmergingIssue,
    ProactiveEntry,
    ProactiveQueueRun,
    ProactiveStatus,
)
from recovery.proactive.queue import consent_refused_ids


@dataclass(frozen=True)
class QueuePage:
    entries: list[ProactiveEntry]
    # Customers the last refresh left out of these teams' queue for their consent, plus any
    # waiting entry whose customer withdrew it since (hidden here, removed at the next refresh).
    left_out_consent: int
    refreshed_at: str


def _waiting_for_user(*, user: User) -> QuerySet[ProactiveEntry]:
    now = timezone.now()
    return ProactiveEntry.objects.filter(
        team_id__in=team_ids_for_user(user=user), status__in=WAITING
    ).filter(Q(status=ProactiveStatus.OPEN) | Q(snoozed_until__lte=now))


def proactive_queue_for_user(*, user: User, limit: int = 200) -> QueuePage:
    """The entries waiting for a decision in the user's teams (snoozed ones once their snooze
    is over), most likely first, never one of a customer who refused proactive contact."""
    refused = consent_refused_ids()
    waiting = _waiting_for_user(user=user)
    hidden = waiting.filter(customer_id__in=refused).count()
    entries = list(
        waiting.exclude(customer_id__in=refused)
        .select_related("customer", "ticket", "team", "emerging_issue")
        .order_by("-probability", "id")[:limit]
    )
    run = ProactiveQueueRun.objects.order_by("-ran_at", "-id").first()
    teams = {str(t) for t in team_ids_for_user(user=user)}
    left_out = hidden
    refreshed = ""
    if run is not None:
        left_out += sum(
            int(c.get("left_out_consent", 0)) for t, c in run.counts.items() if t in teams
        )
        refreshed = run.ran_at.isoformat()
    return QueuePage(entries=entries, left_out_consent=left_out, refreshed_at=refreshed)


def proactive_entries_with_status_for_user(
    *, user: User, status: str, limit: int = 200
) -> list[ProactiveEntry]:
    """Entries of the user's teams in one status, newest first (a shop's messaging reads the
    sent ones); customers who refused proactive contact since are left out."""
    return list(
        ProactiveEntry.objects.filter(team_id__in=team_ids_for_user(user=user), status=status)
        .exclude(customer_id__in=consent_refused_ids())
        .select_related("customer", "team", "decided_by", "emerging_issue", "sent_message")
        .order_by("-updated_at", "-id")[:limit]
    )


def proactive_entry_get_for_user(*, user: User, entry_id: int) -> ProactiveEntry:
    """One entry of the user's teams, or 404 (another team's id answers the same)."""
    entry = (
        ProactiveEntry.objects.filter(pk=entry_id, team_id__in=team_ids_for_user(user=user))
        .exclude(customer_id__in=consent_refused_ids())
        .select_related("customer", "ticket", "team", "emerging_issue")
        .first()
    )
    if entry is None:
        raise Http404("No such entry.")
    return entry


@dataclass(frozen=True)
class HitRate:
    status: str
    label: str
    n: int
    wrote_again: int
    mean_predicted: float


def proactive_hit_rates_for_user(*, user: User) -> list[HitRate]:
    """Of the entries whose window is over, how many customers wrote again, by what the agent
    did: the measured hit rate, beside what the model predicted for them."""
    rows = (
        ProactiveEntry.objects.filter(
            team_id__in=team_ids_for_user(user=user), outcome_checked_at__isnull=False
        )
        .values("status")
        .annotate(
            n=Count("pk"),
            wrote=Count("pk", filter=Q(wrote_again=True)),
            predicted=Avg("probability"),
        )
        .order_by("status")
    )
    labels = dict(ProactiveStatus.choices)
    return [
        HitRate(
            status=r["status"],
            label=str(labels.get(r["status"], r["status"])),
            n=r["n"],
            wrote_again=r["wrote"],
            mean_predicted=float(r["predicted"] or 0.0),
        )
        for r in rows
    ]


@dataclass(frozen=True)
class Reach:
    intent: str
    segment: str
    entries: int
    sent: int


def proactive_reach_for_user(*, user: User) -> list[Reach]:
    """Fairness of outreach: within each intent, how many customers of each segment were put
    on the queue and how many were actually written to (supervisors' teams only)."""
    if not user.is_supervisor_role:
        return []
    counts: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for intent, segment, status, n in (
        ProactiveEntry.objects.filter(team_id__in=team_ids_for_user(user=user))
        .values_list("intent", "customer__segment", "status")
        .annotate(n=Count("pk"))
        .order_by()
    ):
        counts[(intent or "(no intent)", segment)][0] += n
        if status == ProactiveStatus.SENT:
            counts[(intent or "(no intent)", segment)][1] += n
    return [
        Reach(intent=i, segment=s, entries=v[0], sent=v[1]) for (i, s), v in sorted(counts.items())
    ]


@dataclass(frozen=True)
class IssueLine:
    issue: EmergingIssue
    exposed_waiting: int  # exposed customers of the user's teams waiting on the queue


def emerging_issues_for_user(*, user: User, days: int = 3) -> list[IssueLine]:
    """Issues detected in the last `days`, each with how many of its exposed customers wait on
    the user's teams' queue (the issue itself holds no customer data)."""
    since = timezone.localdate() - dt.timedelta(days=days)
    issues = list(
        EmergingIssue.objects.filter(active=True, detected_on__gte=since)
        .annotate(
            waiting=Count(
                "entries",
                filter=Q(
                    entries__status__in=WAITING,
                    entries__team_id__in=team_ids_for_user(user=user),
                ),
            )
        )
        .order_by("-detected_on", "kind", "key")
    )
    return [IssueLine(issue=i, exposed_waiting=i.waiting) for i in issues]
