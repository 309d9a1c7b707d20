"""Override rates: how often the agents of the supervisor's teams went against what the copilot
proposed, overall and by agent, action, intent and ISO week (database aggregates over
`AuditEvent`, scoped by `team_ids_for_supervisor`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from django.db.models import Count, Q
from django.db.models.functions import TruncWeek

from accounts.models import User
from accounts.selectors import team_ids_for_supervisor
from copilot.labels import intent_label
from recovery.models import AuditEvent, AuditKind, RecoveryAction

DRAFT_ACTION_KEY = "reply_draft"

# Decisions on what the copilot proposed: a recommendation approved as is, approved with changes,
# rejected, and a drafted reply used, edited or discarded.
DECISION_KINDS = (
    AuditKind.RECOMMENDATION_APPROVED,
    AuditKind.RECOMMENDATION_EDITED,
    AuditKind.RECOMMENDATION_REJECTED,
    AuditKind.DRAFT_DECIDED,
)
_DECISION = Q(kind__in=DECISION_KINDS)
_COUNTS: dict[str, Any] = {
    "decisions": Count("id", filter=_DECISION),
    "accepted": Count("id", filter=_DECISION & Q(is_override=False)),
    "overridden": Count("id", filter=_DECISION & Q(is_override=True)),
    "rejected": Count(
        "id",
        filter=Q(kind=AuditKind.RECOMMENDATION_REJECTED)
        | Q(kind=AuditKind.DRAFT_DECIDED, final__decision="discarded"),
    ),
    "changed": Count(
        "id",
        filter=Q(kind=AuditKind.RECOMMENDATION_EDITED)
        | Q(kind=AuditKind.DRAFT_DECIDED, final__decision="edited"),
    ),
    "added": Count("id", filter=Q(kind=AuditKind.RECOMMENDATION_ADDED)),
}


@dataclass(frozen=True, kw_only=True)
class OverrideRate:
    """Decisions on copilot suggestions in one group, and how many went against it.

    `rejected` (recommendations rejected, drafts discarded) and `changed` (approved with another
    amount, drafts edited before sending) split `overridden`. Actions the agent added of their own
    are no decision on a suggestion: they are counted in `added`, outside the rates.
    """

    key: str
    label: str
    decisions: int
    accepted: int
    overridden: int
    rejected: int
    changed: int
    added: int

    @property
    def acceptance_rate(self) -> float | None:
        return self.accepted / self.decisions if self.decisions else None

    @property
    def override_rate(self) -> float | None:
        return self.overridden / self.decisions if self.decisions else None


@dataclass(frozen=True, kw_only=True)
class OverrideRates:
    total: OverrideRate
    by_agent: list[OverrideRate]
    by_action: list[OverrideRate]
    by_intent: list[OverrideRate]
    by_week: list[OverrideRate]  # oldest week first


def _rate(key: str, label: str, row: dict[str, Any]) -> OverrideRate:
    return OverrideRate(key=key, label=label, **{name: row[name] or 0 for name in _COUNTS})


def _iso_week(value: datetime | date) -> str:
    year, week, _ = value.isocalendar()
    return f"{year}-W{week:02d}"


def override_rates_for_user(*, user: User, since: datetime | None = None) -> OverrideRates:
    """Acceptance and override rates of the user's teams, overall and grouped by agent, action,
    intent and ISO week: one aggregate query per grouping (plus one for the action names)."""
    qs = AuditEvent.objects.filter(team_id__in=team_ids_for_supervisor(user=user)).filter(
        Q(kind=AuditKind.RECOMMENDATION_ADDED)
        # A decision on an action the agent added is no decision on the copilot's suggestion.
        | (_DECISION & Q(recommendation__added_by__isnull=True))
    )
    if since is not None:
        qs = qs.filter(created_at__gte=since)

    total = _rate("", "All decisions", qs.aggregate(**_COUNTS))
    by_agent = [
        _rate(str(row["actor_id"] or ""), row["actor__username"] or "(former agent)", row)
        for row in qs.values("actor_id", "actor__username")
        .annotate(**_COUNTS)
        .order_by("-decisions", "actor__username")
    ]
    action_rows = list(
        qs.values("action_key").annotate(**_COUNTS).order_by("-decisions", "action_key")
    )
    names = dict(
        RecoveryAction.objects.filter(key__in=[r["action_key"] for r in action_rows]).values_list(
            "key", "name"
        )
    )
    names[DRAFT_ACTION_KEY] = "Drafted reply"
    by_action = [
        _rate(row["action_key"], names.get(row["action_key"], row["action_key"]), row)
        for row in action_rows
    ]
    by_intent = [
        _rate(row["intent"], intent_label(key=row["intent"]) or "(no intent)", row)
        for row in qs.values("intent").annotate(**_COUNTS).order_by("-decisions", "intent")
    ]
    by_week = [
        _rate(row["week"].date().isoformat(), _iso_week(row["week"]), row)
        for row in qs.annotate(week=TruncWeek("created_at"))
        .values("week")
        .annotate(**_COUNTS)
        .order_by("week")
    ]
    return OverrideRates(
        total=total, by_agent=by_agent, by_action=by_action, by_intent=by_intent, by_week=by_week
    )
