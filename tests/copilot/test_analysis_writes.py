"""How an analysis is written: the inbox insight follows the newest analysis in one statement,
the analysis's own commits do not wait for the disk on PostgreSQL (unless set to), and the
library suggestions can be switched off."""

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from pytest_django.fixtures import Settings

from accounts.models import Team, User
from copilot.models import AnalysisStatus, MessageAnalysis, TicketInsight
from copilot.services.analysis import _commit_without_flush, _insight_update, analysis_run
from copilot.services.intake import customer_message_receive
from copilot.services.replies import reply_entry_create
from tickets.models import Ticket

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("copilot_dirs")]


def customer_says(ticket: Ticket, body: str) -> MessageAnalysis:
    with transaction.atomic():
        message = customer_message_receive(ticket=ticket, body=body)
    return MessageAnalysis.objects.get(ticket=ticket, transcript_version=message.sequence)


def run(analysis: MessageAnalysis) -> MessageAnalysis:
    done = analysis_run(
        ticket_id=analysis.ticket_id, transcript_version=analysis.transcript_version
    )
    assert done is not None and done.status == AnalysisStatus.DONE
    return done


def test_the_insight_follows_the_newest_analysis_and_an_older_one_never_replaces_it(
    ticket_a: Ticket,
) -> None:
    first = run(customer_says(ticket_a, "My parcel has not arrived."))
    assert TicketInsight.objects.get(ticket=ticket_a).analysis == first

    newer = run(customer_says(ticket_a, "This is terrible, I want my money back!"))
    insight = TicketInsight.objects.get(ticket=ticket_a)
    assert (insight.analysis, insight.transcript_version) == (newer, newer.transcript_version)
    assert insight.sentiment == newer.sentiment == "negative"

    # An older analysis written late (a slow worker) leaves the newer reading in place.
    with transaction.atomic():
        _insight_update(first)
    insight = TicketInsight.objects.get(ticket=ticket_a)
    assert (insight.analysis, insight.transcript_version) == (newer, newer.transcript_version)
    assert TicketInsight.objects.filter(ticket=ticket_a).count() == 1


def test_moving_an_existing_insight_is_one_statement(ticket_a: Ticket) -> None:
    run(customer_says(ticket_a, "My parcel has not arrived."))
    newer = run(customer_says(ticket_a, "Still nothing, where is it?"))
    newer.transcript_version += 1  # as a later analysis of the same ticket
    newer.sentiment = "neutral"

    with CaptureQueriesContext(connection) as queries, transaction.atomic():
        _insight_update(newer)

    statements = [q["sql"] for q in queries.captured_queries if "copilot_ticketinsight" in q["sql"]]
    assert len(statements) == 1 and statements[0].startswith("UPDATE")
    insight = TicketInsight.objects.get(ticket=ticket_a)
    assert insight.transcript_version == newer.transcript_version


@pytest.mark.skipif(connection.vendor != "postgresql", reason="a PostgreSQL setting")
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("wait", "inside"), [(False, "off"), (True, "on")])
def test_an_analysis_commit_waits_for_the_disk_only_when_set_to(
    settings: Settings, wait: bool, inside: str
) -> None:
    settings.COPILOT_ANALYSIS_SYNCHRONOUS_COMMIT = wait

    def synchronous_commit() -> str:
        with connection.cursor() as cursor:
            cursor.execute("SHOW synchronous_commit")
            return str(cursor.fetchone()[0])

    with transaction.atomic():
        _commit_without_flush()
        assert synchronous_commit() == inside
    # This transaction only: the connection's other work commits as configured.
    assert synchronous_commit() == "on"


@pytest.mark.skipif(connection.vendor != "postgresql", reason="a PostgreSQL setting")
def test_inside_a_callers_transaction_the_commit_still_waits_for_the_disk() -> None:
    # The test runs inside a transaction of its own: the analysis's block is nested in it, and
    # relaxing the commit would relax the caller's writes as well.
    with transaction.atomic():
        _commit_without_flush()
        with connection.cursor() as cursor:
            cursor.execute("SHOW synchronous_commit")
            assert cursor.fetchone()[0] == "on"


def test_suggestions_switched_off_leave_the_rest_of_the_analysis(
    team_a: Team, ticket_a: Ticket, admin_user: User, settings: Settings
) -> None:
    reply_entry_create(
        team=team_a,
        text="Hi {customer_first_name}, we have re-sent your parcel by express post.",
        by=admin_user,
    )
    on = run(customer_says(ticket_a, "My parcel never arrived, please resend it."))
    assert on.suggestions and on.selector_version == "cosine"

    settings.COPILOT_REPLY_SUGGESTIONS = False
    off = run(customer_says(ticket_a, "My parcel never arrived, please resend it now."))

    assert (off.suggestions, off.selector_version) == ([], "")
    assert off.sentiment and off.intent_candidates and off.draft_reply is not None
