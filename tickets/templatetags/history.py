from django import template

from tickets.history import event_sentence
from tickets.models import TicketEvent

register = template.Library()


@register.filter
def describe(event: TicketEvent) -> str:
    """`{{ event|describe }}`: the event's details as a sentence (escaped like any string)."""
    return event_sentence(event)
