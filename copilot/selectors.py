"""Reads of the copilot app, scoped to what the user may see."""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from typing import Any

from django.db import models
from django.db.models import Count, OuterRef, Q, Subquery

from accounts.models import User
from copilot.intent_sets import DEFAULT_LABEL_SET, label_set_tickets
from copilot.models import AnalysisStatus, DraftDecisionEvent, MessageAnalysis, SolvedCase
from copilot.nlp.conversation import CustomerTurn
from copilot.nlp.deid import KnownPeople, deidentify, draft_sign, identifier_leaks, slots_fill
from copilot.nlp.draft import Draft, SimilarCase, draft_reply, slot_values
from copilot.nlp.reply_eval import conversation_pairs
from tickets.consent import ConsentPurpose, customer_ids_opted_out
from tickets.models import AuthorKind, Customer, Message, Ticket
from tickets.selectors import ACTIVE_STATUSES, ticket_qs_for_user

# What the encoder reads of a conversation. MiniLM stops at 256 word pieces (about 1,000
# characters of English) anyway; the cap only bounds work on a pasted log file.
TEXT_MAX_CHARS = 4000


@dataclass(frozen=True)
class SimilarCaseView:
    ticket_id: int
    similarity: float
    subject: str
    resolution: str
    visible: bool  # False: the case belongs to a team the viewer is not in


@dataclass(frozen=True)
class AnalysisPanel:
    """What the ticket page shows: the newest finished analysis, and whether a newer one runs."""

    analysis: MessageAnalysis | None
    pending: bool
    similar: list[SimilarCaseView]
    decision: Any  # DraftDecisionEvent | None
    # What the panel says when it has no analysis to show, or about the one it shows: whether
    # the customer has written at all, and whether an agent replied after the analysed request.
    has_customer_message: bool = False
    answered_since: bool = False


def analysis_get_for_ticket(
    *, ticket: Ticket, version: int | None = None
) -> MessageAnalysis | None:
    qs = MessageAnalysis.objects.filter(ticket=ticket).order_by("-transcript_version")
    if version is not None:
        return qs.filter(transcript_version=version).first()
    return qs.exclude(status=AnalysisStatus.SUPERSEDED).first()


def analysis_get_by_id(*, ticket: Ticket, analysis_id: int) -> MessageAnalysis | None:
    """An analysis of this (already permission-checked) ticket, or None."""
    return MessageAnalysis.objects.filter(ticket=ticket, pk=analysis_id).first()


def analysis_panel_for_ticket(*, ticket: Ticket, user: User) -> AnalysisPanel:
    latest = analysis_get_for_ticket(ticket=ticket)
    pending = latest is not None and latest.status == AnalysisStatus.PENDING
    shown = latest
    if pending:
        shown = (
            MessageAnalysis.objects.filter(ticket=ticket)
            .exclude(status__in=[AnalysisStatus.PENDING, AnalysisStatus.SUPERSEDED])
            .order_by("-transcript_version")
            .first()
        )
    if shown is not None:
        # Its ticket is this one: the panel signs the draft with it, without reading it again.
        shown.ticket = ticket
    similar = similar_cases_for_user(cases=shown.similar_cases, user=user) if shown else []
    decision = shown.draft_decisions.select_related("agent").first() if shown else None
    kinds = Message.objects.filter(ticket=ticket).exclude(author_kind=AuthorKind.SYSTEM)
    last_customer = (
        kinds.filter(author_kind=AuthorKind.CUSTOMER)
        .order_by("-sequence")
        .values_list("sequence", flat=True)
        .first()
    )
    answered_since = (
        shown is not None
        and last_customer is not None
        and shown.transcript_version >= last_customer
        and kinds.filter(
            author_kind=AuthorKind.AGENT, sequence__gt=shown.transcript_version
        ).exists()
    )
    return AnalysisPanel(
        analysis=shown,
        pending=pending,
        similar=similar,
        decision=decision,
        has_customer_message=last_customer is not None,
        answered_since=answered_since,
    )


def analysis_stamp_expressions(*, ticket_id: OuterRef) -> dict[str, Subquery]:
    """Subqueries, on the ticket `ticket_id` refers to, that change whenever its copilot panel
    would: the newest analysis, its status, and how many draft decisions were recorded. For a
    page that asks in one cheap query whether to render the panel again."""
    newest = MessageAnalysis.objects.filter(ticket_id=ticket_id).order_by("-transcript_version")
    decisions = (
        DraftDecisionEvent.objects.filter(analysis__ticket_id=ticket_id)
        .order_by()
        .values("analysis__ticket_id")
        .annotate(count=Count("pk"))
        .values("count")
    )
    return {
        "analysis": Subquery(newest.values("pk")[:1]),
        "status": Subquery(newest.values("status")[:1]),
        "decisions": Subquery(decisions[:1]),
    }


def similar_cases_for_user(*, cases: list[dict[str, Any]], user: User) -> list[SimilarCaseView]:
    """Resolve stored (ticket_id, similarity) pairs to what this user may see of them."""
    ids = [c["ticket_id"] for c in cases]
    visible = {
        t.pk: t
        for t in ticket_qs_for_user(user=user)
        .filter(pk__in=ids)
        .only("id", "subject", "resolution")
    }
    # A past case is another customer's: shown de-identified, as the draft built from it is.
    known = people_known_for_cases(case_ids=list(visible))
    result = []
    for case in cases:
        ticket = visible.get(case["ticket_id"])
        result.append(
            SimilarCaseView(
                ticket_id=case["ticket_id"],
                similarity=case["similarity"],
                subject=_deidentified(ticket.subject, known) if ticket else "",
                resolution=_deidentified(ticket.resolution, known) if ticket else "",
                visible=ticket is not None,
            )
        )
    return result


def _deidentified(text: str, known: KnownPeople) -> str:
    """`text` with every identifier shown as its slot's label (`[customer first name]`)."""
    return slots_fill(deidentify(text, known=known).text, values={})[0]


def customer_text_for_version(*, ticket_id: int, transcript_version: int) -> tuple[str, Message]:
    """The customer's latest request up to this transcript version, whoever wrote last.

    A customer often writes in bursts ("hi" / "my order 123 never came" / "??"); the copilot
    reads the burst as one request: the customer's messages since the agent reply before them.
    Agent replies after the burst are skipped: a request the agent has answered but not solved
    is still the ticket's work. Returns the text and the newest customer message.
    """
    messages = list(
        Message.objects.filter(ticket_id=ticket_id, sequence__lte=transcript_version)
        .exclude(author_kind=AuthorKind.SYSTEM)
        .order_by("-sequence")
        .only("id", "sequence", "author_kind", "body")[:50]
    )
    burst: list[Message] = []
    for message in messages:
        if message.author_kind == AuthorKind.AGENT:
            if burst:
                break
            continue
        burst.append(message)
    if not burst:
        raise Message.DoesNotExist(
            f"ticket {ticket_id} has no customer message at version {transcript_version}"
        )
    text = "\n".join(m.body for m in reversed(burst))
    return text[-TEXT_MAX_CHARS:], burst[0]


# How many of the customer's messages the conversation signal reads, newest last.
CONVERSATION_MAX_MESSAGES = 50
# Other tickets of the same customer about the same issue within this window count as repeated
# contacts.
REPEAT_CONTACT_DAYS = 30
# Intent labels that name no issue.
NO_ISSUE_INTENTS = ("", "unsure")


def customer_turns_for_version(
    *,
    ticket_id: int,
    transcript_version: int,
    current_score: float | None,
    current_label: str | None = None,
) -> list[CustomerTurn]:
    """The customer's messages up to this version, oldest first, each with the sentiment label
    and score its analysis stored (None for messages read in a burst or imported without one);
    the newest gets ``current_label`` and ``current_score``, the reading of the analysis being
    made."""
    messages = list(
        Message.objects.filter(
            ticket_id=ticket_id,
            sequence__lte=transcript_version,
            author_kind=AuthorKind.CUSTOMER,
        )
        .order_by("-sequence")
        .values_list("pk", "body")[:CONVERSATION_MAX_MESSAGES]
    )
    messages.reverse()
    readings = {
        message_id: (score, label or None)
        for message_id, score, label in MessageAnalysis.objects.filter(
            ticket_id=ticket_id,
            status=AnalysisStatus.DONE,
            message_id__in=[pk for pk, _ in messages],
        ).values_list("message_id", "sentiment_score", "sentiment")
    }
    turns = [
        CustomerTurn(
            text=body,
            sentiment_score=readings.get(pk, (None, None))[0],
            sentiment_label=readings.get(pk, (None, None))[1],
        )
        for pk, body in messages
    ]
    if turns:
        turns[-1] = CustomerTurn(
            text=turns[-1].text, sentiment_score=current_score, sentiment_label=current_label
        )
    return turns


def customer_repeat_contacts(*, ticket: Ticket, intent: str) -> int:
    """How many other tickets the same customer opened about the same issue (same intent, as an
    agent labelled it or the copilot read it) since a few weeks before this one opened."""
    if intent in NO_ISSUE_INTENTS:
        return 0
    since = ticket.created_at - dt.timedelta(days=REPEAT_CONTACT_DAYS)
    return (
        Ticket.objects.filter(customer_id=ticket.customer_id, created_at__gte=since)
        .exclude(pk=ticket.pk)
        .filter(Q(intent=intent) | Q(insight__intent=intent))
        .distinct()
        .count()
    )


def case_text(*, ticket: Ticket) -> str:
    """A solved ticket as the similar-case index sees it: the customer's problem statement.

    That is the customer's messages before the first agent reply (what a new request will be
    compared with), or the subject when the ticket has none.
    """
    parts: list[str] = []
    # Sorted here rather than in SQL so a prefetched transcript (bulk rebuilds) is reused.
    for message in sorted(ticket.messages.all(), key=lambda m: m.sequence):
        if message.author_kind == AuthorKind.AGENT:
            break
        if message.author_kind == AuthorKind.CUSTOMER:
            parts.append(message.body)
    text = "\n".join(parts).strip() or ticket.subject
    return text[:TEXT_MAX_CHARS]


def solved_case_teams() -> list[tuple[int, int, str]]:
    """(case id, team id, company) of every stored solved case; the index filters searches by
    team and company."""
    return list(SolvedCase.objects.values_list("ticket_id", "ticket__team_id", "ticket__company"))


def similar_case_resolutions(
    *, ids: list[int], team_id: int | None, company: str | None = None
) -> dict[int, Ticket]:
    """The solved tickets behind index hits, re-checked against the database: a hit whose
    ticket was reopened, erased or moved to another team (or, with `company`, is another
    company's) since the index was published is dropped."""
    # Consent is checked here, when the work runs: a customer who opted out since the index
    # was published (or since this task was queued) is never an example.
    qs = Ticket.objects.filter(pk__in=ids, solved_case__isnull=False).exclude(
        customer_id__in=customer_ids_opted_out(purpose=ConsentPurpose.SIMILAR_CASES)
    )
    if team_id is not None:
        qs = qs.filter(team_id=team_id)
    if company is not None:
        qs = qs.filter(company=company)
    return {t.pk: t for t in qs.only("id", "subject", "resolution", "team_id", "company")}


def intent_training_examples(
    *, min_examples: int, label_set: str = DEFAULT_LABEL_SET
) -> tuple[list[str], list[str], list[tuple[str, int]]]:
    """(texts, labels, (label, count) left out for having fewer than `min_examples`) from
    tickets of this label set (copilot.intent_sets) that an agent or an import labelled.

    The text is the customer's opening request, the same text the similar-case index holds.
    """
    tickets = list(
        Ticket.objects.filter(label_set_tickets(name=label_set))
        .exclude(intent="")
        .exclude(customer_id__in=customer_ids_opted_out(purpose=ConsentPurpose.TRAINING))
        .order_by("pk")
        .prefetch_related("messages")
    )
    counts: dict[str, int] = {}
    for ticket in tickets:
        counts[ticket.intent] = counts.get(ticket.intent, 0) + 1
    dropped = sorted((label, n) for label, n in counts.items() if n < min_examples)
    kept = [t for t in tickets if counts[t.intent] >= min_examples]
    return [case_text(ticket=t) for t in kept], [t.intent for t in kept], dropped


def case_intents(*, ids: set[int]) -> dict[int, str]:
    """The intent labels of solved cases (as agents or an import gave them), for re-ranking."""
    if not ids:
        return {}
    return dict(Ticket.objects.filter(pk__in=ids).exclude(intent="").values_list("pk", "intent"))


@dataclass(frozen=True)
class ReplyTrainingPair:
    ticket_id: int
    team_id: int
    request: str  # the customer's turns since the previous agent reply
    reply: str  # the agent reply that followed, de-identified as the reply library stores it


def reply_training_pairs() -> list[ReplyTrainingPair]:
    """Every (customer request, agent reply that followed) of every ticket, for the response
    selector; customers who said no to training are left out. Replies are de-identified with
    the names and handles of the people on those tickets, as the reply library does."""
    tickets = list(
        Ticket.objects.exclude(
            customer_id__in=customer_ids_opted_out(purpose=ConsentPurpose.TRAINING)
        )
        .order_by("pk")
        .prefetch_related("messages")
    )
    known = people_known_for_cases(case_ids=[t.pk for t in tickets])
    out = []
    for ticket in tickets:
        turns = [(m.author_kind, m.body) for m in ticket.messages.all()]
        for request, reply in conversation_pairs(turns):
            text = " ".join(deidentify(reply, known=known).text.split())
            if text:
                out.append(ReplyTrainingPair(ticket.pk, ticket.team_id, request, text))
    return out


def _handle_of(external_id: str) -> str:
    # Imported customers keep their channel's id after a source prefix ("twcs-115818"): that is
    # the handle their past replies address ("@115818").
    return external_id.rsplit("-", 1)[-1]


def people_known_for_cases(*, case_ids: list[int]) -> KnownPeople:
    """Who may be named in these past cases' replies: each case's customer, whoever wrote on the
    case, and every staff account. The de-identifier replaces these names wherever they are."""
    customers = Customer.objects.filter(tickets__pk__in=case_ids).values_list("name", "external_id")
    authors = (
        Message.objects.filter(ticket_id__in=case_ids)
        .exclude(author_name="")
        .values_list("author_name", flat=True)
        .distinct()
    )
    staff = User.objects.values_list("first_name", "last_name", "username")
    customer_rows = list(customers)
    staff_rows = list(staff)
    return KnownPeople.from_records(
        full_names=[
            *(name for name, _ in customer_rows),
            *authors,
            *(f"{first} {last}" for first, last, _ in staff_rows),
        ],
        handles=[
            *(_handle_of(external_id) for _, external_id in customer_rows),
            *(username for _, _, username in staff_rows),
        ],
    )


def people_known_all() -> KnownPeople:
    """Every customer's and staff account's name and handle (the leak check reads all of them)."""
    customers = list(Customer.objects.values_list("name", "external_id"))
    staff = list(User.objects.values_list("first_name", "last_name", "username"))
    return KnownPeople.from_records(
        full_names=[
            *(name for name, _ in customers),
            *(f"{first} {last}" for first, last, _ in staff),
        ],
        handles=[
            *(_handle_of(external_id) for _, external_id in customers),
            *(username for _, _, username in staff),
        ],
    )


def customer_messages_text(*, ticket_id: int, up_to_sequence: int) -> str:
    """Everything this ticket's customer wrote up to a version: the only source of the order
    numbers and amounts a draft may name."""
    bodies = Message.objects.filter(
        ticket_id=ticket_id, author_kind=AuthorKind.CUSTOMER, sequence__lte=up_to_sequence
    ).order_by("sequence")
    return "\n".join(bodies.values_list("body", flat=True))


def staff_first_name(*, user_id: int | None) -> str:
    """The first name a draft is signed with; empty when unknown."""
    if user_id is None:
        return ""
    return User.objects.filter(pk=user_id).values_list("first_name", flat=True).first() or ""


def agent_sign_name(*, agent: User) -> str:
    """The name an agent signs replies with: the first name, or the username."""
    return agent.first_name.strip() or agent.get_username()


def draft_text_for_agent(*, analysis: MessageAnalysis, agent: User) -> str:
    """The drafted reply as `agent` would send it: signed with the agent's own name. Slots that
    nothing on the ticket fills stay visible as `[order number]`."""
    return draft_sign(
        analysis.draft_reply,
        agent_name=agent_sign_name(agent=agent),
        filled_name=staff_first_name(user_id=analysis.ticket.assignee_id),
    )


def suggestion_texts_for_agent(*, analysis: MessageAnalysis, agent: User) -> list[str]:
    """The analysis's suggestions as `agent` would send them: slots filled from this ticket
    (its customer's first name, the reference and amount in their messages up to the analysed
    one, or else in its subject) and this agent only, signed with the agent's name; a slot
    nothing fills stays visible as `[order number]` (the reply box refuses to send it). One
    query, for all of them."""
    return suggestion_texts_signed(analysis=analysis, sign=agent_sign_name(agent=agent))


def suggestion_texts_signed(*, analysis: MessageAnalysis, sign: str) -> list[str]:
    """The suggestions filled from the analysis's ticket, signed `sign` (empty: unsigned, the
    agent's slot left marked)."""
    if not analysis.suggestions:
        return []
    ticket = analysis.ticket
    # This ticket only: its customer's messages first (their own words win), then its subject.
    values = slot_values(
        customer_first_name=(ticket.customer.name.split() or [""])[0],
        customer_text=customer_messages_text(
            ticket_id=ticket.pk, up_to_sequence=analysis.transcript_version
        )
        + "\n"
        + ticket.subject,
        agent_name=sign,
    )
    return [
        draft_sign(slots_fill(str(s["text"]), values=values)[0], agent_name=sign)
        for s in analysis.suggestions
    ]


def draft_for_ticket(
    *,
    ticket: Ticket,
    message: Message,
    sentiment: str,
    similar: list[tuple[int, float]],
    cases: dict[int, Ticket],
) -> Draft:
    """The suggested reply for a ticket's message, from the best of its similar past cases.

    The past reply is de-identified (the names of its case's people are looked up for that);
    its slots are filled from this ticket's customer and messages and its assignee only.
    """
    return draft_reply(
        message=message.body,
        customer_first_name=(ticket.customer.name.split() or [""])[0],
        sentiment=sentiment,
        similar_cases=[
            SimilarCase(case_id=case_id, similarity=score, resolution=cases[case_id].resolution)
            for case_id, score in similar
            if case_id in cases
        ],
        customer_text=customer_messages_text(ticket_id=ticket.pk, up_to_sequence=message.sequence),
        agent_name=staff_first_name(user_id=ticket.assignee_id),
        known=people_known_for_cases(case_ids=[case_id for case_id, _ in similar]),
    )


@dataclass(frozen=True)
class DraftLeak:
    ticket_id: int
    stored: tuple[str, ...]  # identifiers of other people in the draft as stored
    rebuilt: tuple[str, ...]  # ... in the draft built now from the same similar cases
    # ... in the stored suggestions, their slots filled from this ticket and its assignee
    suggested: tuple[str, ...] = ()


def draft_leaks_for_open_tickets() -> list[DraftLeak]:
    """For the newest finished analysis of every open ticket, the identifiers in its draft that
    come neither from this ticket (its messages, its customer) nor from its assignee: once for
    the draft as stored, once for the draft the current code builds from the same cases; and
    in its suggestions from the reply library, filled as the assignee's "Use" fills them."""
    known = people_known_all()
    analyses = (
        MessageAnalysis.objects.filter(
            status=AnalysisStatus.DONE,
            ticket__status__in=ACTIVE_STATUSES,
            ticket__insight__analysis_id=models.F("pk"),
        )
        .exclude(Q(draft_reply="") & Q(suggestions=[]))
        .select_related("ticket__customer", "ticket__assignee", "message")
        .order_by("ticket_id")
    )
    report: list[DraftLeak] = []
    for analysis in analyses:
        ticket = analysis.ticket
        similar = [(int(c["ticket_id"]), float(c["similarity"])) for c in analysis.similar_cases]
        cases = similar_case_resolutions(
            ids=[i for i, _ in similar], team_id=ticket.team_id, company=ticket.company
        )
        rebuilt_text = (
            draft_for_ticket(
                ticket=ticket,
                message=analysis.message,
                sentiment=analysis.sentiment,
                similar=similar,
                cases=cases,
            ).text
            if analysis.draft_reply
            else ""
        )
        sign = agent_sign_name(agent=ticket.assignee) if ticket.assignee is not None else ""
        transcript = Message.objects.filter(
            ticket_id=ticket.pk, sequence__lte=analysis.transcript_version
        ).values_list("body", flat=True)
        allowed_text = "\n".join([*transcript, ticket.subject, ticket.customer.email])
        allowed_names = [ticket.customer.name]
        if ticket.assignee is not None:
            allowed_names.append(f"{ticket.assignee.first_name} {ticket.assignee.last_name}")
            allowed_names.append(sign)

        leaks = functools.partial(
            identifier_leaks, allowed_text=allowed_text, allowed_names=allowed_names, known=known
        )

        suggested = [
            leak
            for text in suggestion_texts_signed(analysis=analysis, sign=sign)
            for leak in leaks(text)
        ]
        report.append(
            DraftLeak(
                ticket_id=ticket.pk,
                stored=leaks(analysis.draft_reply),
                rebuilt=leaks(rebuilt_text),
                suggested=tuple(suggested),
            )
        )
    return report


@dataclass(frozen=True)
class IntentCoverage:
    """How the inbox reads one team's active tickets of one label set: how many carry an
    intent, how many "unsure", how many none (no model for the set, or not analysed yet)."""

    team: str
    label_set: str
    tickets: int
    labelled: int
    unsure: int
    no_intent: int


def intent_coverage() -> list[IntentCoverage]:
    """Per team and label set, the intents of the active tickets as the inbox shows them (each
    ticket's newest analysis), for checking that no team is "unsure" on every ticket."""
    from copilot.intent_sets import label_set_for
    from copilot.nlp.intent import UNSURE

    counts: dict[tuple[str, str], list[int]] = {}
    rows = (
        Ticket.objects.filter(status__in=ACTIVE_STATUSES)
        .values_list("team__name", "team__intent_label_set", "channel", "insight__intent")
        .order_by()
    )
    for team, team_set, channel, intent in rows:
        key = (team, label_set_for(channel=channel, team_label_set=team_set))
        row = counts.setdefault(key, [0, 0, 0, 0])
        row[0] += 1
        if intent == UNSURE:
            row[2] += 1
        elif intent:
            row[1] += 1
        else:
            row[3] += 1
    return [
        IntentCoverage(team, label_set, n, labelled, unsure, none)
        for (team, label_set), (n, labelled, unsure, none) in sorted(counts.items())
    ]
