"""Writes on customers, tickets and transcripts.

Every write that changes more than one row is atomic, and the ticket row is locked while a message
is appended so that two concurrent messages can never get the same transcript version.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import Team, User
from core.errors import Conflict, DomainError
from tickets.events import (
    ticket_event_assigned,
    ticket_event_created,
    ticket_event_status_changed,
)
from tickets.models import (
    COMPANY_MAX,
    DONE_STATUSES,
    STATUS_TRANSITIONS,
    AuthorKind,
    Channel,
    Customer,
    Message,
    PostedVia,
    Priority,
    Segment,
    Status,
    Ticket,
)
from tickets.selectors import customer_qs_for_user, customer_records_managed_by
from tickets.text import text_clean

# How to reach the customer: staff who see them may correct these.
CUSTOMER_CONTACT_FIELDS = frozenset({"name", "email"})
# What the customer is worth to the shop. They feed the recovery ranking and the fairness report,
# so they come from the shop's systems (a shop integration, or an admin), never from agents.
CUSTOMER_VALUE_FIELDS = frozenset({"segment", "signup_date", "lifetime_spend", "order_count"})
CUSTOMER_EDITABLE_FIELDS = CUSTOMER_CONTACT_FIELDS | CUSTOMER_VALUE_FIELDS
CUSTOMER_VALUE_FIELD_REFUSAL = (
    "Set by the shop's systems: only a shop integration or an admin may change it."
)
SYSTEM_NOTE_REFUSAL = "System notes are written by Copilot itself, never through the API."
# One answer for an id that exists nowhere and one that exists in another team's tickets only,
# so ids cannot be probed by opening tickets.
CUSTOMER_NOT_REACHABLE = (
    "No customer who wrote to your teams has this id; new customers come from the shop's systems."
)


def _choice(value: str, *, choices: type[Any], field: str) -> str:
    if value not in choices.values:
        allowed = ", ".join(choices.values)
        raise DomainError(f"Unknown {field} {value!r}; expected one of: {allowed}.", field=field)
    return value


def _body(value: str, *, field: str = "body") -> str:
    body = text_clean(value)
    if not body.strip():
        raise DomainError("A message cannot be empty.", field=field, code="blank")
    limit = settings.COPILOT_MESSAGE_MAX_CHARS
    if len(body) > limit:
        raise DomainError(
            f"A message is limited to {limit:,} characters; this one has {len(body):,}.",
            field=field,
            code="max_length",
        )
    return body


def _subject(value: str) -> str:
    subject = " ".join(text_clean(value).split())
    if not subject:
        raise DomainError("A ticket needs a subject.", field="subject", code="blank")
    limit = settings.COPILOT_SUBJECT_MAX_CHARS
    if len(subject) > limit:
        raise DomainError(
            f"A subject is limited to {limit} characters; this one has {len(subject)}.",
            field="subject",
            code="max_length",
        )
    return subject


def _company(value: str) -> str:
    company = " ".join(text_clean(value).split())
    if len(company) > COMPANY_MAX:
        raise DomainError(
            f"A company name is limited to {COMPANY_MAX} characters; this one has {len(company)}.",
            field="company",
            code="max_length",
        )
    return company


def customer_create(
    *,
    external_id: str,
    name: str,
    email: str = "",
    segment: str = Segment.STANDARD,
    signup_date: dt.date | None = None,
    lifetime_spend: Decimal = Decimal("0"),
    order_count: int = 0,
) -> Customer:
    customer = Customer(
        external_id=text_clean(external_id).strip(),
        name=text_clean(name).strip(),
        email=email,
        segment=_choice(segment, choices=Segment, field="segment"),
        signup_date=signup_date,
        lifetime_spend=lifetime_spend,
        order_count=order_count,
    )
    _customer_validate(customer)
    customer.save()
    return customer


def _customer_validate(customer: Customer) -> None:
    if not customer.external_id:
        raise DomainError("A customer needs an external id.", field="external_id", code="blank")
    if not customer.name:
        raise DomainError("A customer needs a name.", field="name", code="blank")
    if customer.lifetime_spend < 0:
        raise DomainError("Lifetime spend cannot be negative.", field="lifetime_spend")


def customer_get_or_create_for_ticket(
    *,
    by: User,
    external_id: str,
    name: str = "",
    email: str = "",
    segment: str = Segment.STANDARD,
    signup_date: dt.date | None = None,
    lifetime_spend: Decimal = Decimal("0"),
    order_count: int = 0,
) -> Customer:
    """The customer a new ticket is for, known by the shop's id.

    A shop integration or an admin may name any customer, and creates one the shop knows and
    Copilot does not yet (from the other fields, which are used for a new customer only). Agents
    and supervisors may name only a customer who already wrote to one of their teams; any other
    id, existing or not, gets the same refusal.
    """
    external_id = text_clean(external_id).strip()
    if not customer_records_managed_by(user=by):
        existing = customer_qs_for_user(user=by).filter(external_id=external_id).first()
        if existing is None:
            raise DomainError(
                CUSTOMER_NOT_REACHABLE, field="customer.external_id", code="not_found"
            )
        return existing
    existing = Customer.objects.filter(external_id=external_id).first()
    if existing is not None:
        return existing
    if not name:
        raise DomainError("A new customer needs a name.", field="customer.name", code="required")
    try:
        # A savepoint: when the shop sends two first tickets of one new customer at once, the
        # second insert hits the unique id, and that customer is then the one to use.
        with transaction.atomic():
            return customer_create(
                external_id=external_id,
                name=name,
                email=email,
                segment=segment,
                signup_date=signup_date,
                lifetime_spend=lifetime_spend,
                order_count=order_count,
            )
    except IntegrityError:
        return Customer.objects.get(external_id=external_id)


def customer_update(*, customer: Customer, data: dict[str, Any], by: User) -> Customer:
    """Change a customer's fields. Value fields only by a shop integration or an admin: anyone
    else is refused with every such field named, and nothing is changed."""
    unknown = set(data) - CUSTOMER_EDITABLE_FIELDS
    if unknown:
        field = sorted(unknown)[0]
        raise DomainError(f"{field!r} cannot be changed here.", field=field)
    refused = sorted(set(data) & CUSTOMER_VALUE_FIELDS)
    if refused and not customer_records_managed_by(user=by):
        raise PermissionDenied({field: [CUSTOMER_VALUE_FIELD_REFUSAL] for field in refused})
    for field, value in data.items():
        if field == "segment":
            value = _choice(value, choices=Segment, field="segment")
        if field == "name":
            value = text_clean(value).strip()
        setattr(customer, field, value)
    _customer_validate(customer)
    customer.save(update_fields=[*data, "updated_at"])
    return customer


@transaction.atomic
def ticket_create(
    *,
    customer: Customer,
    team: Team,
    subject: str,
    body: str,
    channel: str = Channel.API,
    priority: str = Priority.NORMAL,
    created_by: User | None = None,
    author_kind: str = AuthorKind.CUSTOMER,
    author_name: str = "",
    posted_via: str = "",
    created_at: dt.datetime | None = None,
    company: str = "",
) -> Ticket:
    """Open a ticket with its first message (the customer's, unless an agent opens it for them).

    ``company`` is the brand the customer wrote to (see ``Ticket.company``).

    ``posted_via`` is set when the ticket came in through the API: the first message then
    records ``created_by`` as the account that posted it (see ``message_post``).
    """
    now = created_at or timezone.now()
    ticket = Ticket.objects.create(
        customer=customer,
        team=team,
        subject=_subject(subject),
        company=_company(company),
        channel=_choice(channel, choices=Channel, field="channel"),
        priority=_choice(priority, choices=Priority, field="priority"),
        created_at=now,
        last_message_at=now,
    )
    ticket_event_created(ticket=ticket, actor=created_by)
    message_append(
        ticket=ticket,
        body=body,
        author_kind=author_kind,
        author_user=created_by if author_kind == AuthorKind.AGENT else None,
        author_name=author_name or (customer.name if author_kind == AuthorKind.CUSTOMER else ""),
        posted_by=created_by if posted_via else None,
        posted_via=posted_via,
        created_at=now,
    )
    ticket.refresh_from_db()
    return ticket


@transaction.atomic
def message_append(
    *,
    ticket: Ticket,
    body: str,
    author_kind: str,
    author_user: User | None = None,
    author_name: str = "",
    posted_by: User | None = None,
    posted_via: str = "",
    external_id: str = "",
    created_at: dt.datetime | None = None,
) -> Message:
    """Add a message to the transcript and move the ticket's version on by one.

    A customer writing on a solved ticket reopens it; a closed ticket takes no more messages (the
    customer's next contact is a new ticket). Only the transcript: what a message starts beyond
    it (its analysis, a check of an agent's reply) belongs to the layer above that calls this.
    """
    author_kind = _choice(author_kind, choices=AuthorKind, field="author_kind")
    if posted_via:
        posted_via = _choice(posted_via, choices=PostedVia, field="posted_via")
    if author_kind == AuthorKind.SYSTEM and (posted_by is not None or posted_via):
        raise DomainError(SYSTEM_NOTE_REFUSAL, field="author_kind", code="forbidden")
    clean_body = _body(body)
    # Lock the ticket: the version bump must be serialised with any concurrent append.
    locked = Ticket.objects.select_for_update().get(pk=ticket.pk)
    if locked.status == Status.CLOSED:
        raise Conflict(
            "This ticket is closed and takes no more messages; open a new ticket.",
            field="ticket",
            code="closed",
        )
    now = created_at or timezone.now()
    locked.transcript_version += 1
    if author_user is not None and not author_name:
        author_name = author_user.get_full_name() or author_user.get_username()
    message = Message.objects.create(
        ticket=locked,
        sequence=locked.transcript_version,
        author_kind=author_kind,
        author_user=author_user,
        author_name=text_clean(author_name)[:200],
        posted_by=posted_by,
        posted_via=posted_via,
        body=clean_body,
        external_id=external_id,
        created_at=now,
    )
    update_fields = ["transcript_version", "last_message_at", "updated_at"]
    locked.last_message_at = max(locked.last_message_at, now)
    if author_kind == AuthorKind.CUSTOMER and locked.status == Status.SOLVED:
        locked.status = Status.OPEN
        locked.solved_at = None
        update_fields += ["status", "solved_at"]
    elif author_kind == AuthorKind.AGENT and locked.status == Status.NEW:
        # The first agent reply means someone is on it.
        locked.status = Status.OPEN
        update_fields.append("status")
    locked.save(update_fields=update_fields)
    if "solved_at" in update_fields:
        # The customer reopened it by writing: the history says so like any status change
        # (the churn model counts reopened tickets from these events).
        ticket_event_status_changed(ticket=locked, actor=None, old=Status.SOLVED, new=Status.OPEN)
    # Keep the caller's instance current: views render it right after.
    for field in update_fields:
        setattr(ticket, field, getattr(locked, field))
    return message


def message_post(
    *,
    ticket: Ticket,
    body: str,
    author_kind: str,
    by: User,
    via: str,
    author_name: str = "",
) -> Message:
    """A message sent in through the API by an account, recording whose credentials sent it.

    Staff post their own replies (as the author) or a customer's message on the customer's
    behalf (a phone call, a letter); a shop integration posts customers' messages only. No one
    posts a system note: those are Copilot's own record of what it did.
    """
    if author_kind == AuthorKind.SYSTEM:
        raise DomainError(SYSTEM_NOTE_REFUSAL, field="author_kind", code="forbidden")
    if author_kind == AuthorKind.AGENT and by.role is None:
        raise DomainError(
            "A shop integration posts customers' messages only.",
            field="author_kind",
            code="forbidden",
        )
    return message_append(
        ticket=ticket,
        body=body,
        author_kind=author_kind,
        author_user=by if author_kind == AuthorKind.AGENT else None,
        author_name=author_name,
        posted_by=by,
        posted_via=via,
    )


@transaction.atomic
def system_note_append(*, ticket: Ticket, body: str) -> Message:
    """A note of the system's own in the transcript (a recovery action carried out).

    Unlike people's messages it is taken on a closed ticket too: it records something already
    done (a refund the shop paid), which must not be lost, or turned into a failure, because
    the ticket was closed meanwhile. It changes no status and queues no analysis.
    """
    clean_body = _body(body)
    locked = Ticket.objects.select_for_update().get(pk=ticket.pk)
    now = timezone.now()
    locked.transcript_version += 1
    message = Message.objects.create(
        ticket=locked,
        sequence=locked.transcript_version,
        author_kind=AuthorKind.SYSTEM,
        body=clean_body,
        created_at=now,
    )
    locked.last_message_at = max(locked.last_message_at, now)
    locked.save(update_fields=["transcript_version", "last_message_at", "updated_at"])
    ticket.transcript_version = locked.transcript_version
    ticket.last_message_at = locked.last_message_at
    return message


@transaction.atomic
def ticket_change_status(
    *,
    ticket: Ticket,
    status: str,
    by: User | None,
    resolution: str = "",
    resolution_from_last_reply: bool = False,
) -> Ticket:
    """Move a ticket along its life cycle (see STATUS_TRANSITIONS).

    Solving needs a resolution: the one given, or, when the caller says so explicitly
    (`resolution_from_last_reply`), the latest agent reply. A ticket solved before keeps its
    resolution when solved again. Only the ticket: what follows from a status (the similar-case
    index) belongs to the layer above that calls this.
    """
    status = _choice(status, choices=Status, field="status")
    locked = Ticket.objects.select_for_update().get(pk=ticket.pk)
    if status == locked.status:
        return locked
    if status not in STATUS_TRANSITIONS[locked.status]:
        raise Conflict(
            f"The ticket is {locked.get_status_display().lower()}; "
            f"it cannot become {Status(status).label.lower()}.",
            field="status",
            code="transition",
        )
    resolution = text_clean(resolution).strip()
    if status == Status.SOLVED:
        if not resolution and resolution_from_last_reply:
            last_reply = (
                locked.messages.filter(author_kind=AuthorKind.AGENT).order_by("-sequence").first()
            )
            resolution = last_reply.body if last_reply else ""
        if not resolution and not locked.resolution:
            raise DomainError(
                "Say how the ticket was solved: write a resolution, or tick the box to use "
                "your last message to the customer.",
                field="resolution",
                code="required",
            )
        locked.resolution = resolution or locked.resolution
    if status in DONE_STATUSES:
        locked.solved_at = locked.solved_at or timezone.now()
    else:
        locked.solved_at = None
    old = locked.status
    locked.status = status
    locked.save(update_fields=["status", "solved_at", "resolution", "updated_at"])
    ticket_event_status_changed(ticket=locked, actor=by, old=old, new=status)
    return locked


@transaction.atomic
def ticket_assign(*, ticket: Ticket, assignee: User | None, by: User | None) -> Ticket:
    locked = Ticket.objects.select_for_update().get(pk=ticket.pk)
    if assignee is not None and not assignee.memberships.filter(team_id=locked.team_id).exists():
        raise DomainError(
            f"{assignee.get_username()} is not a member of {locked.team.name}.", field="assignee"
        )
    old = locked.assignee
    if old == assignee:
        return locked
    locked.assignee = assignee
    locked.save(update_fields=["assignee", "updated_at"])
    ticket_event_assigned(ticket=locked, actor=by, old=old, new=assignee)
    return locked


# Ticket.intent's column width.
INTENT_MAX_LENGTH = 100


@transaction.atomic
def ticket_intents_label(*, intents: dict[str, str]) -> int:
    """Give tickets the intents a team labelled them with by hand, `{external_id: intent}` (the
    demo's Twitter requests). One update per intent; ids that match no ticket are skipped.
    Returns how many tickets were labelled."""
    by_intent: dict[str, list[str]] = {}
    for external_id, intent in intents.items():
        key = intent.strip()
        if not key or len(key) > INTENT_MAX_LENGTH:
            raise DomainError(
                f"Ticket {external_id}: an intent is 1 to 100 characters.", field="intent"
            )
        by_intent.setdefault(key, []).append(external_id)
    labelled = 0
    for key, ids in sorted(by_intent.items()):
        labelled += Ticket.objects.filter(external_id__in=ids).update(intent=key)
    return labelled
