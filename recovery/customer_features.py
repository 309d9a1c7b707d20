"""Customer features (stored as `CustomerSignals`): what the recovery ranking may know about a
customer, recomputed from their history (value, recent contacts, repeated issues, past recoveries,
churn risk, segment).

Segments, first match wins (a customer is one thing to the ranking, and the order says which
matters most):

1. `new`: signed up less than 90 days ago, or at most one order (no history to judge them by);
2. `frequent_contact`: 3+ messages in the last 30 days, or a repeated issue;
3. `at_risk`: churn risk of 0.5 or more (more likely than not to go silent);
4. `loyal`: 5+ orders and a customer for a year or more;
5. `regular`: everyone else.

A customer without a sign-up date is judged by orders alone for `new` and is never `loyal`
(tenure unknown).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable, Iterable
from decimal import Decimal

from django.db import transaction
from django.db.models import Count, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from copilot.models import AnalysisStatus, MessageAnalysis
from copilot.nlp.intent import UNSURE
from recovery.churn.service import churn_risks_for
from recovery.models import BehaviourSegment, CustomerSignals, ExecutionStatus, RecoveryExecution
from tickets.customer_data import customer_ids_erased
from tickets.models import AuthorKind, Customer, Message, Ticket

WINDOW_DAYS = 30
NEW_TENURE_DAYS = 90
NEW_MAX_ORDERS = 1
FREQUENT_CONTACTS = 3
REPEAT_SAME_INTENT = 2
REPEAT_ANY_TICKETS = 3
AT_RISK_CHURN = 0.5
LOYAL_MIN_ORDERS = 5
LOYAL_TENURE_DAYS = 365
BATCH_SIZE = 500

_UPDATED_FIELDS = [
    "lifetime_value",
    "churn_risk",
    "churn_model_version",
    "contacts_30d",
    "repeat_issue",
    "recoveries_count",
    "recoveries_positive",
    "segment",
    "computed_at",
]


def customer_segment(
    *,
    customer: Customer,
    now: dt.datetime,
    contacts_30d: int,
    repeat_issue: bool,
    churn_risk: float,
) -> str:
    """The behaviour segment, by the precedence in the module docstring."""
    tenure = (
        None
        if customer.signup_date is None
        else (timezone.localdate(now) - customer.signup_date).days
    )
    if (tenure is not None and tenure < NEW_TENURE_DAYS) or customer.order_count <= NEW_MAX_ORDERS:
        return BehaviourSegment.NEW
    if contacts_30d >= FREQUENT_CONTACTS or repeat_issue:
        return BehaviourSegment.FREQUENT_CONTACT
    if churn_risk >= AT_RISK_CHURN:
        return BehaviourSegment.AT_RISK
    loyal_tenure = tenure is not None and tenure >= LOYAL_TENURE_DAYS
    if customer.order_count >= LOYAL_MIN_ORDERS and loyal_tenure:
        return BehaviourSegment.LOYAL
    return BehaviourSegment.REGULAR


def _repeat_issue(intents: list[str]) -> bool:
    """Several tickets about the same need, or simply many tickets, in the window."""
    if len(intents) >= REPEAT_ANY_TICKETS:
        return True
    counts = Counter(intent for intent in intents if intent)
    return any(n >= REPEAT_SAME_INTENT for n in counts.values())


def _signals_for(customers: list[Customer], *, now: dt.datetime) -> list[CustomerSignals]:
    """Compute and upsert the signals of a batch of customers: a fixed number of queries."""
    ids = [c.pk for c in customers]
    window_start = now - dt.timedelta(days=WINDOW_DAYS)
    contacts = dict(
        Message.objects.filter(
            ticket__customer_id__in=ids,
            author_kind=AuthorKind.CUSTOMER,
            created_at__gt=window_start,
            created_at__lte=now,
        )
        .order_by()
        .values("ticket__customer_id")
        .annotate(n=Count("pk"))
        .values_list("ticket__customer_id", "n")
    )
    # A ticket's need: the organisation's own label when set, else what the copilot last read
    # with confidence (an "unsure" reading says nothing about sameness).
    latest_intent = (
        MessageAnalysis.objects.filter(ticket=OuterRef("pk"), status=AnalysisStatus.DONE)
        .exclude(intent__in=["", UNSURE])
        .order_by("-transcript_version")
        .values("intent")[:1]
    )
    intents: dict[int, list[str]] = {}
    for customer_id, label, analysed in (
        Ticket.objects.filter(customer_id__in=ids, created_at__gt=window_start, created_at__lte=now)
        .order_by()
        .annotate(analysed=Subquery(latest_intent))
        .values_list("customer_id", "intent", "analysed")
    ):
        intents.setdefault(customer_id, []).append(label or analysed or "")
    recoveries = {
        row["recommendation__ticket__customer_id"]: (row["n"], row["positive"])
        for row in RecoveryExecution.objects.filter(
            recommendation__ticket__customer_id__in=ids, status=ExecutionStatus.DONE
        )
        .order_by()
        .values("recommendation__ticket__customer_id")
        .annotate(
            n=Count("pk"),
            positive=Count("pk", filter=Q(positive_reply=True) | Q(reopened=False)),
        )
    }
    risks = churn_risks_for(customer_ids=ids, now=now)

    rows = []
    for customer in customers:
        contacts_30d = contacts.get(customer.pk, 0)
        repeat = _repeat_issue(intents.get(customer.pk, []))
        risk, version = risks[customer.pk]
        count, positive = recoveries.get(customer.pk, (0, 0))
        rows.append(
            CustomerSignals(
                customer=customer,
                lifetime_value=Decimal(customer.lifetime_spend),
                churn_risk=risk,
                churn_model_version=version,
                contacts_30d=contacts_30d,
                repeat_issue=repeat,
                recoveries_count=count,
                recoveries_positive=positive,
                segment=customer_segment(
                    customer=customer,
                    now=now,
                    contacts_30d=contacts_30d,
                    repeat_issue=repeat,
                    churn_risk=risk,
                ),
                computed_at=now,
            )
        )
    # One upsert for the batch: a worker and the nightly refresh may compute the same customer
    # at once, and the later write simply wins (both computed from the same history).
    CustomerSignals.objects.bulk_create(
        rows, update_conflicts=True, unique_fields=["customer"], update_fields=_UPDATED_FIELDS
    )
    return rows


@transaction.atomic
def customer_signals_compute(
    *, customer: Customer, now: dt.datetime | None = None
) -> CustomerSignals:
    """Recompute one customer's signals as of `now` and store them (insert or update)."""
    return _signals_for([customer], now=now or timezone.now())[0]


def customers_not_erased() -> QuerySet[Customer]:
    """Customers whose data may still be computed on: an erased customer's signals are deleted
    by the erasure and must not come back with the next refresh."""
    return Customer.objects.exclude(pk__in=customer_ids_erased())


def _batches() -> Iterable[list[Customer]]:
    last_pk = 0
    while True:
        batch = list(
            customers_not_erased()
            .filter(pk__gt=last_pk)
            .order_by("pk")
            .only("pk", "signup_date", "order_count", "lifetime_spend")[:BATCH_SIZE]
        )
        if not batch:
            return
        yield batch
        last_pk = batch[-1].pk


def customer_signals_refresh_all(
    *,
    progress: Callable[[int, int], None] | None = None,
    now: dt.datetime | None = None,
) -> int:
    """Recompute every customer's signals, BATCH_SIZE customers per transaction (about ten
    queries each, whatever their history). `progress(done, total)` is called after each batch.
    Returns how many customers were computed."""
    now = now or timezone.now()
    total = customers_not_erased().count()
    done = 0
    for batch in _batches():
        with transaction.atomic():
            _signals_for(batch, now=now)
        done += len(batch)
        if progress is not None:
            progress(done, total)
    return done
