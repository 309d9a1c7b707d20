"""Customers' rights: consent per purpose, and retention. (Exports: privacy/exports/; erasure:
privacy/erasure.py; checking an erasure: privacy/verify.py.)"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from copilot.customer_data import copilot_retention_clear, copilot_similar_cases_consent_changed
from core.errors import DomainError
from privacy.events import privacy_event
from privacy.models import ConsentRecord, PrivacyEventKind
from tickets.consent import ConsentPurpose, consent_granted
from tickets.customer_data import customer_lock, tickets_retention_redact
from tickets.models import Customer
from tickets.text import text_clean

RETENTION_REDACTED = "[removed after the retention period]"


@transaction.atomic
def consent_record(
    *,
    customer: Customer,
    purpose: str,
    granted: bool,
    source: str,
    by: User | None,
    note: str = "",
) -> ConsentRecord:
    """Record a consent change and make the system follow it.

    Personalisation and training are read when work starts (recommendations, retraining), so
    nothing more is needed for them. Similar cases: on an opt-out the customer's cases leave the
    index now (their rows are deleted in this transaction, searches re-check rows, and the index
    file follows after commit); on an opt-in their solved tickets are indexed again.
    """
    if purpose not in ConsentPurpose.values:
        raise DomainError(
            f"Unknown purpose; one of: {', '.join(ConsentPurpose.values)}.", field="purpose"
        )
    source = text_clean(source).strip()[:50]
    if not source:
        raise DomainError("Say where the consent came from (api, e-mail, phone…).", field="source")
    locked = customer_lock(customer_id=customer.pk)
    was = consent_granted(customer=locked, purpose=purpose)
    record = ConsentRecord.objects.create(
        customer=locked,
        purpose=purpose,
        granted=granted,
        source=source,
        recorded_by=by,
        note=text_clean(note)[:2000],
    )
    privacy_event(
        kind=PrivacyEventKind.CONSENT_CHANGED,
        customer=locked,
        actor=by,
        data={"purpose": purpose, "granted": granted, "was": was, "source": source},
    )
    if purpose == ConsentPurpose.SIMILAR_CASES and was != granted:
        copilot_similar_cases_consent_changed(customer_id=locked.pk, granted=granted)
    return record


def retention_enforce(*, now: dt.datetime | None = None) -> dict[str, int]:
    """Apply the configured retention periods (see PRIVACY_*_RETENTION_DAYS): transcripts of
    tickets finished longer ago are redacted, old drafts and evidence cleared. Idempotent."""
    now = now or timezone.now()
    done: dict[str, int] = {"messages": 0, "analyses": 0, "decisions": 0}
    transcript_days = settings.PRIVACY_TRANSCRIPT_RETENTION_DAYS
    if transcript_days is not None:
        done["messages"] = tickets_retention_redact(
            finished_before=now - dt.timedelta(days=transcript_days),
            placeholder=RETENTION_REDACTED,
        )
    analysis_days = settings.PRIVACY_ANALYSIS_RETENTION_DAYS
    if analysis_days is not None:
        done.update(
            copilot_retention_clear(requested_before=now - dt.timedelta(days=analysis_days))
        )
    if any(done.values()):
        privacy_event(kind=PrivacyEventKind.RETENTION, customer=None, actor=None, data=done)
    return done
