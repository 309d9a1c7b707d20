"""One customer's data in the tickets app: what their export holds, what their erasure removes,
where their identifiers were copied, and the customer lock that erasure and analysis share.

The privacy app runs exports, erasures and retention across the apps; these are the tickets
app's part of them, so no other app reads or writes tickets' tables for it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ImproperlyConfigured
from django.db.models import Q, QuerySet

from core.errors import DomainError
from core.textsearch import TextSearch, app_tables, rows_containing, rows_redact, tables_search
from tickets.models import DONE_STATUSES, AuthorKind, Customer, Message, Ticket

ERASED = "[erased]"
# Why an analysis of an erased customer's message holds no result (shown on the ticket).
ERASED_BEFORE_ANALYSIS = "the customer's personal data was erased before it was analysed"


# --- The customer lock and whether they were erased -----------------------------------------


def customer_get(*, customer_id: int) -> Customer:
    """One customer by id, for work that names them by id (a command, a task); raises
    Customer.DoesNotExist."""
    return Customer.objects.get(pk=customer_id)


def customer_lock(*, customer_id: int) -> Customer:
    """Lock a customer's row: the first lock of an erasure, and of any write that may store
    their personal data (`customer_lock_for_ticket`), so the two serialise."""
    return Customer.objects.select_for_update().get(pk=customer_id)


def customer_lock_for_ticket(*, ticket_id: int) -> Customer:
    """Lock the customer of a ticket: the first lock of any write that may store their personal
    data, taken in the same order as an erasure takes it (customer, then analyses...), so such
    a write and an erasure serialise instead of deadlocking."""
    customer_id = Ticket.objects.filter(pk=ticket_id).values_list("customer_id", flat=True).get()
    return customer_lock(customer_id=customer_id)


class ErasureLog(Protocol):
    """Which customers were erased. Kept by the privacy app (its log of erasures), which
    registers it when Django starts, as for consent (tickets/consent.py)."""

    def erased(self, customer_id: int) -> bool: ...

    def erased_ids(self) -> QuerySet[Any]:
        """Ids of erased customers, as a subquery of `customer_id` values."""
        ...


_erasure_log: ErasureLog | None = None


def erasure_log_register(*, log: ErasureLog | None) -> ErasureLog | None:
    """Install the log `customer_is_erased` reads; returns the one it replaces."""
    global _erasure_log
    previous, _erasure_log = _erasure_log, log
    return previous


def _log() -> ErasureLog:
    if _erasure_log is None:
        raise ImproperlyConfigured(
            "No erasure log is registered: install the privacy app, which registers it when "
            "Django starts."
        )
    return _erasure_log


def customer_is_erased(*, customer: Customer) -> bool:
    """Whether the customer was erased; read under `customer_lock_for_ticket` it stays true or
    false until the caller commits."""
    return _log().erased(customer.pk)


# Why nothing may be sent to, or given to, an erased customer (the services' refusal, the
# ticket page's note).
ERASED_NOTHING_SENT = "This customer's data was erased; nothing can be sent to them."


def customer_refuse_if_erased(*, customer: Customer) -> None:
    """Refuse (DomainError) anything sent or given to an erased customer: a reply, a recovery
    action. Read under `customer_lock_for_ticket` the answer holds until the caller commits."""
    if customer_is_erased(customer=customer):
        raise DomainError(ERASED_NOTHING_SENT, field="customer", code="erased")


def customer_row_is_erased(*, customer: Customer) -> bool:
    """Whether the loaded customer row is an erased one (its pseudonym, written by the erasure
    in the same transaction as the privacy log's entry), without a query: for pages that show
    what may be done. Services decide with `customer_is_erased`, the log."""
    return customer.external_id == customer_pseudonym(customer_id=customer.pk)


def customer_ids_erased() -> QuerySet[Any]:
    """Erased customers' ids, as a subquery (for `.exclude(pk__in=...)`)."""
    return _log().erased_ids()


# --- Export ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class TicketsExport:
    customer: dict[str, Any]
    tickets: list[dict[str, Any]]


def tickets_export_for_customer(*, customer_id: int) -> TicketsExport:
    """The customer's profile, tickets and transcripts, as plain JSON-ready values."""
    customer = Customer.objects.get(pk=customer_id)
    tickets = (
        Ticket.objects.filter(customer=customer)
        .select_related("team")
        .prefetch_related("messages")
        .order_by("created_at", "id")
    )
    return TicketsExport(
        customer={
            "id": customer.pk,
            "external_id": customer.external_id,
            "name": customer.name,
            "email": customer.email,
            "segment": customer.segment,
            "signup_date": customer.signup_date,
            "lifetime_spend": customer.lifetime_spend,
            "order_count": customer.order_count,
            "created_at": customer.created_at,
            "updated_at": customer.updated_at,
        },
        tickets=[
            {
                "id": ticket.pk,
                "external_id": ticket.external_id,
                "subject": ticket.subject,
                "channel": ticket.channel,
                "status": ticket.status,
                "priority": ticket.priority,
                "team": ticket.team.name,
                "intent": ticket.intent,
                "resolution": ticket.resolution,
                "created_at": ticket.created_at,
                "last_message_at": ticket.last_message_at,
                "solved_at": ticket.solved_at,
                "messages": [
                    {
                        "id": message.pk,
                        "sequence": message.sequence,
                        "author_kind": message.author_kind,
                        "author_name": message.author_name,
                        "body": message.body,
                        "created_at": message.created_at,
                    }
                    for message in sorted(ticket.messages.all(), key=lambda m: m.sequence)
                ],
            }
            for ticket in tickets
        ],
    )


# --- Erasure --------------------------------------------------------------------------------


@dataclass(frozen=True)
class CustomerIdentity:
    """What may identify the customer in text, as the tickets app stores it: read before an
    erasure empties it, to find where it was copied."""

    name: str
    email: str
    external_id: str
    author_names: tuple[str, ...]
    ticket_external_ids: tuple[str, ...]
    # Their messages, and each ticket's subject and resolution: where order and reference
    # numbers are found.
    texts: tuple[str, ...]


def tickets_identity_for_customer(*, customer_id: int) -> CustomerIdentity:
    customer = Customer.objects.get(pk=customer_id)
    tickets = Ticket.objects.filter(customer=customer)
    authors = (
        Message.objects.filter(ticket__customer=customer, author_kind=AuthorKind.CUSTOMER)
        .values_list("author_name", flat=True)
        .distinct()
    )
    texts = [
        *Message.objects.filter(ticket__in=tickets).values_list("body", flat=True),
        *(
            f"{subject}\n{resolution}"
            for subject, resolution in tickets.values_list("subject", "resolution")
        ),
    ]
    return CustomerIdentity(
        name=customer.name,
        email=customer.email,
        external_id=customer.external_id,
        author_names=tuple(authors),
        ticket_external_ids=tuple(t for t in tickets.values_list("external_id", flat=True) if t),
        texts=tuple(texts),
    )


def tickets_ids_for_customer(*, customer_id: int) -> set[int]:
    return set(Ticket.objects.filter(customer_id=customer_id).values_list("pk", flat=True))


def customer_pseudonym(*, customer_id: int) -> str:
    # Stable for the row, unrelated to the erased data: shows up in finance exports of refunds.
    return "erased-" + hashlib.sha256(f"customer-{customer_id}".encode()).hexdigest()[:16]


def tickets_erase_for_customer(*, customer_id: int) -> dict[str, int]:
    """Empty the customer's tickets and messages (the shells stay: status, times, channel,
    team), clear the admin's log of their rows, and pseudonymise the customer row (kept, so
    tickets, figures and executed refunds still add up). Call under `customer_lock`."""
    tickets = Ticket.objects.filter(customer_id=customer_id)
    ticket_ids = set(tickets.values_list("pk", flat=True))
    counts = {"admin_log": _admin_log_erase(customer_id=customer_id, ticket_ids=ticket_ids)}
    counts["messages"] = Message.objects.filter(ticket__in=tickets).update(
        body=ERASED, author_name="", external_id=""
    )
    counts["tickets"] = tickets.update(subject=ERASED, resolution=ERASED, external_id=None)
    customer = Customer.objects.get(pk=customer_id)
    customer.name = "Erased customer"
    customer.email = ""
    customer.external_id = customer_pseudonym(customer_id=customer_id)
    customer.signup_date = None
    customer.lifetime_spend = 0
    customer.order_count = 0
    customer.save()
    return counts


def _admin_log_erase(*, customer_id: int, ticket_ids: set[int]) -> int:
    """The admin's history of the customer's own rows names them (a customer's and a ticket's
    text is what the admin shows as the object); the entries stay, without the text."""
    rows = Q(content_type=ContentType.objects.get_for_model(Customer), object_id=str(customer_id))
    if ticket_ids:
        rows |= Q(
            content_type=ContentType.objects.get_for_model(Ticket),
            object_id__in=[str(pk) for pk in ticket_ids],
        )
    return LogEntry.objects.filter(rows).update(object_repr=ERASED, change_message="")


# Free text where another customer's identifiers can have been copied (a reply, a subject).
# Not authors' names: another customer's own name there is a namesake, not a copy.
_FREE_TEXT: tuple[tuple[type[Message] | type[Ticket], tuple[str, ...]], ...] = (
    (Message, ("body",)),
    (Ticket, ("subject", "resolution")),
)


def tickets_redact_copies(*, terms: tuple[str, ...], redact: Callable[[Any], Any]) -> int:
    """Replace the terms wherever they were copied into tickets' free text; rows changed."""
    changed = 0
    for model, fields in _FREE_TEXT:
        changed += rows_redact(rows_containing(model, fields, terms), fields, redact)
    return changed


def tickets_messages_redact(*, message_ids: list[int], redact: Callable[[Any], Any]) -> int:
    """Replace identifiers in these messages (replies sent from a draft that quoted them)."""
    return rows_redact(Message.objects.filter(pk__in=message_ids), ("body",), redact)


def tickets_rows_containing(*, terms: list[str]) -> TextSearch:
    """Every text column of the tickets app's tables, searched for the terms."""
    return tables_search(tables=app_tables(app_label="tickets"), terms=terms)


# --- Retention ------------------------------------------------------------------------------


def tickets_retention_redact(*, finished_before: dt.datetime, placeholder: str) -> int:
    """Redact the transcripts, subjects and resolutions of tickets finished before the cutoff;
    idempotent. Returns the messages redacted."""
    old = Ticket.objects.filter(status__in=DONE_STATUSES, solved_at__lt=finished_before)
    # Every author's messages: agents' replies quote the customer too.
    redacted = (
        Message.objects.filter(ticket__in=old)
        .exclude(body=placeholder)
        .update(body=placeholder, author_name="")
    )
    # Resolutions and subjects are part of the transcript too.
    old.exclude(resolution=placeholder).update(resolution=placeholder, subject=placeholder)
    return redacted


def tickets_done_ids_for_customer(*, customer_id: int) -> list[int]:
    """The customer's solved and closed tickets."""
    return list(
        Ticket.objects.filter(customer_id=customer_id, status__in=DONE_STATUSES).values_list(
            "pk", flat=True
        )
    )
