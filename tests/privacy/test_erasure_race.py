"""Erasing a customer while a worker analyses their message: the analysis never writes them back.

Real threads on PostgreSQL, each with its own connection. A thread is held at a chosen query
with Django's `connection.execute_wrapper` (the real code runs; the wrapper only waits), so the
interleaving that lost the race in the attack run happens every time, not by luck.
"""

import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from accounts.models import Team, User
from copilot.models import AnalysisStatus, MessageAnalysis
from copilot.services.analysis import CASE_WITHDRAWN, analysis_run
from copilot.services.cases import case_index_rebuild
from copilot.services.intake import customer_message_receive
from privacy.erasure import customer_erase
from privacy.verify import erasure_verify
from recovery import receivers
from recovery.catalogue import action_catalogue_ensure
from recovery.models import AuditEvent, Recommendation
from recovery.tasks import propose_recommendations
from tests.factories import CustomerFactory, TicketFactory
from tickets.models import Status, Ticket

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("copilot_dirs"),
]

TERMS = ["Zoltan", "Quibbleworth", "zoltan.q@example.org", "shop-88231", "ZQ-55310"]


@pytest.fixture(autouse=True)
def postgresql() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("a race needs a database that runs transactions at once (PostgreSQL)")


class HoldAt:
    """Holds the thread whose connection runs it just before the `nth` query matching
    `pattern`, until `release()`."""

    def __init__(self, pattern: str, nth: int = 1) -> None:
        self.pattern = re.compile(pattern)
        self.nth = nth
        self.seen = 0
        self.reached = threading.Event()
        self.go = threading.Event()

    def __call__(self, execute: Callable[..., Any], sql: str, params: Any, many: bool, ctx: Any):
        if self.pattern.search(sql):
            self.seen += 1
            if self.seen == self.nth:
                self.reached.set()
                assert self.go.wait(60), "never released"
        return execute(sql, params, many, ctx)

    def release(self) -> None:
        self.go.set()


@contextmanager
def in_thread(target: Callable[[], object], hold: HoldAt | None = None) -> Iterator[list]:
    """Run `target` in a thread with its own connection; yields the list its outcome lands in
    ("ok" or the exception), complete once the block ends."""
    outcome: list = []

    def run() -> None:
        try:
            if hold is None:
                target()
            else:
                with connection.execute_wrapper(hold):
                    target()
            outcome.append("ok")
        except Exception as exc:
            outcome.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    try:
        yield outcome
    finally:
        if hold is not None:
            hold.release()
        thread.join(timeout=120)
        assert not thread.is_alive()


def waiting_on_a_lock() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0]


@pytest.fixture
def queued(team_a: Team) -> MessageAnalysis:
    """Zoltan's new message awaits analysis; a solved case of his is in the index, so the
    draft and the recovery proposals have something of him to copy."""
    action_catalogue_ensure()
    zoltan = CustomerFactory(
        name="Zoltan Quibbleworth", email="zoltan.q@example.org", external_id="shop-88231"
    )
    TicketFactory(
        team=team_a,
        customer=zoltan,
        status=Status.SOLVED,
        solved_at=timezone.now(),
        first_message="My parcel never arrived, I want my money back",
        resolution="Dear Zoltan, we refunded order ZQ-55310 in full.",
    )
    ticket = TicketFactory(team=team_a, customer=zoltan, first_message="Hello")
    case_index_rebuild(progress=None)
    message = customer_message_receive(
        ticket=ticket,
        body="Zoltan Quibbleworth here: this is awful, order shop-88231 never arrived, "
        "I want a refund now!",
    )
    return MessageAnalysis.objects.get(ticket=ticket, transcript_version=message.sequence)


def analyse(analysis: MessageAnalysis) -> Callable[[], object]:
    return lambda: analysis_run(
        ticket_id=analysis.ticket_id, transcript_version=analysis.transcript_version
    )


def assert_nothing_of_zoltan_written(analysis: MessageAnalysis, admin_user: User) -> None:
    analysis.refresh_from_db()
    assert analysis.status != AnalysisStatus.PENDING
    assert analysis.draft_reply == ""
    assert analysis.draft_reasons == []
    ticket = Ticket.objects.get(pk=analysis.ticket_id)
    for recommendation in Recommendation.objects.filter(ticket=ticket):
        assert (recommendation.explanation, recommendation.evidence) == ("[erased]", {})
    for event in AuditEvent.objects.filter(ticket=ticket):
        assert (event.proposed, event.final, event.reason) == ({}, {}, "[erased]")
    report = erasure_verify(customer_id=ticket.customer_id, terms=TERMS)
    assert report.clean, report.found


def test_erasure_race_with_analysis_that_read_the_message_before_the_erasure(
    queued: MessageAnalysis, admin_user: User
) -> None:
    # The worker has read the message and the customer and run the models; it is about to
    # write its result (its next row lock) when the erasure commits.
    hold = HoldAt(r"FOR UPDATE", nth=2)
    with in_thread(analyse(queued), hold) as outcome:
        assert hold.reached.wait(120)
        customer_erase(customer=Ticket.objects.get(pk=queued.ticket_id).customer, by=admin_user)

    assert outcome == ["ok"]
    assert_nothing_of_zoltan_written(queued, admin_user)
    assert Recommendation.objects.filter(analysis=queued).count() == 0


def test_erasure_race_with_analysis_writing_its_result_waits_for_it_without_deadlock(
    queued: MessageAnalysis, admin_user: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The worker is in the middle of its final write (the result about to be saved) when the
    # erasure starts: the erasure waits for it, then removes what it wrote. The proposals,
    # queued when the analysis commits (run at once here), find the customer erased or are
    # emptied by the erasure, whichever gets the customer's lock first.
    monkeypatch.setattr(
        receivers.propose_recommendations, "delay", lambda **kw: propose_recommendations(**kw)
    )
    customer = Ticket.objects.get(pk=queued.ticket_id).customer
    hold = HoldAt(r'^UPDATE "copilot_messageanalysis"')
    with in_thread(analyse(queued), hold) as analysed:
        assert hold.reached.wait(120)
        with in_thread(lambda: customer_erase(customer=customer, by=admin_user)) as erased:
            deadline = time.monotonic() + 20
            while not waiting_on_a_lock() and time.monotonic() < deadline:
                time.sleep(0.05)
            assert waiting_on_a_lock() == 1  # the erasure waits for the analysis
            hold.release()

    assert (analysed, erased) == (["ok"], ["ok"])
    assert_nothing_of_zoltan_written(queued, admin_user)


def test_erasure_race_with_proposals_being_written_waits_for_them_without_deadlock(
    queued: MessageAnalysis, admin_user: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The analysis is stored (its proposal task not run yet); the task is inserting the
    # proposals when the erasure starts: the erasure waits for it, then empties them.
    monkeypatch.setattr(receivers.propose_recommendations, "delay", lambda **kwargs: None)
    analyse(queued)()
    customer = Ticket.objects.get(pk=queued.ticket_id).customer
    hold = HoldAt(r'^INSERT INTO "recovery_recommendation"')
    propose = lambda: propose_recommendations(analysis_id=queued.pk)  # noqa: E731
    with in_thread(propose, hold) as proposed:
        assert hold.reached.wait(120)
        with in_thread(lambda: customer_erase(customer=customer, by=admin_user)) as erased:
            deadline = time.monotonic() + 20
            while not waiting_on_a_lock() and time.monotonic() < deadline:
                time.sleep(0.05)
            assert waiting_on_a_lock() == 1  # the erasure waits for the proposals
            hold.release()

    assert (proposed, erased) == (["ok"], ["ok"])
    assert Recommendation.objects.filter(analysis=queued).count() > 0
    assert_nothing_of_zoltan_written(queued, admin_user)


@pytest.fixture
def citing(team_a: Team) -> tuple[MessageAnalysis, Ticket]:
    """Anna's message awaits analysis; the closest solved case is Zoltan's, whose resolution
    names him: the draft for Anna would copy it."""
    action_catalogue_ensure()
    zoltan = CustomerFactory(
        name="Zoltan Quibbleworth", email="zoltan.q@example.org", external_id="shop-88231"
    )
    solved = TicketFactory(
        team=team_a,
        customer=zoltan,
        status=Status.SOLVED,
        solved_at=timezone.now(),
        first_message="My parcel never arrived, where is it?",
        resolution="Sorry for the wait. We re-sent the parcel by courier and Zoltan "
        "Quibbleworth confirmed the address from zoltan.q@example.org.",
    )
    case_index_rebuild(progress=None)
    anna = CustomerFactory(name="Anna Berg", email="anna@example.net")
    ticket = TicketFactory(team=team_a, customer=anna, first_message="Hello")
    message = customer_message_receive(
        ticket=ticket,
        body="My parcel has not arrived yet, where is it?",
    )
    return MessageAnalysis.objects.get(ticket=ticket, transcript_version=message.sequence), solved


def test_erasure_race_with_another_customers_analysis_that_read_their_case_before_it(
    citing: tuple[MessageAnalysis, Ticket], admin_user: User
) -> None:
    anna, solved = citing
    hold = HoldAt(r"FOR UPDATE", nth=2)  # read and drafted, about to write
    with in_thread(analyse(anna), hold) as outcome:
        assert hold.reached.wait(120)
        customer_erase(customer=solved.customer, by=admin_user)

    assert outcome == ["ok"]
    anna.refresh_from_db()
    assert anna.status == AnalysisStatus.DONE
    assert (anna.draft_reply, anna.draft_reasons) == ("", [CASE_WITHDRAWN])
    assert solved.pk not in [c["ticket_id"] for c in anna.similar_cases]
    report = erasure_verify(customer_id=solved.customer_id, terms=TERMS)
    assert report.clean, report.found


def test_erasure_race_with_another_customers_analysis_writing_a_draft_from_their_case(
    citing: tuple[MessageAnalysis, Ticket], admin_user: User
) -> None:
    anna, solved = citing
    hold = HoldAt(r'^UPDATE "copilot_messageanalysis"', nth=2)  # its result, in the write
    with in_thread(analyse(anna), hold) as analysed:
        assert hold.reached.wait(120)
        with in_thread(lambda: customer_erase(customer=solved.customer, by=admin_user)) as erased:
            deadline = time.monotonic() + 20
            while not waiting_on_a_lock() and time.monotonic() < deadline:
                time.sleep(0.05)
            assert waiting_on_a_lock() == 1  # the erasure waits for the draft to be written
            hold.release()

    assert (analysed, erased) == (["ok"], ["ok"])
    anna.refresh_from_db()
    assert anna.draft_reply.startswith("Hi Anna,")
    # The draft was written (the erasure waited for it), built from the de-identified case.
    assert "confirmed the address from [email]." in anna.draft_reply
    report = erasure_verify(customer_id=solved.customer_id, terms=TERMS)
    assert report.clean, report.found
