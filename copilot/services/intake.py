"""The messages and status changes that start the copilot's work: a customer's message (written
with its analysis request in one transaction), an agent's reply (checked for unfilled slots), a
new ticket, and the status changes that feed the solved-case index.

The transcript is the tickets app's; these use cases add to it and must also start the
copilot's work, so they live here, one layer up, and tickets knows nothing of the copilot.
"""

import datetime as dt
import logging

from django.db import transaction

from accounts.models import Team, User
from copilot.nlp.deid import markers_in
from copilot.services.analysis import analysis_request
from copilot.services.cases import case_on_status_change
from core.errors import DomainError
from tickets.customer_data import customer_refuse_if_erased
from tickets.models import AuthorKind, Channel, Customer, Message, Priority, Ticket
from tickets.services import message_append, message_post, ticket_change_status, ticket_create
from tickets.text import text_clean

logger = logging.getLogger(__name__)


UNFILLED_SLOT_CODE = "unfilled_slot"


def reply_markers_refuse(*, body: str) -> None:
    """Refuse a reply that still shows a slot nothing filled ("[order number]"): it would reach
    the customer as written. Every agent reply goes through here (the reply box, a draft sent,
    the API), so they all answer with the same error naming the markers."""
    markers = markers_in(text_clean(body))
    if markers:
        raise DomainError(
            f"Fill in {', '.join(markers)} before sending: the customer would see "
            f"{'it' if len(markers) == 1 else 'them'} as written.",
            field="body",
            code=UNFILLED_SLOT_CODE,
        )


@transaction.atomic
def agent_reply_send(
    *, ticket: Ticket, body: str, agent: User, posted_via: str = "", author_name: str = ""
) -> Message:
    """An agent's reply into the transcript, refused while it shows an unfilled slot marker.

    `posted_via` is set when it came through the API: the message then records the agent as
    the account that posted it (see `tickets.services.message_post`). Refused for an erased
    customer: nothing is sent to them.
    """
    reply_markers_refuse(body=body)
    # Read without the customer's lock: a draft's reply holds its analysis's lock here, which an
    # erasure takes after the customer's, so taking the customer's now could deadlock with it.
    customer_refuse_if_erased(customer=ticket.customer)
    return message_append(
        ticket=ticket,
        body=body,
        author_kind=AuthorKind.AGENT,
        author_user=agent,
        author_name=author_name,
        posted_by=agent if posted_via else None,
        posted_via=posted_via,
    )


@transaction.atomic
def customer_message_receive(
    *,
    ticket: Ticket,
    body: str,
    author_name: str = "",
    posted_by: User | None = None,
    posted_via: str = "",
    external_id: str = "",
    created_at: dt.datetime | None = None,
) -> Message:
    """A customer's message into the transcript, with its analysis requested in the same
    transaction: a message is never without its analysis record, even when the broker is down
    (the task is queued on commit; beat re-queues it if it is lost)."""
    message = message_append(
        ticket=ticket,
        body=body,
        author_kind=AuthorKind.CUSTOMER,
        author_name=author_name,
        posted_by=posted_by,
        posted_via=posted_via,
        external_id=external_id,
        created_at=created_at,
    )
    analysis_request(message=message)
    return message


@transaction.atomic
def message_receive(
    *, ticket: Ticket, body: str, author_kind: str, by: User, via: str, author_name: str = ""
) -> Message:
    """A message posted through the API by an account (`tickets.services.message_post`'s rules
    on who may post what), an agent's reply checked for unfilled slots and a customer's
    message queued for analysis, as when they come in any other way."""
    if author_kind == AuthorKind.AGENT and by.role is not None:
        # Only for staff: a shop integration posting as an agent is refused by message_post,
        # with that reason rather than this one.
        reply_markers_refuse(body=body)
    if author_kind == AuthorKind.AGENT:
        customer_refuse_if_erased(customer=ticket.customer)
    message = message_post(
        ticket=ticket,
        body=body,
        author_kind=author_kind,
        by=by,
        via=via,
        author_name=author_name,
    )
    if message.author_kind == AuthorKind.CUSTOMER:
        analysis_request(message=message)
    return message


@transaction.atomic
def ticket_receive(
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
    """Open a ticket with its first message (`tickets.services.ticket_create`): the customer's
    queued for analysis in the same transaction, an agent's checked for unfilled slots."""
    if author_kind == AuthorKind.AGENT and created_by is not None:
        reply_markers_refuse(body=body)
    ticket = ticket_create(
        customer=customer,
        team=team,
        subject=subject,
        body=body,
        channel=channel,
        priority=priority,
        created_by=created_by,
        author_kind=author_kind,
        author_name=author_name,
        posted_via=posted_via,
        created_at=created_at,
        company=company,
    )
    if author_kind == AuthorKind.CUSTOMER:
        # The ticket row is locked by the append until commit: its newest message is this one.
        analysis_request(message=ticket.messages.get(sequence=ticket.transcript_version))
    return ticket


@transaction.atomic
def ticket_status_change(
    *,
    ticket: Ticket,
    status: str,
    by: User | None,
    resolution: str = "",
    resolution_from_last_reply: bool = False,
) -> Ticket:
    """Move a ticket along its life cycle (`tickets.services.ticket_change_status`) and keep the
    similar-case index in step: a solved ticket is embedded and indexed once this commits, a
    reopened one loses its case in this transaction (see `cases.case_on_status_change`).
    """
    # Locked here, before the change locks it again: the status it had cannot move meanwhile.
    old = Ticket.objects.select_for_update().values_list("status", flat=True).get(pk=ticket.pk)
    changed = ticket_change_status(
        ticket=ticket,
        status=status,
        by=by,
        resolution=resolution,
        resolution_from_last_reply=resolution_from_last_reply,
    )
    case_on_status_change(ticket=changed, old=old, new=changed.status)
    return changed
