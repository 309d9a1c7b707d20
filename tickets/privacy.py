"""Customers' rights: consent per purpose, and retention. (Exports: tickets/exports.py;
erasure: tickets/erasure.py; checking an erasure: tickets/privacy_verify.py.)"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from core.errors import DomainError
from tickets.events import privacy_event
from tickets.models import (
    DONE_STATUSES,
    ConsentPurpose,
    ConsentRecord,
    Customer,
    Message,
    PrivacyEventKind,
    Ticket,
)
from tickets.selectors import consent_granted
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
    locked = Customer.objects.select_for_update().get(pk=customer.pk)
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
        _similar_cases_follow(customer=locked, granted=granted)
    return record


def _similar_cases_follow(*, customer: Customer, granted: bool) -> None:
    from copilot.models import SolvedCase
    from copilot.tasks import record_solved_case, sync_case_index

    if not granted:
        deleted, _ = SolvedCase.objects.filter(ticket__customer=customer).delete()
        if deleted:
            sync_case_index.delay_on_commit()
        return
    for ticket_id in Ticket.objects.filter(customer=customer, status__in=DONE_STATUSES).values_list(
        "pk", flat=True
    ):
        record_solved_case.delay_on_commit(ticket_id=ticket_id)


def retention_enforce(*, now: dt.datetime | None = None) -> dict[str, int]:
    """Apply the configured retention periods (see PRIVACY_*_RETENTION_DAYS): transcripts of
    tickets finished longer ago are redacted, old drafts and evidence cleared. Idempotent."""
    from copilot.models import DraftDecisionEvent, MessageAnalysis

    now = now or timezone.now()
    done: dict[str, int] = {"messages": 0, "analyses": 0, "decisions": 0}
    transcript_days = settings.PRIVACY_TRANSCRIPT_RETENTION_DAYS
    if transcript_days is not None:
        cutoff = now - dt.timedelta(days=transcript_days)
        old = Ticket.objects.filter(status__in=DONE_STATUSES, solved_at__lt=cutoff)
        # Every author's messages: agents' replies quote the customer too.
        done["messages"] = (
            Message.objects.filter(ticket__in=old)
            .exclude(body=RETENTION_REDACTED)
            .update(body=RETENTION_REDACTED, author_name="")
        )
        # Resolutions and subjects are part of the transcript too.
        old.exclude(resolution=RETENTION_REDACTED).update(
            resolution=RETENTION_REDACTED, subject=RETENTION_REDACTED
        )
    analysis_days = settings.PRIVACY_ANALYSIS_RETENTION_DAYS
    if analysis_days is not None:
        cutoff = now - dt.timedelta(days=analysis_days)
        done["analyses"] = (
            MessageAnalysis.objects.filter(requested_at__lt=cutoff)
            .exclude(draft_reply="", similar_cases=[], draft_reasons=[])
            .update(draft_reply="", draft_reasons=[], similar_cases=[], intent_candidates=[])
        )
        done["decisions"] = (
            DraftDecisionEvent.objects.filter(created_at__lt=cutoff)
            .exclude(proposed_text="", final_text="")
            .update(proposed_text="", final_text="")
        )
    if any(done.values()):
        privacy_event(kind=PrivacyEventKind.RETENTION, customer=None, actor=None, data=done)
    return done
