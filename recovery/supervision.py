"""The supervisor's audit of overrides: the review queue and override rates (the fairness
report is in `recovery.fairness`).

Everything is scoped to the teams the supervisor may see (`team_ids_for_user`: admins see every
team); a user without the supervisor role sees nothing and may review nothing. Reads are database
aggregates over `AuditEvent` and `Recommendation`; the only write is a review, recorded as an
`override_reviewed` audit event by `recovery.events.audit_override_reviewed`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, models, transaction
from django.db.models import Count, Exists, OuterRef, Prefetch, Q, QuerySet
from django.db.models.functions import TruncWeek
from django.shortcuts import get_object_or_404

from accounts.models import User
from accounts.selectors import team_ids_for_user
from core.errors import Conflict, DomainError
from recovery.events import audit_override_reviewed
from recovery.models import (
    AuditEvent,
    AuditKind,
    RecoveryAction,
)

REVIEW_NOTE_MAX_CHARS = 2000
DRAFT_ACTION_KEY = "reply_draft"


class OverrideVerdict(models.TextChoices):
    ACCEPTED = "accepted", "Accepted"
    COACHING = "coaching", "Flagged for coaching"


def _team_ids(user: User) -> set[int]:
    # Agents hold no audit rights: an empty scope, whatever their teams.
    return team_ids_for_user(user=user) if user.is_supervisor_role else set()


# --- the review queue --------------------------------------------------------------------------

# What a queue row shows, joined in the one query of the page.
_ROW_RELATED = ("ticket__customer", "team", "actor", "recommendation__action")


def _override_qs_for_user(*, user: User) -> QuerySet[AuditEvent]:
    """Every override of the user's teams, reviewed or not (reviews are not overrides)."""
    return AuditEvent.objects.filter(team_id__in=_team_ids(user), is_override=True).exclude(
        kind=AuditKind.OVERRIDE_REVIEWED
    )


def _reviews() -> QuerySet[AuditEvent]:
    return AuditEvent.objects.filter(kind=AuditKind.OVERRIDE_REVIEWED)


def override_queue_for_user(*, user: User, since: datetime | None = None) -> QuerySet[AuditEvent]:
    """Overrides not yet reviewed, newest first, with what a row shows joined in.

    A lazy queryset: the view pages it (one COUNT and one page query, whatever its length).
    """
    qs = _override_qs_for_user(user=user).filter(
        ~Exists(_reviews().filter(reviewed_event=OuterRef("pk")))
    )
    if since is not None:
        qs = qs.filter(created_at__gte=since)
    return qs.select_related(*_ROW_RELATED).order_by("-created_at", "-id")


def override_get_for_user(*, user: User, event_id: int) -> AuditEvent:
    """One override of the user's teams, reviewed or not, with its review (if any) as `.review`.

    Anything else (another team's event, an event that is no override) is a 404.
    """
    event = get_object_or_404(
        _override_qs_for_user(user=user)
        .select_related(*_ROW_RELATED)
        .prefetch_related(
            Prefetch(
                "reviews",
                queryset=_reviews().select_related("actor").order_by("id"),
                to_attr="review_list",
            )
        ),
        pk=event_id,
    )
    event.review = event.review_list[0] if event.review_list else None  # type: ignore[attr-defined]
    return event


@transaction.atomic
def override_review(*, event_id: int, supervisor: User, verdict: str, note: str) -> AuditEvent:
    """Record a supervisor's verdict on one override: accepted, or flagged for coaching (which
    needs a note for the agent). Returns the `override_reviewed` event.

    The override's row is locked first, so two supervisors reviewing at once cannot both pass:
    the second finds the first one's review and gets a Conflict. Nobody reviews their own
    override (a supervisor who decided on a ticket as an agent leaves it to a colleague).
    """
    if not supervisor.is_supervisor_role:
        raise PermissionDenied("Only a supervisor can review overrides.")
    event = get_object_or_404(
        _override_qs_for_user(user=supervisor)
        .select_related(*_ROW_RELATED)
        # Lock the override itself, not the ticket, customer or user rows joined for display.
        .select_for_update(of=("self",)),
        pk=event_id,
    )
    note = note.strip()
    if verdict not in OverrideVerdict.values:
        raise DomainError("Accept the override or flag it for coaching.", field="verdict")
    if verdict == OverrideVerdict.COACHING and not note:
        raise DomainError(
            "Say what the agent should do differently: coaching needs a note.",
            field="note",
            code="note_required",
        )
    if len(note) > REVIEW_NOTE_MAX_CHARS:
        raise DomainError(f"Keep the note under {REVIEW_NOTE_MAX_CHARS} characters.", field="note")
    if event.actor_id is not None and event.actor_id == supervisor.pk:
        raise DomainError(
            "This is your own override: another supervisor reviews it.",
            field="event",
            code="own_override",
        )
    if _reviews().filter(reviewed_event=event).exists():
        raise Conflict(
            "This override has already been reviewed.", field="event", code="already_reviewed"
        )
    try:
        # A savepoint: should the schema gain a unique constraint on the reviewed event, a
        # review racing past the lock becomes the same Conflict rather than a 500.
        with transaction.atomic():
            return audit_override_reviewed(
                event=event, supervisor=supervisor, verdict=verdict, note=note
            )
    except IntegrityError as exc:
        raise Conflict(
            "This override has already been reviewed.", field="event", code="already_reviewed"
        ) from exc


# --- override rates ----------------------------------------------------------------------------

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
    qs = AuditEvent.objects.filter(team_id__in=_team_ids(user)).filter(
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
        _rate(row["intent"], row["intent"] or "(no intent)", row)
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
