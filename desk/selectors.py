"""Reads for the agent's desk: one selector per fragment of the ticket page, each reading only
what its fragment shows, and the page's selector composing them.

The fragments that htmx asks for on their own (the copilot panel polls every 2 s while an
analysis runs, the recovery panel while an approved action is carried out) must stay cheap: the
transcript, the customer card and the assignable staff are read for the page only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from django.shortcuts import get_object_or_404

from accounts.models import User
from accounts.selectors import user_list_assignable
from copilot.models import MessageAnalysis
from copilot.selectors import AnalysisPanel, analysis_panel_for_ticket, draft_text_for_agent
from desk.models import SavedView
from recovery.selectors import RecoveryPanel, recovery_panel_for_ticket
from tickets.consent import ConsentPurpose, consent_states
from tickets.models import Customer, Message, Ticket
from tickets.selectors import (
    customer_recent_tickets,
    message_last_from_agent,
    message_list_for_ticket,
)


@dataclass(frozen=True, kw_only=True)
class TicketHeader:
    ticket: Ticket
    # The latest agent reply, offered (not taken silently) as the resolution when solving.
    last_reply: Message | None
    assignable: list[User]


@dataclass(frozen=True, kw_only=True)
class ReplyBox:
    ticket: Ticket
    # The copilot's draft the box starts from ("Use", "Edit", `?draft=`), signed by the agent.
    draft: MessageAnalysis | None
    draft_text: str


@dataclass(frozen=True, kw_only=True)
class CustomerCard:
    customer: Customer
    recent_tickets: list[Ticket]
    # Which purposes, nothing more (no dates, sources or notes): agents need to know what the
    # copilot will not do for this customer, not why.
    opted_out: list[str]


@dataclass(frozen=True, kw_only=True)
class TicketPage:
    ticket: Ticket
    header: TicketHeader
    transcript: list[Message]
    reply: ReplyBox
    copilot: AnalysisPanel
    recovery: RecoveryPanel
    customer: CustomerCard


def ticket_page_header(*, ticket: Ticket) -> TicketHeader:
    return TicketHeader(
        ticket=ticket,
        last_reply=message_last_from_agent(ticket=ticket),
        assignable=list(user_list_assignable(team_ids={ticket.team_id})),
    )


def ticket_page_transcript(*, ticket: Ticket) -> list[Message]:
    return list(message_list_for_ticket(ticket=ticket))


def ticket_page_reply_box(
    *, ticket: Ticket, user: User, draft: MessageAnalysis | None = None
) -> ReplyBox:
    """`draft`: an analysis of this (already permission-checked) ticket."""
    if draft is not None:
        # Its ticket is this one: spare the signature a query for it.
        draft.ticket = ticket
    return ReplyBox(
        ticket=ticket,
        draft=draft,
        draft_text=draft_text_for_agent(analysis=draft, agent=user) if draft else "",
    )


def ticket_page_copilot_panel(*, ticket: Ticket, user: User) -> AnalysisPanel:
    return analysis_panel_for_ticket(ticket=ticket, user=user)


def ticket_page_recovery_panel(
    *, ticket: Ticket, consent: Mapping[str, bool] | None = None
) -> RecoveryPanel:
    """`consent`: the customer's consent states when the caller already read them."""
    return recovery_panel_for_ticket(ticket=ticket, consent=consent)


def ticket_page_customer_card(
    *, ticket: Ticket, user: User, consent: Mapping[str, bool] | None = None
) -> CustomerCard:
    consent = consent_states(customer=ticket.customer) if consent is None else consent
    return CustomerCard(
        customer=ticket.customer,
        recent_tickets=customer_recent_tickets(customer=ticket.customer, user=user),
        opted_out=[
            ConsentPurpose(purpose).label.lower()
            for purpose, granted in consent.items()
            if not granted
        ],
    )


def ticket_page_get(
    *, ticket: Ticket, user: User, draft: MessageAnalysis | None = None
) -> TicketPage:
    """The whole ticket page: every fragment's selector, the consent read once for two."""
    consent = consent_states(customer=ticket.customer)
    return TicketPage(
        ticket=ticket,
        header=ticket_page_header(ticket=ticket),
        transcript=ticket_page_transcript(ticket=ticket),
        reply=ticket_page_reply_box(ticket=ticket, user=user, draft=draft),
        copilot=ticket_page_copilot_panel(ticket=ticket, user=user),
        recovery=ticket_page_recovery_panel(ticket=ticket, consent=consent),
        customer=ticket_page_customer_card(ticket=ticket, user=user, consent=consent),
    )


# --- the inbox's saved views -----------------------------------------------------------------


def saved_view_list_for_user(*, user: User) -> list[SavedView]:
    """The user's own views, by name: nobody sees another's."""
    return list(SavedView.objects.filter(owner=user).order_by("name", "id"))


def saved_view_get_for_user(*, user: User, view_id: int) -> SavedView:
    """One of the user's own views, or 404 (another's view answers the same as a missing one)."""
    return get_object_or_404(SavedView.objects.select_related("owner"), pk=view_id, owner=user)
