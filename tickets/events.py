"""One small constructor per ticket event type, so every event of a kind has the same shape."""

from accounts.models import User
from tickets.models import Ticket, TicketEvent, TicketEventKind


def ticket_event_created(*, ticket: Ticket, actor: User | None) -> TicketEvent:
    return TicketEvent.objects.create(
        ticket=ticket, actor=actor, kind=TicketEventKind.CREATED, data={"channel": ticket.channel}
    )


def ticket_event_imported(*, ticket: Ticket, source: str) -> TicketEvent:
    return TicketEvent.objects.create(
        ticket=ticket, kind=TicketEventKind.IMPORTED, data={"source": source}
    )


def ticket_events_imported(*, tickets: list[Ticket], source: str) -> list[TicketEvent]:
    """The import events of many tickets in one insert (a bulk import)."""
    return TicketEvent.objects.bulk_create(
        TicketEvent(ticket=ticket, kind=TicketEventKind.IMPORTED, data={"source": source})
        for ticket in tickets
    )


def ticket_event_status_changed(
    *, ticket: Ticket, actor: User | None, old: str, new: str
) -> TicketEvent:
    return TicketEvent.objects.create(
        ticket=ticket,
        actor=actor,
        kind=TicketEventKind.STATUS_CHANGED,
        data={"from": old, "to": new},
    )


def ticket_event_assigned(
    *, ticket: Ticket, actor: User | None, old: User | None, new: User | None
) -> TicketEvent:
    return TicketEvent.objects.create(
        ticket=ticket,
        actor=actor,
        kind=TicketEventKind.ASSIGNED,
        data={
            "from": old.get_username() if old else None,
            "to": new.get_username() if new else None,
        },
    )
