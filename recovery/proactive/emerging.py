"""Emerging issues: intents whose share of new tickets rises above their usual rate, and
groups of new similar requests that no intent covers.

Intent rise: the share of an intent among the tickets opened in the last `RECENT_DAYS` is
tested against its share in the `BASELINE_DAYS` before (a rolling baseline, moved every day).
The test is a one-sided binomial test of the recent count against the baseline share (with a
+1/+2 smoothing, so an intent never seen before has a small, not zero, usual rate), at
`ALPHA` divided by the number of intents tested (Bonferroni: on a quiet day with 30 intents,
a fixed 0.01 would still flag one every few days by chance). An intent needs `MIN_COUNT`
recent tickets to be flagged at all.

Unlabelled clusters: the encoder's vectors already stored for the similar-case index
(`SolvedCase.embedding`) of recent tickets without an intent, grouped greedily at cosine
`CLUSTER_SIMILARITY`; a group of `MIN_COUNT` or more is a new issue. Only solved tickets have
stored vectors, so a cluster shows once some of its tickets are solved: this is the limit of
reusing vectors instead of embedding every new message a second time.

Exposed customers: those with a ticket of the rising intent in the 30 days before the rise who
have not written since it began. The data holds no products or orders per ticket, so the
intent is the only link available.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from collections.abc import Mapping

import numpy as np
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from copilot.models import SolvedCase
from recovery.proactive.models import EmergingIssue, EmergingIssueKind
from tickets.models import AuthorKind, Message, Ticket

RECENT_DAYS = 3
BASELINE_DAYS = 28
ALPHA = 0.01
MIN_COUNT = 5
CLUSTER_DAYS = 7
# Cosine between MiniLM vectors of two requests about the same problem in other words; set on
# the demo's Bitext requests, where same-intent pairs average 0.6 and other pairs 0.2.
CLUSTER_SIMILARITY = 0.6
EXPOSURE_DAYS = 30
_WORD = re.compile(r"[a-z]{4,}")
_STOP = {"with", "have", "this", "that", "from", "would", "could", "please", "what", "when"}


def _intent_of(row: Mapping[str, object]) -> str:
    return str(row["intent"] or row["insight__intent"] or "")


def emerging_intents_detect(*, now: dt.datetime | None = None) -> list[EmergingIssue]:
    """Intents rising now above their rolling baseline; recorded once a day (upserted)."""
    from scipy.stats import binom

    now = now or timezone.now()
    recent_from = now - dt.timedelta(days=RECENT_DAYS)
    baseline_from = recent_from - dt.timedelta(days=BASELINE_DAYS)
    recent: Counter[str] = Counter()
    baseline: Counter[str] = Counter()
    examples: dict[str, list[int]] = {}
    for row in Ticket.objects.filter(created_at__gte=baseline_from, created_at__lt=now).values(
        "pk", "created_at", "intent", "insight__intent"
    ):
        intent = _intent_of(row)
        if row["created_at"] >= recent_from:
            recent[intent] += 1
            if intent:
                examples.setdefault(intent, []).append(row["pk"])
        else:
            baseline[intent] += 1
    n_recent, n_baseline = sum(recent.values()), sum(baseline.values())
    tested = [intent for intent in recent if intent and recent[intent] >= MIN_COUNT]
    found: list[EmergingIssue] = []
    for intent in tested:
        k = recent[intent]
        usual = (baseline[intent] + 1) / (n_baseline + 2)
        if k / n_recent <= usual:
            continue
        p_value = float(binom.sf(k - 1, n_recent, usual))
        if p_value >= ALPHA / len(tested):
            continue
        found.append(
            _issue_record(
                kind=EmergingIssueKind.INTENT_RISE,
                key=intent,
                label=intent.replace("_", " "),
                day=timezone.localdate(now),
                recent=(k, n_recent),
                baseline=(baseline[intent], n_baseline),
                p_value=p_value,
                ticket_ids=examples[intent][:10],
            )
        )
    return found


def emerging_clusters_detect(*, now: dt.datetime | None = None) -> list[EmergingIssue]:
    """Groups of recent similar requests no intent covers, from the stored case vectors."""
    now = now or timezone.now()
    since = now - dt.timedelta(days=CLUSTER_DAYS)
    cases = list(
        SolvedCase.objects.filter(
            ticket__created_at__gte=since,
            ticket__created_at__lt=now,
            ticket__intent="",
        )
        .exclude(ticket__insight__intent__gt="")
        .order_by("ticket_id")
        .values_list("ticket_id", "ticket__subject", "embedding")
    )
    if len(cases) < MIN_COUNT:
        return []
    vectors = np.stack([np.frombuffer(bytes(blob), dtype=np.float32) for _, _, blob in cases])
    # Greedy leader clustering: each case joins the first group whose leader it is close to.
    leaders: list[int] = []
    members: list[list[int]] = []
    for i in range(len(cases)):
        if leaders:
            sims = vectors[leaders] @ vectors[i]
            best = int(np.argmax(sims))
            if sims[best] >= CLUSTER_SIMILARITY:
                members[best].append(i)
                continue
        leaders.append(i)
        members.append([i])
    total = len(cases)
    found = []
    for group in members:
        if len(group) < MIN_COUNT:
            continue
        ticket_ids = [cases[i][0] for i in group]
        words: Counter[str] = Counter()
        for i in group:
            words.update(set(_WORD.findall(cases[i][1].lower())) - _STOP)
        label = ", ".join(w for w, _ in words.most_common(3)) or "similar new requests"
        found.append(
            _issue_record(
                kind=EmergingIssueKind.NEW_CLUSTER,
                key=f"cluster-{ticket_ids[0]}",
                label=f"New requests: {label}",
                day=timezone.localdate(now),
                recent=(len(group), total),
                baseline=(0, 0),
                p_value=None,
                ticket_ids=ticket_ids[:10],
            )
        )
    return found


@transaction.atomic
def _issue_record(
    *,
    kind: str,
    key: str,
    label: str,
    day: dt.date,
    recent: tuple[int, int],
    baseline: tuple[int, int],
    p_value: float | None,
    ticket_ids: list[int],
) -> EmergingIssue:
    issue, _ = EmergingIssue.objects.update_or_create(
        kind=kind,
        key=key,
        detected_on=day,
        defaults={
            "label": label[:200],
            "recent_count": recent[0],
            "recent_total": recent[1],
            "baseline_count": baseline[0],
            "baseline_total": baseline[1],
            "p_value": p_value,
            "ticket_ids": ticket_ids,
        },
    )
    # An admin's outreach template for the issue carries over from the previous day's record.
    if not issue.outreach_template:
        earlier = (
            EmergingIssue.objects.filter(kind=kind, key=key, detected_on__lt=day)
            .exclude(outreach_template="")
            .order_by("-detected_on")
            .first()
        )
        if earlier is not None:
            issue.outreach_template = earlier.outreach_template
            issue.save(update_fields=["outreach_template"])
    return issue


def emerging_exposed_customers(
    *, now: dt.datetime | None = None
) -> list[tuple[EmergingIssue, list[int]]]:
    """For each active intent rise detected in the last `RECENT_DAYS`: the customers with a
    ticket of that intent in the `EXPOSURE_DAYS` before it began who have not written since."""
    now = now or timezone.now()
    start = now - dt.timedelta(days=RECENT_DAYS)
    issues = list(
        EmergingIssue.objects.filter(
            kind=EmergingIssueKind.INTENT_RISE,
            active=True,
            detected_on__gte=timezone.localdate(start),
        ).order_by("-detected_on", "pk")
    )
    out = []
    seen: set[str] = set()
    for issue in issues:
        if issue.key in seen:
            continue
        seen.add(issue.key)
        had = set(
            Ticket.objects.filter(
                intent=issue.key,
                created_at__gte=start - dt.timedelta(days=EXPOSURE_DAYS),
                created_at__lt=start,
            ).values_list("customer_id", flat=True)
        )
        wrote = {
            cid
            for cid, last in Message.objects.filter(
                author_kind=AuthorKind.CUSTOMER, ticket__customer_id__in=had
            )
            .order_by()
            .values_list("ticket__customer_id")
            .annotate(last=Max("created_at"))
            if last >= start
        }
        out.append((issue, sorted(had - wrote)))
    return out


def emerging_issues_detect(*, now: dt.datetime | None = None) -> list[EmergingIssue]:
    """Both detectors, as the nightly run calls them."""
    return [*emerging_intents_detect(now=now), *emerging_clusters_detect(now=now)]
