"""The supervisor's review of overrides (decisions that went against what the copilot proposed):
the queue of those not yet reviewed (selectors) and the review itself (a service).

Everything is scoped to the teams the supervisor may audit (`team_ids_for_supervisor`: admins see
every team; a user without the supervisor role sees nothing and may review nothing). The only
write is a review, recorded as an `override_reviewed` audit event by
`recovery.events.audit_override_reviewed`. Override rates are in `recovery.override_rates`, the
fairness report in `recovery.fairness`.
"""

from __future__ import annotations

from datetime import datetime

from django.db import IntegrityError, models, transaction
from django.db.models import Exists, OuterRef, Prefetch, QuerySet

from accounts.models import User
from accounts.selectors import team_ids_for_supervisor
from core.errors import Conflict, DomainError, Forbidden, NotFound
from recovery.events import audit_override_reviewed
from recovery.models import AuditEvent, AuditKind

REVIEW_NOTE_MAX_CHARS = 2000


class OverrideVerdict(models.TextChoices):
    ACCEPTED = "accepted", "Accepted"
    COACHING = "coaching", "Flagged for coaching"


# --- the review queue --------------------------------------------------------------------------

# What a queue row shows, joined in the one query of the page.
_ROW_RELATED = ("ticket__customer", "team", "actor", "recommendation__action")


def _override_qs_for_user(*, user: User) -> QuerySet[AuditEvent]:
    """Every override of the user's teams, reviewed or not (reviews are not overrides)."""
    return AuditEvent.objects.filter(
        team_id__in=team_ids_for_supervisor(user=user), is_override=True
    ).exclude(kind=AuditKind.OVERRIDE_REVIEWED)


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


def override_get_for_user(*, user: User, event_id: int) -> AuditEvent | None:
    """One override of the user's teams, reviewed or not, with its review (if any) as `.review`.

    None for anything else (another team's event, an event that is no override).
    """
    event = (
        _override_qs_for_user(user=user)
        .select_related(*_ROW_RELATED)
        .prefetch_related(
            Prefetch(
                "reviews",
                queryset=_reviews().select_related("actor").order_by("id"),
                to_attr="review_list",
            )
        )
        .filter(pk=event_id)
        .first()
    )
    if event is None:
        return None
    event.review = event.review_list[0] if event.review_list else None  # type: ignore[attr-defined]
    return event


@transaction.atomic
def override_review(*, event_id: int, supervisor: User, verdict: str, note: str) -> AuditEvent:
    """Record a supervisor's verdict on one override: accepted, or flagged for coaching (which
    needs a note for the agent). Returns the `override_reviewed` event.

    The override's row is locked first, so two supervisors reviewing at once cannot both pass:
    the second finds the first one's review and gets a Conflict. Nobody reviews their own
    override (a supervisor who decided on a ticket as an agent leaves it to a colleague).
    Raises Forbidden for a user without the supervisor role, NotFound for an event that is no
    override of the supervisor's teams (checked before the input, so a bad input never tells
    whether an id exists), DomainError for a bad verdict or note.
    """
    if not supervisor.is_supervisor_role:
        raise Forbidden("Only a supervisor can review overrides.", code="not_supervisor")
    event = (
        _override_qs_for_user(user=supervisor)
        .select_related(*_ROW_RELATED)
        # Lock the override itself, not the ticket, customer or user rows joined for display.
        .select_for_update(of=("self",))
        .filter(pk=event_id)
        .first()
    )
    if event is None:
        raise NotFound("No such override.", field="event", code="not_found")
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
