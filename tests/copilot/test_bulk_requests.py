"""A backlog's analyses requested in bulk (`analyses_queue_missing(bulk=True)`, the demo's seed)
leave the rows that requesting them one by one leaves: older pending analyses superseded, a
failed one started over, a new one for each ticket without, nothing for a solved ticket; and one
task, not one per message."""

from typing import Any

import pytest
from django.utils import timezone

from accounts.models import Team
from copilot.models import AnalysisStatus, MessageAnalysis
from copilot.services.analysis import analyses_queue_missing
from tests.factories import MessageAnalysisFactory, TicketFactory
from tickets.models import AuthorKind, Message, Status, Ticket

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("copilot_dirs")]


def _write(ticket: Ticket, kind: str, body: str) -> Message:
    sequence = ticket.transcript_version + 1
    message = Message.objects.create(
        ticket=ticket, sequence=sequence, author_kind=kind, body=body, created_at=timezone.now()
    )
    Ticket.objects.filter(pk=ticket.pk).update(transcript_version=sequence)
    ticket.transcript_version = sequence
    return message


def _backlog(team: Team) -> dict[str, Ticket]:
    # An older request still pending, then an agent reply and a new request: superseded.
    moved_on: Ticket = TicketFactory(team=team, subject="moved on")
    MessageAnalysisFactory(ticket=moved_on, status=AnalysisStatus.PENDING)
    _write(moved_on, AuthorKind.AGENT, "Please DM us.")
    _write(moved_on, AuthorKind.CUSTOMER, "Done, sent you the order number.")
    # Its latest request failed: started over (retry_failed).
    failed: Ticket = TicketFactory(team=team, subject="failed")
    MessageAnalysisFactory(
        ticket=failed,
        status=AnalysisStatus.FAILED,
        error="model",
        requeues=2,
        finished_at=timezone.now(),
    )
    # Never analysed, the agent wrote last: the customer's request is the work.
    fresh: Ticket = TicketFactory(team=team, subject="fresh", status=Status.PENDING)
    _write(fresh, AuthorKind.AGENT, "We are looking into it.")
    # Already analysed, and solved: left alone.
    done: Ticket = TicketFactory(team=team, subject="done")
    MessageAnalysisFactory(ticket=done, status=AnalysisStatus.DONE)
    solved: Ticket = TicketFactory(
        team=team,
        subject="solved",
        status=Status.SOLVED,
        solved_at=timezone.now(),
        resolution="Re-sent.",
    )
    return {t.subject: t for t in (moved_on, failed, fresh, done, solved)}


def _rows() -> dict[str, list[tuple[Any, ...]]]:
    rows: dict[str, list[tuple[Any, ...]]] = {}
    for a in MessageAnalysis.objects.select_related("ticket", "message").order_by(
        "ticket__subject", "transcript_version"
    ):
        rows.setdefault(a.ticket.subject, []).append(
            (
                a.transcript_version,
                a.message.sequence,
                a.status,
                a.error,
                a.requeues,
                a.finished_at is None,
            )
        )
    return rows


@pytest.mark.parametrize("bulk", [False, True], ids=["one by one", "bulk"])
def test_bulk_requests_leave_the_rows_one_by_one_leaves(
    bulk: bool, team_a: Team, django_capture_on_commit_callbacks
) -> None:
    _backlog(team_a)

    with django_capture_on_commit_callbacks() as sent:
        queued = analyses_queue_missing(retry_failed=True, bulk=bulk)

    assert queued == 3
    assert _rows() == {
        "done": [(1, 1, "done", "", 0, True)],
        "failed": [(1, 1, "pending", "", 0, True)],
        "fresh": [(1, 1, "pending", "", 0, True)],
        "moved on": [(1, 1, "superseded", "", 0, False), (3, 3, "pending", "", 0, True)],
    }
    # One task for the whole backlog in bulk; one per message otherwise.
    assert len(sent) == (1 if bulk else 3)


def test_bulk_requests_twice_request_nothing_more(team_a: Team) -> None:
    _backlog(team_a)
    analyses_queue_missing(bulk=True)
    before = _rows()

    assert analyses_queue_missing(bulk=True) == 0
    assert _rows() == before
