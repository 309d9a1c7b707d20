"""Customers' consent, as the apps that must honour it read it.

The purposes belong to the customer domain that every app speaks; the records of who consented
to what, when and how are kept by the privacy app, which sits above the apps that read them.
So the readers here are only an interface: the privacy app registers the one that reads its
records when Django starts (`PrivacyConfig.ready`), and every call delegates to it.

Registered in `ready()` rather than named in a setting: the privacy app is what knows its
records, and a dotted path in a setting would be an import of a higher app by a lower one
that no import check can see. Without a registered reader every read fails loudly
(`ImproperlyConfigured`): consent is never assumed because the app that records it is missing.
"""

from __future__ import annotations

from typing import Any, Protocol

from django.core.exceptions import ImproperlyConfigured
from django.db import models
from django.db.models import QuerySet

from tickets.models import Customer


class ConsentPurpose(models.TextChoices):
    # Recommendations may use the customer's value, history, churn risk and past recoveries.
    PERSONALISATION = "personalisation", "Personalised recommendations"
    # Their tickets may be training data for the models (intent, churn).
    TRAINING = "training", "Model training"
    # Their solved tickets may be shown and used as similar-case examples for other customers.
    SIMILAR_CASES = "similar_cases", "Similar-case examples"
    # Agents may write to them first, before they contact us (the proactive queue).
    PROACTIVE = "proactive_contact", "Proactive contact"


class ConsentReader(Protocol):
    """Reads customers' current consent. With no record for a purpose, consent is given (the
    shop's terms cover it until the customer says otherwise)."""

    def granted(self, customer_id: int, purpose: str) -> bool:
        """The customer's current consent for one purpose."""
        ...

    def states(self, customer_id: int) -> dict[str, bool]:
        """The customer's current consent for every purpose, in one query."""
        ...

    def opted_out_ids(self, purpose: str) -> QuerySet[Any]:
        """Ids of customers whose current answer for the purpose is no, as a subquery of
        `customer_id` values (for `.exclude(customer_id__in=...)`)."""
        ...


_reader: ConsentReader | None = None


def consent_reader_register(*, reader: ConsentReader | None) -> ConsentReader | None:
    """Install the reader every consent read delegates to; returns the one it replaces (tests
    put it back). None uninstalls it."""
    global _reader
    previous, _reader = _reader, reader
    return previous


def _consent_reader() -> ConsentReader:
    if _reader is None:
        raise ImproperlyConfigured(
            "No consent reader is registered: install the privacy app, which registers it when "
            "Django starts. Consent is never assumed without it."
        )
    return _reader


def consent_states(*, customer: Customer) -> dict[str, bool]:
    """The customer's current consent for every purpose (see ConsentReader.states)."""
    return _consent_reader().states(customer.pk)


def consent_granted(*, customer: Customer, purpose: str) -> bool:
    """The customer's current consent for one purpose (see ConsentReader.granted)."""
    return _consent_reader().granted(customer.pk, purpose)


def customer_ids_opted_out(*, purpose: str) -> QuerySet[Any]:
    """Customers whose current answer for this purpose is no, as a subquery of ids (for
    `.exclude(customer_id__in=...)` in the work that must honour it)."""
    return _consent_reader().opted_out_ids(purpose)
