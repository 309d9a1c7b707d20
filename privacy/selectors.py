"""Reads of customers' consent records and of the privacy log.

`ConsentRecordReader` and `PrivacyLogErasures` are what the lower apps read through
(`tickets.consent`, `tickets.customer_data.customer_is_erased`); `PrivacyConfig.ready`
registers them.
"""

from __future__ import annotations

from typing import Any

from django.db.models import OuterRef, QuerySet, Subquery

from privacy.models import ConsentRecord, PrivacyEvent, PrivacyEventKind
from tickets.consent import ConsentPurpose
from tickets.models import Customer


class ConsentRecordReader:
    """Consent from the append-only records: per purpose the customer's newest record, or yes
    with none (the shop's terms cover it until the customer says otherwise)."""

    def states(self, customer_id: int) -> dict[str, bool]:
        # One query: the ticket page asks for it on every view.
        states: dict[str, bool] = {}
        records = (
            ConsentRecord.objects.filter(customer_id=customer_id)
            .order_by("-recorded_at", "-id")
            .values_list("purpose", "granted")
        )
        for purpose, granted in records:
            states.setdefault(purpose, granted)
        return {purpose: states.get(purpose, True) for purpose in ConsentPurpose.values}

    def granted(self, customer_id: int, purpose: str) -> bool:
        return self.states(customer_id).get(purpose, True)

    def opted_out_ids(self, purpose: str) -> QuerySet[Any]:
        newest = (
            ConsentRecord.objects.filter(customer=OuterRef("customer"), purpose=purpose)
            .order_by("-recorded_at", "-id")
            .values("granted")[:1]
        )
        return (
            ConsentRecord.objects.filter(purpose=purpose)
            .annotate(current=Subquery(newest))
            .filter(current=False)
            .values("customer_id")
        )


class PrivacyLogErasures:
    """A customer is erased when the privacy log records their erasure (written in the
    erasure's transaction)."""

    def erased(self, customer_id: int) -> bool:
        return PrivacyEvent.objects.filter(
            customer_id=customer_id, kind=PrivacyEventKind.ERASED
        ).exists()

    def erased_ids(self) -> QuerySet[Any]:
        return PrivacyEvent.objects.filter(
            kind=PrivacyEventKind.ERASED, customer_id__isnull=False
        ).values("customer_id")


def consent_history_for_customer(*, customer: Customer) -> QuerySet[ConsentRecord]:
    """The customer's consent records, newest first."""
    return (
        ConsentRecord.objects.filter(customer=customer)
        .select_related("recorded_by")
        .order_by("-recorded_at", "-id")
    )


def privacy_event_list(*, customer: Customer | None = None) -> QuerySet[PrivacyEvent]:
    """The privacy log, newest first; one customer's part of it when given."""
    events = PrivacyEvent.objects.select_related("actor", "customer")
    if customer is not None:
        events = events.filter(customer=customer)
    return events
