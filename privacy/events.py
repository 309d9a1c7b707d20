"""One small constructor for the privacy log, so every event has the same shape."""

from collections.abc import Mapping

from accounts.models import User
from privacy.models import PrivacyEvent
from tickets.models import Customer


def privacy_event(
    *, kind: str, customer: Customer | None, actor: User | None, data: Mapping[str, object]
) -> PrivacyEvent:
    """A consent change, export or erasure, for the admins' privacy log. `data` must hold no
    personal data (purposes, states, counts, ids)."""
    return PrivacyEvent.objects.create(kind=kind, customer=customer, actor=actor, data=data)
