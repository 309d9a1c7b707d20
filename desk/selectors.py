"""Reads for the agent's desk: one selector per fragment of the ticket page, each reading only
what its fragment shows, and the page's selector composing them.

The fragments that htmx asks for on their own (the copilot panel polls every 2 s while an
analysis runs, the recovery panel while an approved action is carried out) must stay cheap: the
transcript, the customer card and the assignable staff are read for the page only. The open page
asks every few seconds whether anything changed (`ticket_live_versions_for_user`): one query,
so that the usual answer, nothing, costs next to nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from django.db.models import OuterRef
from django.http import Http404
from django.shortcuts import get_object_or_404

from accounts.models import User
from accounts.selectors import user_list_assignable
from copilot.models import MessageAnalysis
from copilot.selectors import (
    AnalysisPanel,
    analysis_panel_for_ticket,
    analysis_stamp_expressions,
    draft_text_for_agent,
    suggestion_texts_for_agent,
)
from desk.models import SavedView
from recovery.selectors import (
    RecoveryPanel,
    recovery_panel_for_ticket,
    recovery_stamp_expressions,
)
from tickets.consent import ConsentPurpose, consent_states
from tickets.customer_data import customer_row_is_erased
from tickets.models import Customer, Message, Ticket
from tickets.selectors import (
    customer_recent_tickets,
    message_last_from_agent,
    message_list_for_ticket,
    ticket_qs_for_user,
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
    # Which of the draft's analysis's suggestions the box starts from (0 the best), if one.
    suggestion: int | None = None
    # The customer was erased: no box, a note instead (sending is refused anyway). Read from
    # the loaded customer row, so the box costs no query more.
    erased: bool = False


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
    *,
    ticket: Ticket,
    user: User,
    draft: MessageAnalysis | None = None,
    suggestion: int | None = None,
) -> ReplyBox:
    """`draft`: an analysis of this (already permission-checked) ticket; `suggestion`: which
    of its suggestions fills the box (0 the best), else its drafted reply does."""
    if customer_row_is_erased(customer=ticket.customer):
        return ReplyBox(ticket=ticket, draft=None, draft_text="", erased=True)
    if draft is None:
        return ReplyBox(ticket=ticket, draft=None, draft_text="")
    # Its ticket is this one: spare the signature a query for it.
    draft.ticket = ticket
    if suggestion is not None and 0 <= suggestion < len(draft.suggestions):
        text = suggestion_texts_for_agent(analysis=draft, agent=user)[suggestion]
        return ReplyBox(ticket=ticket, draft=draft, draft_text=text, suggestion=suggestion)
    return ReplyBox(
        ticket=ticket, draft=draft, draft_text=draft_text_for_agent(analysis=draft, agent=user)
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
    *,
    ticket: Ticket,
    user: User,
    draft: MessageAnalysis | None = None,
    suggestion: int | None = None,
) -> TicketPage:
    """The whole ticket page: every fragment's selector, the consent read once for two."""
    consent = consent_states(customer=ticket.customer)
    return TicketPage(
        ticket=ticket,
        header=ticket_page_header(ticket=ticket),
        transcript=ticket_page_transcript(ticket=ticket),
        reply=ticket_page_reply_box(ticket=ticket, user=user, draft=draft, suggestion=suggestion),
        copilot=ticket_page_copilot_panel(ticket=ticket, user=user),
        recovery=ticket_page_recovery_panel(ticket=ticket, consent=consent),
        customer=ticket_page_customer_card(ticket=ticket, user=user, consent=consent),
    )


@dataclass(frozen=True, kw_only=True)
class LiveVersions:
    """A stamp per fragment of the ticket page that refreshes by itself: a fragment whose stamp
    moved is sent again. Opaque strings, compared for equality only."""

    header: str
    transcript: str
    copilot: str
    recovery: str

    def as_dict(self) -> dict[str, str]:
        return {
            "header": self.header,
            "transcript": self.transcript,
            "copilot": self.copilot,
            "recovery": self.recovery,
        }


def ticket_live_versions_for_user(*, user: User, ticket_id: int) -> LiveVersions:
    """The stamps of the ticket's live fragments, in one query on the ticket row (404 like
    `ticket_get_for_user` for a ticket the user may not see).

    Each stamp moves with what its fragment shows: the header with the ticket row (`updated_at`
    moves with every message, status and assignee change), the transcript with its version, the
    copilot panel with the newest analysis and its status and the draft decisions, the recovery
    panel with its append-only audit trail (a proposal shown, every decision, an execution) and
    the recorded proposal runs (a run that proposed nothing ends the panel's wait too).
    """
    copilot = analysis_stamp_expressions(ticket_id=OuterRef("pk"))
    recovery = recovery_stamp_expressions(ticket_id=OuterRef("pk"))
    row = (
        ticket_qs_for_user(user=user)
        .filter(pk=ticket_id)
        .annotate(**{f"copilot_{k}": v for k, v in copilot.items()})
        .annotate(**{f"recovery_{k}": v for k, v in recovery.items()})
        .values(
            "updated_at",
            "transcript_version",
            *(f"copilot_{k}" for k in copilot),
            *(f"recovery_{k}" for k in recovery),
        )
        .first()
    )
    if row is None:
        raise Http404("No such ticket.")
    version = row["transcript_version"]
    updated = row["updated_at"]
    return LiveVersions(
        # As desk/ticket.html writes it on the header: epoch seconds, then microseconds.
        header=f"{int(updated.timestamp())}{updated.microsecond:06d}",
        transcript=str(version),
        # The panel also says whether an agent replied since the analysed request.
        copilot=".".join([*(str(row[f"copilot_{k}"]) for k in copilot), str(version)]),
        recovery=".".join(str(row[f"recovery_{k}"]) for k in recovery),
    )


# --- the inbox's saved views -----------------------------------------------------------------


def saved_view_list_for_user(*, user: User) -> list[SavedView]:
    """The user's own views, by name: nobody sees another's."""
    return list(SavedView.objects.filter(owner=user).order_by("name", "id"))


def saved_view_get_for_user(*, user: User, view_id: int) -> SavedView:
    """One of the user's own views, or 404 (another's view answers the same as a missing one)."""
    return get_object_or_404(SavedView.objects.select_related("owner"), pk=view_id, owner=user)
