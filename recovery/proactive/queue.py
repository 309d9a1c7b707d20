"""The proactive queue: who goes on it (consent honoured), what an agent may send them, the
agents' decisions (each an audit row) and what became of each entry.

Nothing here reaches a customer by itself: an outreach is an agent's reply, sent through the
copilot's reply path (`agent_reply_send`: unfilled slots and erased customers refused) when an
agent chooses Send.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from accounts.models import User
from copilot.models import ReplyEntry
from copilot.nlp.deid import AGENT_NAME, slots_fill
from copilot.nlp.draft import slot_values
from copilot.services.intake import agent_reply_send, reply_markers_refuse
from core.errors import Conflict, DomainError
from recovery.models import RecoveryAction
from recovery.proactive.emerging import emerging_exposed_customers
from recovery.proactive.features import SolveRow, solve_rows
from recovery.proactive.model import WINDOW_DAYS
from recovery.proactive.models import (
    PROACTIVE_TRANSITIONS,
    WAITING,
    EmergingIssue,
    ProactiveDecision,
    ProactiveDecisionKind,
    ProactiveEntry,
    ProactiveQueueRun,
    ProactiveStatus,
)
from recovery.proactive.service import Prediction, proactive_model_current, proactive_predict
from tickets.consent import ConsentPurpose, consent_granted, customer_ids_opted_out
from tickets.customer_data import customer_ids_erased, customer_lock, customer_refuse_if_erased
from tickets.models import AuthorKind, Customer, Message, Status, Ticket
from tickets.services import ticket_create
from tickets.text import text_clean

# Per team and refresh: about what two agents can write in an hour, on top of the day's work.
QUEUE_PER_TEAM = 20
# On the queue only above this multiple of the usual rate of writing again after a solve.
MIN_LIFT = 1.5
SNOOZE_DAYS_MAX = 30
BODY_MAX = 5000
REASON_MAX = 500

# A library reply answers a question; sent first, it needs to say why we write.
LIBRARY_OPENER = "Hi {customer_first_name}, following up on your recent request, in case it helps: "
DEFAULT_OUTREACH = (
    "Hi {customer_first_name}, we solved your recent request a few days ago and wanted to "
    "check that everything is now in order. If anything is still not right, just reply to "
    "this message and we will pick it up straight away. {agent_name}"
)


def consent_refused_ids() -> set[int]:
    """Customers who may not be contacted first: opted out of proactive contact, or of
    personalisation (the queue is a personalised use of their history)."""
    ids: set[int] = set()
    for purpose in (ConsentPurpose.PROACTIVE, ConsentPurpose.PERSONALISATION):
        ids |= set(customer_ids_opted_out(purpose=purpose).values_list("customer_id", flat=True))
    return ids


# --- the suggested message ---------------------------------------------------------------------


def _library_by_intent(team_ids: Iterable[int]) -> dict[tuple[int, str], ReplyEntry]:
    """Each team's most used active library reply per intent of the tickets it was built
    from (an entry's `examples` are its source tickets)."""
    entries = list(
        ReplyEntry.objects.filter(team_id__in=list(team_ids), active=True)
        .order_by("-count", "pk")
        .only("pk", "team_id", "text", "examples", "count")
    )
    source_ids = {i for e in entries for i in (e.examples or []) if isinstance(i, int)}
    intent_of = dict(
        Ticket.objects.filter(pk__in=source_ids).exclude(intent="").values_list("pk", "intent")
    )
    best: dict[tuple[int, str], ReplyEntry] = {}
    for entry in entries:
        for ticket_id in entry.examples or []:
            intent = intent_of.get(ticket_id)
            if intent:
                best.setdefault((entry.team_id, intent), entry)
    return best


def _fill_for_customer(*, template: str, customer: Customer, ticket_id: int) -> str:
    """The template with this customer's slots filled from their own ticket; the agent's name
    stays a slot, filled for whoever opens the entry (`proactive_message_for_agent`)."""
    text = " ".join(
        Message.objects.filter(ticket_id=ticket_id, author_kind=AuthorKind.CUSTOMER)
        .order_by("sequence")
        .values_list("body", flat=True)
    )
    values = slot_values(
        customer_first_name=(customer.name.split() or [""])[0],
        customer_text=text,
        agent_name=None,
    )
    values[AGENT_NAME] = "{" + AGENT_NAME + "}"
    filled, _ = slots_fill(template, values=values)
    return filled


def proactive_message_for_agent(*, entry: ProactiveEntry, agent: User) -> str:
    """The entry's suggestion as this agent would send it (their name in its slot)."""
    name = agent.get_full_name() or agent.get_username()
    filled, _ = slots_fill(entry.suggested_message, values={AGENT_NAME: name})
    return filled


def _policy_action(*, intent: str, segment: str, tense: bool) -> str:
    """The first non-monetary catalogue action the policy allows for this intent and segment
    (money is never offered before the customer has even written)."""
    for action in RecoveryAction.objects.filter(active=True, monetary=False).order_by("key"):
        if action.intents and intent not in action.intents:
            continue
        if action.segments and segment not in action.segments:
            continue
        if action.negative_only and not tense:
            continue
        return action.key
    return ""


# --- building the queue ------------------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    prediction: Prediction
    issue: EmergingIssue | None


def _written_since(rows: list[SolveRow]) -> set[int]:
    """Customers who wrote after their solve: they are already talking to us."""
    if not rows:
        return set()
    last = {
        cid: at
        for cid, at in Message.objects.filter(
            author_kind=AuthorKind.CUSTOMER,
            ticket__customer_id__in={r.customer_id for r in rows},
        )
        .order_by()
        .values_list("ticket__customer_id")
        .annotate(last=Max("created_at"))
    }
    return {r.customer_id for r in rows if last.get(r.customer_id, r.solved_at) > r.solved_at}


def _candidates(*, now: dt.datetime, window_days: int) -> tuple[list[Candidate], float]:
    window = dt.timedelta(days=window_days)
    model = proactive_model_current()
    base_rate = model.base_rate if model is not None and model.base_rate > 0 else 0.05
    # Recent solves whose window is still running, newest solve per customer.
    latest: dict[int, SolveRow] = {}
    for row in solve_rows(solved_from=now - window, solved_to=now, window_days=window_days):
        latest[row.customer_id] = row
    # Customers exposed to an emerging issue: their latest solve of that intent.
    exposed: dict[int, EmergingIssue] = {}
    for issue, customer_ids in emerging_exposed_customers(now=now):
        for cid in customer_ids:
            exposed.setdefault(cid, issue)
    if exposed:
        for row in solve_rows(
            solved_from=now - dt.timedelta(days=30), solved_to=now, customer_ids=list(exposed)
        ):
            if row.features.intent == exposed[row.customer_id].key:
                latest.setdefault(row.customer_id, row)
    rows = list(latest.values())
    talking = _written_since(rows)
    rows = [r for r in rows if r.customer_id not in talking]
    predictions = proactive_predict(rows=rows, model=model)
    out = []
    for p in predictions:
        exposure = exposed.get(p.row.customer_id)
        if exposure is not None and exposure.key == p.row.features.intent:
            out.append(Candidate(prediction=p, issue=exposure))
        elif p.probability >= MIN_LIFT * base_rate:
            out.append(Candidate(prediction=p, issue=None))
    return out, base_rate


def _issue_reason(issue: EmergingIssue) -> str:
    return (
        f"Exposed to a rising issue: {issue.label} ({issue.recent_count} of "
        f"{issue.recent_total} new tickets lately, usually "
        f"{issue.baseline_count} of {issue.baseline_total}); has not written about it yet"
    )


@transaction.atomic
def proactive_queue_refresh(
    *, now: dt.datetime | None = None, window_days: int = WINDOW_DAYS
) -> ProactiveQueueRun:
    """Rebuild the queue: predictions and emerging-issue exposure in, customers who refused
    proactive contact or personalisation (and erased ones) out and counted, one entry per
    customer, entries nobody decided within their window expired. Safe to run twice."""
    now = now or timezone.now()
    window = dt.timedelta(days=window_days)
    ProactiveEntry.objects.filter(status__in=WAITING, created_at__lt=now - window).update(
        status=ProactiveStatus.EXPIRED, updated_at=now
    )
    candidates, _ = _candidates(now=now, window_days=window_days)
    refused = consent_refused_ids()
    erased = set(customer_ids_erased().values_list("pk", flat=True)) if candidates else set()
    # Waiting entries of customers who withdrew consent since: gone before anyone sees them.
    ProactiveEntry.objects.filter(status__in=WAITING, customer_id__in=refused).delete()
    recently_decided = set(
        ProactiveEntry.objects.filter(
            status__in=[ProactiveStatus.SENT, ProactiveStatus.DISMISSED],
            decided_at__gte=now - window,
        ).values_list("customer_id", flat=True)
    )
    counts: dict[str, dict[str, int]] = defaultdict(
        lambda: {"candidates": 0, "entries": 0, "left_out_consent": 0}
    )
    per_team: dict[int, list[Candidate]] = defaultdict(list)
    for c in candidates:
        row = c.prediction.row
        team = counts[str(row.team_id)]
        team["candidates"] += 1
        if row.customer_id in refused:
            team["left_out_consent"] += 1
        elif row.customer_id not in erased and row.customer_id not in recently_decided:
            per_team[row.team_id].append(c)
    library = _library_by_intent(per_team)
    customers = Customer.objects.in_bulk(
        [c.prediction.row.customer_id for cs in per_team.values() for c in cs]
    )
    model_version = ""
    for team_id, team_candidates in per_team.items():
        # Exposed customers first (a known issue), then by probability.
        team_candidates.sort(key=lambda c: (c.issue is None, -c.prediction.probability))
        for c in team_candidates[:QUEUE_PER_TEAM]:
            _entry_upsert(
                candidate=c,
                customer=customers[c.prediction.row.customer_id],
                library=library,
                window_days=window_days,
                now=now,
            )
            counts[str(team_id)]["entries"] += 1
            model_version = c.prediction.version
    return ProactiveQueueRun.objects.create(model_version=model_version, counts=dict(counts))


def _entry_upsert(
    *,
    candidate: Candidate,
    customer: Customer,
    library: dict[tuple[int, str], ReplyEntry],
    window_days: int,
    now: dt.datetime,
) -> None:
    p, issue = candidate.prediction, candidate.issue
    row = p.row
    intent = row.features.intent
    reasons = ([_issue_reason(issue)] if issue is not None else []) + p.reasons
    if issue is not None and issue.outreach_template.strip():
        template, source = issue.outreach_template, f"issue:{issue.pk}"
    elif (row.team_id, intent) in library:
        reply = library[(row.team_id, intent)]
        template, source = LIBRARY_OPENER + reply.text, f"reply:{reply.pk}"
    else:
        template, source = DEFAULT_OUTREACH, "default"
    fields = {
        "team_id": row.team_id,
        "ticket_id": row.ticket_id,
        "emerging_issue": issue,
        "probability": min(1.0, max(0.0, p.probability)),
        "model_version": p.version,
        "window_days": window_days,
        "reasons": [p.likelihood, *reasons],
        "intent": intent,
        "suggested_message": _fill_for_customer(
            template=template, customer=customer, ticket_id=row.ticket_id
        ),
        "message_source": source,
        "action_key": _policy_action(
            intent=intent,
            segment=customer.segment,
            tense=(row.features.conversation_score or 0.0) >= 0.4,
        ),
    }
    waiting = (
        ProactiveEntry.objects.select_for_update()
        .filter(customer=customer, status__in=WAITING)
        .first()
    )
    if waiting is None:
        ProactiveEntry.objects.create(customer=customer, **fields)
        return
    for name, value in fields.items():
        setattr(waiting, name, value)
    waiting.save()


# --- the agents' decisions ---------------------------------------------------------------------


def _locked(entry: ProactiveEntry, to: str) -> ProactiveEntry:
    locked = (
        ProactiveEntry.objects.select_for_update()
        .select_related("customer", "ticket", "team")
        .get(pk=entry.pk)
    )
    if to not in PROACTIVE_TRANSITIONS[locked.status]:
        raise Conflict(
            f"This entry is {locked.get_status_display().lower()} already.",
            field="decision",
            code="transition",
        )
    return locked


def _refuse_without_consent(customer: Customer) -> None:
    for purpose in (ConsentPurpose.PROACTIVE, ConsentPurpose.PERSONALISATION):
        if not consent_granted(customer=customer, purpose=purpose):
            raise DomainError(
                "This customer does not want to be contacted first: nothing was sent.",
                field="decision",
                code="consent",
            )


@transaction.atomic
def proactive_entry_send(*, entry: ProactiveEntry, agent: User, body: str) -> ProactiveEntry:
    """Send the outreach as the agent's reply on the entry's ticket (a new ticket when that one
    is closed), and record whether it went as suggested or edited."""
    # The customer first, as an erasure locks it: send and erasure serialise, and an erased
    # customer is refused below (agent_reply_send), never written to.
    customer_lock(customer_id=entry.customer_id)
    locked = _locked(entry, ProactiveStatus.SENT)
    _refuse_without_consent(locked.customer)
    body = text_clean(body).strip()
    if not body:
        raise DomainError("Write the message to send.", field="body", code="required")
    if len(body) > BODY_MAX:
        raise DomainError(f"Keep it to {BODY_MAX} characters.", field="body", code="max_length")
    suggested = proactive_message_for_agent(entry=locked, agent=agent)
    if locked.ticket.status == Status.CLOSED:
        reply_markers_refuse(body=body)
        customer_refuse_if_erased(customer=locked.customer)
        ticket = ticket_create(
            customer=locked.customer,
            team=locked.team,
            subject=f"Following up: {locked.ticket.subject}"[:200],
            body=body,
            channel=locked.ticket.channel,
            created_by=agent,
            author_kind=AuthorKind.AGENT,
        )
        message = ticket.messages.order_by("sequence").first()
    else:
        message = agent_reply_send(ticket=locked.ticket, body=body, agent=agent)
    now = timezone.now()
    locked.status = ProactiveStatus.SENT
    locked.decided_by, locked.decided_at, locked.sent_message = agent, now, message
    locked.save(update_fields=["status", "decided_by", "decided_at", "sent_message", "updated_at"])
    edited = " ".join(body.split()) != " ".join(suggested.split())
    ProactiveDecision.objects.create(
        entry=locked,
        kind=ProactiveDecisionKind.EDITED if edited else ProactiveDecisionKind.SENT,
        actor=agent,
        team=locked.team,
        body=body,
    )
    return locked


@transaction.atomic
def proactive_entry_snooze(*, entry: ProactiveEntry, agent: User, days: int) -> ProactiveEntry:
    if not 1 <= days <= SNOOZE_DAYS_MAX:
        raise DomainError(
            f"Snooze for 1 to {SNOOZE_DAYS_MAX} days.", field="days", code="out_of_range"
        )
    locked = _locked(entry, ProactiveStatus.SNOOZED)
    until = timezone.now() + dt.timedelta(days=days)
    locked.status, locked.snoozed_until = ProactiveStatus.SNOOZED, until
    locked.save(update_fields=["status", "snoozed_until", "updated_at"])
    ProactiveDecision.objects.create(
        entry=locked,
        kind=ProactiveDecisionKind.SNOOZED,
        actor=agent,
        team=locked.team,
        snoozed_until=until,
    )
    return locked


@transaction.atomic
def proactive_entry_dismiss(
    *, entry: ProactiveEntry, agent: User, reason: str = ""
) -> ProactiveEntry:
    reason = text_clean(reason).strip()
    if len(reason) > REASON_MAX:
        raise DomainError(
            f"Keep the reason to {REASON_MAX} characters.", field="reason", code="max_length"
        )
    locked = _locked(entry, ProactiveStatus.DISMISSED)
    locked.status = ProactiveStatus.DISMISSED
    locked.decided_by, locked.decided_at = agent, timezone.now()
    locked.save(update_fields=["status", "decided_by", "decided_at", "updated_at"])
    ProactiveDecision.objects.create(
        entry=locked,
        kind=ProactiveDecisionKind.DISMISSED,
        actor=agent,
        team=locked.team,
        reason=reason,
    )
    return locked


# --- outcomes ----------------------------------------------------------------------------------


def proactive_outcomes_update(*, now: dt.datetime | None = None) -> int:
    """For every entry whose window is over (from the decision, or from the entry itself when
    nobody decided), record whether the customer wrote again within it. Returns the entries
    updated; each is checked once."""
    now = now or timezone.now()
    updated = 0
    due = ProactiveEntry.objects.filter(outcome_checked_at__isnull=True).exclude(status__in=WAITING)
    for entry in due.iterator():
        start = entry.decided_at or entry.created_at
        end = start + dt.timedelta(days=entry.window_days)
        if end > now:
            continue
        wrote = Message.objects.filter(
            ticket__customer_id=entry.customer_id,
            author_kind=AuthorKind.CUSTOMER,
            created_at__gt=start,
            created_at__lte=end,
        ).exists()
        updated += ProactiveEntry.objects.filter(
            pk=entry.pk, outcome_checked_at__isnull=True
        ).update(wrote_again=wrote, outcome_checked_at=now)
    return updated
