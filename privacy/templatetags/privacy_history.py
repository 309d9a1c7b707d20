from django import template

from privacy.history import privacy_event_sentence
from privacy.models import PrivacyEvent

register = template.Library()


@register.filter
def describe(event: PrivacyEvent) -> str:
    """`{{ event|describe }}`: the privacy event's details as a sentence (escaped like any
    string)."""
    return privacy_event_sentence(event)
