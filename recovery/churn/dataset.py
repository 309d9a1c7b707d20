"""What the churn model learns from and scores, read from the database: every customer's history
as of a moment, and the training set of a time split (population, features, labels)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from django.db.models import Count, Max, Min, Q
from django.utils import timezone

from copilot.models import AnalysisStatus, MessageAnalysis, Sentiment
from recovery.churn.model import DAYS_SINCE_CAP, CustomerHistory
from recovery.models import ExecutionStatus, RecoveryExecution
from tickets.consent import ConsentPurpose, customer_ids_opted_out
from tickets.models import (
    AuthorKind,
    Customer,
    Message,
    Status,
    Ticket,
    TicketEvent,
    TicketEventKind,
)

ACTIVE_DAYS = 365


def _only(qs: Any, field: str, customer_ids: Collection[int] | None) -> Any:
    return qs if customer_ids is None else qs.filter(**{f"{field}__in": list(customer_ids)})


def customer_histories_as_of(
    *, as_of: dt.datetime, customer_ids: Collection[int] | None = None
) -> dict[int, CustomerHistory]:
    """Every customer's (or these customers') history strictly before `as_of`.

    Six aggregate queries whatever the number of customers; nothing after `as_of` is read, so a
    past `as_of` sees what we would have seen then (but see the module's note on order totals).
    """
    customers = _only(Customer.objects.order_by(), "pk", customer_ids).values_list(
        "pk", "signup_date", "order_count", "lifetime_spend"
    )
    contacts = {
        row["ticket__customer_id"]: (row["first"], row["last"])
        for row in _only(
            Message.objects.filter(author_kind=AuthorKind.CUSTOMER, created_at__lt=as_of),
            "ticket__customer_id",
            customer_ids,
        )
        .order_by()
        .values("ticket__customer_id")
        .annotate(first=Min("created_at"), last=Max("created_at"))
    }
    since_30, since_90 = as_of - dt.timedelta(days=30), as_of - dt.timedelta(days=90)
    tickets = {
        row["customer_id"]: (row["t30"], row["t90"])
        for row in _only(
            Ticket.objects.filter(created_at__lt=as_of, created_at__gte=since_90),
            "customer_id",
            customer_ids,
        )
        .order_by()
        .values("customer_id")
        .annotate(t30=Count("pk", filter=Q(created_at__gte=since_30)), t90=Count("pk"))
    }
    sentiment = {
        row["ticket__customer_id"]: row["negative"] / row["analysed"]
        for row in _only(
            MessageAnalysis.objects.filter(
                status=AnalysisStatus.DONE, message__created_at__lt=as_of
            ).exclude(sentiment=""),
            "ticket__customer_id",
            customer_ids,
        )
        .order_by()
        .values("ticket__customer_id")
        .annotate(
            analysed=Count("pk"), negative=Count("pk", filter=Q(sentiment=Sentiment.NEGATIVE))
        )
    }
    # An agent moving a solved ticket back to open or pending. (A customer writing on a solved
    # ticket reopens it too, but message_append records no event for that, so it is not seen.)
    reopened = {
        row["ticket__customer_id"]: row["n"]
        for row in _only(
            TicketEvent.objects.filter(
                kind=TicketEventKind.STATUS_CHANGED,
                data__from=Status.SOLVED.value,
                data__to__in=[Status.OPEN.value, Status.PENDING.value],
                created_at__lt=as_of,
            ),
            "ticket__customer_id",
            customer_ids,
        )
        .order_by()
        .values("ticket__customer_id")
        .annotate(n=Count("ticket_id", distinct=True))
    }
    recoveries = {
        row["recommendation__ticket__customer_id"]: row["n"]
        for row in _only(
            RecoveryExecution.objects.filter(status=ExecutionStatus.DONE, executed_at__lt=as_of),
            "recommendation__ticket__customer_id",
            customer_ids,
        )
        .order_by()
        .values("recommendation__ticket__customer_id")
        .annotate(n=Count("pk"))
    }

    as_of_date = timezone.localdate(as_of)
    histories: dict[int, CustomerHistory] = {}
    for pk, signup, order_count, spend in customers:
        first, last = contacts.get(pk, (None, None))
        if signup is not None:
            tenure = float(max(0, (as_of_date - signup).days))
        elif first is not None:
            tenure = max(0.0, (as_of - first).total_seconds() / 86400)
        else:
            tenure = 0.0
        since = (
            DAYS_SINCE_CAP
            if last is None
            else min(DAYS_SINCE_CAP, (as_of - last).total_seconds() / 86400)
        )
        t30, t90 = tickets.get(pk, (0, 0))
        histories[pk] = CustomerHistory(
            customer_id=pk,
            tenure_days=tenure,
            order_count=order_count,
            lifetime_spend=float(spend),
            tickets_30d=t30,
            tickets_90d=t90,
            days_since_contact=since,
            negative_share=sentiment.get(pk, 0.0),
            reopened_tickets=reopened.get(pk, 0),
            recoveries_received=recoveries.get(pk, 0),
        )
    return histories


def history_end() -> dt.datetime | None:
    """The newest customer message, or the wall clock if something is dated in the future."""
    newest = Message.objects.filter(author_kind=AuthorKind.CUSTOMER).aggregate(
        newest=Max("created_at")
    )["newest"]
    return None if newest is None else min(newest, timezone.now())


def _training_opted_out() -> set[int]:
    """Customers whose newest consent record for model training says no."""
    return set(
        customer_ids_opted_out(purpose=ConsentPurpose.TRAINING).values_list(
            "customer_id", flat=True
        )
    )


@dataclass(frozen=True)
class ChurnDataset:
    """The training set of the time split at a cutoff: one row per customer of the population."""

    population: list[int]  # customer ids, the rows' order
    x: npt.NDArray[np.float64]  # features as of the cutoff, in FEATURES order
    y: npt.NDArray[np.int64]  # 1 = churned: silent in the horizon after the cutoff


def churn_dataset_at(*, cutoff: dt.datetime, horizon_days: int, active_days: int) -> ChurnDataset:
    """The customers active in the `active_days` before `cutoff` (signed up before it, not opted
    out of model training), their features as of the cutoff, and whether they wrote again in the
    `horizon_days` after it."""
    horizon = dt.timedelta(days=horizon_days)
    histories = customer_histories_as_of(as_of=cutoff)
    active_since = cutoff - dt.timedelta(days=active_days)
    active = set(
        Message.objects.filter(
            author_kind=AuthorKind.CUSTOMER, created_at__gte=active_since, created_at__lt=cutoff
        )
        .order_by()
        .values_list("ticket__customer_id", flat=True)
        .distinct()
    )
    signed_up_after = set(
        Customer.objects.filter(signup_date__gte=timezone.localdate(cutoff)).values_list(
            "pk", flat=True
        )
    )
    population = sorted(active - signed_up_after - _training_opted_out())
    returned = set(
        Message.objects.filter(
            author_kind=AuthorKind.CUSTOMER, created_at__gte=cutoff, created_at__lt=cutoff + horizon
        )
        .order_by()
        .values_list("ticket__customer_id", flat=True)
        .distinct()
    )
    x = np.asarray([histories[pk].vector() for pk in population], dtype=np.float64)
    y = np.asarray([int(pk not in returned) for pk in population], dtype=np.int64)
    return ChurnDataset(population=population, x=x, y=y)
