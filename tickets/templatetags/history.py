from django import template

from tickets.history import event_sentence
from tickets.models import PrivacyEvent, TicketEvent

register = template.Library()


@register.filter
def describe(event: PrivacyEvent | TicketEvent) -> str:
    """`{{ event|describe }}`: the event's details as a sentence (escaped like any string)."""
    return event_sentence(event)
