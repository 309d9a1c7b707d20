"""Replay: the suggestion pipeline run over past solved tickets, to see how often the reply the
agent actually sent was among the suggestions, and whether any suggestion names someone else.

Each ticket's first (request, reply) is replayed against its team's library as it is now, with
the entries built from that ticket alone held out (its own reply must not find itself). A hit:
the sent reply, de-identified as the library stores it, has the key of a suggested entry, or
its embedding is within REPLAY_SAME_COSINE of the entry's.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from django.utils.html import format_html, format_html_join

from copilot.engine import get_engine, get_selector
from copilot.models import MessageAnalysis
from copilot.nlp.deid import KnownPeople, deidentify, identifier_leaks
from copilot.nlp.reply_eval import conversation_pairs
from copilot.replies_selectors import (
    Suggestion,
    reply_entries_for_team,
    reply_suggestions_rank,
)
from copilot.selectors import people_known_all, suggestion_texts_signed
from copilot.services.replies import reply_key
from tickets.models import DONE_STATUSES, Ticket

# Two replies this close in the base encoder are the same answer worded apart (the library's
# near-duplicate collapse works at a similar level).
REPLAY_SAME_COSINE = 0.95


@dataclass
class ReplayGroup:
    requests: int = 0
    suggested: int = 0  # got at least one suggestion
    hits: int = 0  # the sent reply among them


@dataclass
class ReplayReport:
    groups: dict[tuple[str, str], ReplayGroup] = field(default_factory=dict)  # (team, intent)
    leaks: int = 0  # identifiers of someone else in the filled suggestions
    leak_examples: list[str] = field(default_factory=list)
    selector_version: str = ""
    seconds: float = 0.0

    @property
    def total(self) -> ReplayGroup:
        out = ReplayGroup()
        for g in self.groups.values():
            out.requests += g.requests
            out.suggested += g.suggested
            out.hits += g.hits
        return out


def replay_run(*, limit: int | None = None) -> ReplayReport:
    """Replay up to `limit` solved or closed tickets (oldest first)."""
    started = time.perf_counter()
    tickets = list(
        Ticket.objects.filter(status__in=DONE_STATUSES)
        .select_related("team", "customer", "assignee")
        .prefetch_related("messages")
        .order_by("pk")[:limit]
    )
    known = people_known_all()
    cases: list[tuple[Ticket, str, str, int]] = []  # ticket, request, sent reply, request seq
    for ticket in tickets:
        messages = list(ticket.messages.all())
        pairs = conversation_pairs([(m.author_kind, m.body) for m in messages])
        if pairs:
            request, reply = pairs[0]
            first_agent = next(m.sequence for m in messages if m.author_kind == "agent")
            cases.append((ticket, request, reply, first_agent - 1))
    report = ReplayReport()
    selector = get_selector()
    encoder = get_engine().encoder
    # Each ticket against its own team's and company's entries, as the analysis ranks them.
    by_scope: dict[tuple[int, str], list[int]] = defaultdict(list)
    for i, (ticket, _, _, _) in enumerate(cases):
        by_scope[(ticket.team_id, ticket.company)].append(i)
    for (team_id, company), rows in by_scope.items():
        texts = [cases[i][1] for i in rows]
        requests = selector.request_inputs(texts, encoder) if selector else encoder.encode(texts)
        sent = [" ".join(deidentify(cases[i][2], known=known).text.split()) for i in rows]
        sent_vecs = encoder.encode(sent)
        ranked, version = reply_suggestions_rank(
            team_id=team_id,
            company=company,
            request_vecs=requests,
            selector=selector,
            exclude_ticket_ids=[cases[i][0].pk for i in rows],
        )
        report.selector_version = version
        entries, vectors = reply_entries_for_team(team_id=team_id, company=company)
        row_of = {e.pk: (j, e.key) for j, e in enumerate(entries)}
        for k, i in enumerate(rows):
            ticket, _, _, seq = cases[i]
            group = report.groups.setdefault(
                (ticket.team.name, ticket.intent or "(none)"), ReplayGroup()
            )
            group.requests += 1
            suggestions = ranked[k]
            if not suggestions:
                continue
            group.suggested += 1
            key = reply_key(sent[k])
            for s in suggestions:
                j, entry_key = row_of[s.entry_id]
                if entry_key == key or float(vectors[j] @ sent_vecs[k]) >= REPLAY_SAME_COSINE:
                    group.hits += 1
                    break
            report_leaks(report, ticket=ticket, up_to=seq, suggestions=suggestions, known=known)
    report.seconds = time.perf_counter() - started
    return report


def report_leaks(
    report: ReplayReport,
    *,
    ticket: Ticket,
    up_to: int,
    suggestions: list[Suggestion],
    known: KnownPeople,
) -> None:
    """Fill the suggestions as the assignee's Use would and count what names someone else."""
    analysis = MessageAnalysis(
        ticket=ticket,
        transcript_version=up_to,
        suggestions=[s.as_json() for s in suggestions],
    )
    sign = ""
    allowed_names = [ticket.customer.name]
    if ticket.assignee is not None:
        sign = ticket.assignee.first_name.strip() or ticket.assignee.get_username()
        allowed_names += [ticket.assignee.get_full_name(), sign]
    transcript = [m.body for m in ticket.messages.all() if m.sequence <= up_to]
    allowed_text = "\n".join([*transcript, ticket.customer.email])
    for text in suggestion_texts_signed(analysis=analysis, sign=sign):
        found = identifier_leaks(
            text, allowed_text=allowed_text, allowed_names=allowed_names, known=known
        )
        report.leaks += len(found)
        report.leak_examples += [f"ticket {ticket.pk}: {w}" for w in found][:3]


def replay_report_html(*, report: ReplayReport, path: Path) -> None:
    """Write the report as one static HTML page."""

    def pct(part: int, whole: int) -> str:
        return f"{100 * part / whole:.1f}%" if whole else "-"

    rows = sorted(report.groups.items())
    total = report.total
    body = format_html_join(
        "\n",
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        (
            (team, intent, g.requests, pct(g.suggested, g.requests), pct(g.hits, g.suggested))
            for (team, intent), g in rows
        ),
    )
    page = format_html(
        "<!doctype html><html><head><meta charset='utf-8'><title>Replay</title></head><body>"
        "<h1>Suggestions replayed over past solved tickets</h1>"
        "<p>Ranker: {}. {} requests, {} got suggestions, the sent reply among them in {} "
        "of those. Identifiers of someone else in the filled suggestions: <b>{}</b>.</p>"
        "<table border='1'><tr><th>Team</th><th>Intent</th><th>Requests</th>"
        "<th>Suggested</th><th>Sent reply among them</th></tr>{}</table>"
        "<p>{} s.</p></body></html>",
        report.selector_version,
        total.requests,
        pct(total.suggested, total.requests),
        pct(total.hits, total.suggested),
        report.leaks,
        body,
        f"{report.seconds:.0f}",
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
