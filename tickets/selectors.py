"""Reads on customers and tickets, always scoped to what the user may see."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Case, Exists, F, OuterRef, Q, QuerySet, Value, When
from django.shortcuts import get_object_or_404

from accounts.models import User
from accounts.selectors import team_ids_for_user
from tickets.models import (
    DONE_STATUSES,
    PRIORITY_RANK,
    AuthorKind,
    Customer,
    Message,
    Status,
    Ticket,
)

# Statuses the inbox shows when no status filter is chosen: the work still to do.
ACTIVE_STATUSES = tuple(s for s in Status.values if s not in DONE_STATUSES)


@dataclass(frozen=True, kw_only=True)
class TicketFilters:
    status: str = ""  # "" = active statuses, "all" = every status, else one status
    priority: str = ""
    team: str = ""  # team slug
    channel: str = ""
    mine: bool = False
    unassigned: bool = False
    q: str = ""
    sort: str = "recent"  # "recent" (newest activity first) or "urgency"


def ticket_qs_for_user(*, user: User) -> QuerySet[Ticket]:
    """Every ticket the user may see: their teams' (admins: all teams')."""
    return Ticket.objects.filter(team_id__in=team_ids_for_user(user=user))


def ticket_get_for_user(*, user: User, ticket_id: int) -> Ticket:
    """One ticket, or 404 when it does not exist *or* belongs to a team the user is not in.

    Both cases answer the same, so ids of other teams' tickets cannot be probed.
    """
    return get_object_or_404(
        ticket_qs_for_user(user=user).select_related("customer", "team", "assignee"),
        pk=ticket_id,
    )


def ticket_list_for_user(*, user: User, filters: TicketFilters) -> QuerySet[Ticket]:
    qs = _ticket_filtered(user=user, filters=filters)
    # The copilot's reading as plain columns: a reverse one-to-one that is missing (a ticket
    # not analysed yet) would raise in the template on every row, and that is slow.
    qs = qs.select_related("customer", "team", "assignee").annotate(
        insight_sentiment=F("insight__sentiment"),
        insight_intent=F("insight__intent"),
        insight_conversation=F("insight__conversation_level"),
        insight_conversation_reasons=F("insight__analysis__conversation_reasons"),
    )
    if filters.sort == "urgency":
        return _order_by_urgency(qs)
    return qs.order_by("-last_message_at", "-id")


def ticket_count_new_for_user(*, user: User, filters: TicketFilters, since: datetime) -> int:
    """How many tickets the list with these filters would gain that were opened after `since`:
    one COUNT, no join for the copilot's columns (the inbox asks every few seconds)."""
    return _ticket_filtered(user=user, filters=filters).filter(created_at__gt=since).count()


def _ticket_filtered(*, user: User, filters: TicketFilters) -> QuerySet[Ticket]:
    qs = ticket_qs_for_user(user=user)
    if filters.status == "all":
        pass
    elif filters.status:
        qs = qs.filter(status=filters.status)
    else:
        qs = qs.filter(status__in=ACTIVE_STATUSES)
    if filters.priority:
        qs = qs.filter(priority=filters.priority)
    if filters.team:
        qs = qs.filter(team__slug=filters.team)
    if filters.channel:
        qs = qs.filter(channel=filters.channel)
    if filters.mine:
        qs = qs.filter(assignee=user)
    if filters.unassigned:
        qs = qs.filter(assignee__isnull=True)
    if filters.q:
        # Subject or customer name; a customer match is an EXISTS so the ticket rows stay distinct.
        customers = Customer.objects.filter(
            Q(name__icontains=filters.q) | Q(email__iexact=filters.q) | Q(external_id=filters.q),
            pk=OuterRef("customer_id"),
        )
        match = Q(subject__icontains=filters.q) | Q(Exists(customers))
        if filters.q.lstrip("#").isdigit():
            match |= Q(pk=int(filters.q.lstrip("#")))
        qs = qs.filter(match)
    return qs


def _order_by_urgency(qs: QuerySet[Ticket]) -> QuerySet[Ticket]:
    """Most urgent first: an unhappy customer (at risk of leaving, then frustrated across the
    conversation, then a negative latest request), then priority, then what the customer is worth
    to the business, then the longest wait."""
    unhappy = Case(
        When(insight__conversation_level="at_risk", then=Value(3)),
        When(insight__conversation_level="frustrated", then=Value(2)),
        When(insight__sentiment="negative", then=Value(1)),
        default=Value(0),
    )
    rank = Case(
        *(When(priority=p, then=Value(r)) for p, r in PRIORITY_RANK.items()),
        default=Value(1),
    )
    return qs.annotate(unhappy=unhappy, rank=rank).order_by(
        "-unhappy", "-rank", "-customer__lifetime_spend", "last_message_at", "id"
    )


def message_list_for_ticket(*, ticket: Ticket) -> QuerySet[Message]:
    return ticket.messages.select_related("author_user", "posted_by").order_by("sequence")


def message_last_from_agent(*, ticket: Ticket) -> Message | None:
    """The newest agent reply of the ticket (offered, never taken silently, as the resolution)."""
    return (
        ticket.messages.filter(author_kind=AuthorKind.AGENT)
        .only("id", "ticket_id", "sequence", "body")
        .order_by("-sequence")
        .first()
    )


def customer_records_managed_by(*, user: User) -> bool:
    """Whether this account keeps customer records: a shop integration (the shop's own systems)
    or an admin. They create customers, attach tickets to any customer and set the value fields
    (segment, spend, orders, signup date) that feed the recovery ranking; agents and supervisors
    only reach customers who wrote to their teams, and only correct names and e-mails."""
    return user.is_admin_role or user.is_integration


def customer_qs_for_user(*, user: User) -> QuerySet[Customer]:
    """Customers who wrote to one of the user's teams (admins, shop integrations: every one)."""
    if customer_records_managed_by(user=user):
        return Customer.objects.all()
    tickets = Ticket.objects.filter(
        customer_id=OuterRef("pk"), team_id__in=team_ids_for_user(user=user)
    )
    return Customer.objects.filter(Exists(tickets))


def customer_get_for_user(*, user: User, customer_id: int) -> Customer:
    return get_object_or_404(customer_qs_for_user(user=user), pk=customer_id)


def customer_recent_tickets(*, customer: Customer, user: User, limit: int = 5) -> list[Ticket]:
    return list(
        ticket_qs_for_user(user=user)
        .filter(customer=customer)
        .order_by("-created_at")
        .only("id", "subject", "status", "created_at")[:limit]
    )


def customer_search_for_user(*, user: User, q: str) -> QuerySet[Customer]:
    """The customers the user may see whose name, e-mail or shop id contains `q` (all of them
    for an empty `q`), by name."""
    qs = customer_qs_for_user(user=user).order_by("name", "pk")
    if q:
        qs = qs.filter(Q(name__icontains=q) | Q(email__icontains=q) | Q(external_id__icontains=q))
    return qs
