"""The analysis pipeline with the real models: sentiment, intent, similar cases, the draft."""

from pathlib import Path

import pytest
from django.db import transaction
from django.utils import timezone
from pytest_django.fixtures import Settings

from accounts.models import Team
from copilot.models import AnalysisStatus, MessageAnalysis, TicketInsight
from copilot.services.analysis import analyses_queue_missing, analysis_request, analysis_run
from copilot.services.cases import case_index_rebuild
from copilot.services.intake import customer_message_receive
from copilot.tasks import analyse_message
from tests.factories import TicketFactory
from tickets.models import AuthorKind, Status, Ticket
from tickets.services import message_append

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("copilot_dirs")]

PARCEL_RESOLUTION = (
    "We have sent a replacement by express delivery; it arrives within two working days."
)
PASSWORD_RESOLUTION = "Use the 'Forgot password' link on the sign-in page to set a new one."


def solved(team: Team, *, request: str, resolution: str) -> Ticket:
    return TicketFactory(
        team=team,
        status=Status.SOLVED,
        solved_at=timezone.now(),
        first_message=request,
        resolution=resolution,
    )


def customer_says(ticket: Ticket, body: str) -> MessageAnalysis:
    """Append a customer message as the API would; returns its pending analysis."""
    with transaction.atomic():
        message = customer_message_receive(ticket=ticket, body=body)
    return MessageAnalysis.objects.get(ticket=ticket, transcript_version=message.sequence)


def run(analysis: MessageAnalysis) -> MessageAnalysis:
    result = analysis_run(
        ticket_id=analysis.ticket_id, transcript_version=analysis.transcript_version
    )
    assert result is not None
    return result


@pytest.fixture
def history(team_a: Team, team_b: Team) -> dict[str, Ticket]:
    """Solved cases of two teams, indexed. Team B's parcel case is the closest match of all."""
    cases = {
        "parcel": solved(
            team_a,
            request="My parcel never arrived, the tracking has not moved for a week.",
            resolution=PARCEL_RESOLUTION,
        ),
        "password": solved(
            team_a,
            request="I forgot my password and cannot log in to my account.",
            resolution=PASSWORD_RESOLUTION,
        ),
        "other_team": solved(
            team_b,
            request="My parcel never arrived and the tracking has not moved in a week!",
            resolution="Team B's private answer about parcels.",
        ),
    }
    case_index_rebuild(progress=None)
    return cases


def test_angry_customer_gets_signals_similar_cases_and_an_adapted_draft(
    ticket_a: Ticket, history: dict[str, Ticket]
) -> None:
    ticket_a.customer.name = "Ann Lee"
    ticket_a.customer.save()
    analysis = run(
        customer_says(
            ticket_a,
            "This is ridiculous!! My parcel still hasn't arrived and nobody answers. "
            "Order 88412, tracking stuck for days. Terrible service.",
        )
    )

    assert analysis.status == AnalysisStatus.DONE
    assert analysis.sentiment == "negative"
    assert analysis.sentiment_score < -0.3
    assert 0.0 < analysis.sentiment_confidence <= 1.0
    # The shipped intent model knows the demo's labels; this message is about an order.
    assert analysis.intent_candidates and analysis.intent_confidence is not None
    similar_ids = [c["ticket_id"] for c in analysis.similar_cases]
    assert similar_ids[0] == history["parcel"].pk
    assert history["other_team"].pk not in similar_ids  # another team's case is never evidence
    assert ticket_a.pk not in similar_ids
    assert analysis.draft_reply.startswith("Hi Ann,")
    assert "sorry" in analysis.draft_reply.lower()  # negative sentiment → apology
    assert "express delivery" in analysis.draft_reply  # from the parcel case's resolution
    assert "88412" in analysis.draft_reply  # the customer's own reference echoed back
    reasons = " ".join(analysis.draft_reasons)
    assert f"case #{history['parcel'].pk}" in reasons and "apology" in reasons
    assert set(analysis.model_versions) == {
        "encoder",
        "sentiment",
        "intent",
        "intent_label_set",
        "index_generation",
    }
    assert analysis.duration_ms is not None and analysis.finished_at is not None
    insight = TicketInsight.objects.get(ticket=ticket_a)
    assert (insight.analysis, insight.sentiment) == (analysis, "negative")


def test_burst_of_customer_messages_is_read_together(
    ticket_a: Ticket, history: dict[str, Ticket]
) -> None:
    # ticket_a opens with "My order has not arrived yet."; then two more lines, no agent reply.
    customer_says(ticket_a, "hello?")
    analysis = run(customer_says(ticket_a, "I can't sign in, I forgot my password"))

    assert analysis.status == AnalysisStatus.DONE
    # The first line of the burst (a missing order) still counts with the newest one.
    assert {c["ticket_id"] for c in analysis.similar_cases} >= {
        history["parcel"].pk,
        history["password"].pk,
    }


def test_running_the_task_twice_leaves_one_result(
    ticket_a: Ticket, history: dict[str, Ticket]
) -> None:
    pending = customer_says(ticket_a, "My parcel has not arrived.")

    analyse_message.apply(
        kwargs={"ticket_id": ticket_a.pk, "transcript_version": pending.transcript_version}
    )
    first = MessageAnalysis.objects.get(pk=pending.pk)
    analyse_message.apply(
        kwargs={"ticket_id": ticket_a.pk, "transcript_version": pending.transcript_version}
    )
    again = MessageAnalysis.objects.get(pk=pending.pk)

    assert MessageAnalysis.objects.filter(ticket=ticket_a).count() == 1
    assert first.status == AnalysisStatus.DONE
    assert (again.finished_at, again.draft_reply, again.attempts) == (
        first.finished_at,
        first.draft_reply,
        1,
    )


def test_newer_message_supersedes_a_pending_analysis(
    ticket_a: Ticket, history: dict[str, Ticket]
) -> None:
    older = customer_says(ticket_a, "Where is my parcel?")
    newer = customer_says(ticket_a, "Also I forgot my password.")

    assert run(older).status == AnalysisStatus.SUPERSEDED
    assert run(newer).status == AnalysisStatus.DONE
    assert MessageAnalysis.objects.get(pk=older.pk).draft_reply == ""


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ("😡😡😡 !!!", AnalysisStatus.NOT_ANALYSABLE),
        ("🙏", AnalysisStatus.NOT_ANALYSABLE),
        ("Mein Paket ist nicht angekommen, Bestellung 55120.", AnalysisStatus.DONE),
        ("我的包裹还没到", AnalysisStatus.DONE),
        ("where is my parcel " * 2700, AnalysisStatus.DONE),  # 51,300 chars before the cut
    ],
)
def test_odd_messages_are_analysed_or_clearly_marked(
    ticket_a: Ticket, history: dict[str, Ticket], body: str, status: str
) -> None:
    # After an agent reply, so the odd message is all the copilot has to read.
    message_append(ticket=ticket_a, body="Let me check.", author_kind=AuthorKind.AGENT)
    analysis = run(customer_says(ticket_a, body[:50_000]))

    assert analysis.status == status
    if status == AnalysisStatus.NOT_ANALYSABLE:
        assert "no words" in analysis.error
        assert analysis.draft_reply == ""
    else:
        assert analysis.sentiment in {"negative", "neutral", "positive"}
        assert analysis.draft_reply


def test_a_model_that_cannot_load_fails_the_analysis_not_the_message(
    ticket_a: Ticket, settings: Settings, tmp_path: Path
) -> None:
    settings.COPILOT_SENTIMENT_MODEL = str(tmp_path / "no-such-model")
    analysis = run(customer_says(ticket_a, "Where is my parcel?"))

    assert analysis.status == AnalysisStatus.FAILED
    assert "no-such-model" in analysis.error
    assert ticket_a.messages.last().body == "Where is my parcel?"

    # Once the model is back, an admin re-queues it and it is redone.
    settings.COPILOT_SENTIMENT_MODEL = ""
    assert analyses_queue_missing(retry_failed=True) == 1
    assert run(MessageAnalysis.objects.get(pk=analysis.pk)).status == AnalysisStatus.DONE


def test_without_an_index_the_analysis_still_runs_and_says_why(ticket_a: Ticket) -> None:
    analysis = run(customer_says(ticket_a, "My parcel is late"))

    assert analysis.status == AnalysisStatus.DONE
    assert analysis.similar_cases == []
    assert any("index unavailable" in r for r in analysis.draft_reasons)
    assert "index_generation" not in analysis.model_versions


def test_queue_missing_finds_imported_open_tickets_once(ticket_a: Ticket, ticket_b: Ticket) -> None:
    # Factory tickets arrive like imports: a customer message and no analysis.
    with transaction.atomic():
        assert analyses_queue_missing() == 2
    assert analyses_queue_missing() == 0
    assert MessageAnalysis.objects.filter(status=AnalysisStatus.PENDING).count() == 2


def test_request_resets_a_failed_analysis_only(ticket_a: Ticket) -> None:
    message = ticket_a.messages.get()
    with transaction.atomic():
        analysis = analysis_request(message=message)
    MessageAnalysis.objects.filter(pk=analysis.pk).update(status=AnalysisStatus.DONE)
    with transaction.atomic():
        assert analysis_request(message=message).status == AnalysisStatus.DONE


def test_similar_cases_of_the_messages_likely_intent_move_up(ticket_a: Ticket) -> None:
    # The shipped intent model knows "recover_password" (demo labels from the Bitext set).
    closer_words = solved(
        ticket_a.team,
        request="I forgot my password, how do I reset it? Also where is my parcel?",
        resolution="Your parcel is on its way.",
    )
    closer_words.intent = "track_order"
    closer_words.save()
    same_need = solved(
        ticket_a.team,
        request="The password reset e-mail never arrives.",
        resolution="Use the 'Forgot password' link; check your spam folder for the e-mail.",
    )
    same_need.intent = "recover_password"
    same_need.save()
    case_index_rebuild(progress=None)
    message_append(ticket=ticket_a, body="Let me check.", author_kind=AuthorKind.AGENT)

    analysis = run(customer_says(ticket_a, "I forgot my password, how do I reset it?"))

    assert analysis.intent == "recover_password"
    assert [c["ticket_id"] for c in analysis.similar_cases] == [same_need.pk, closer_words.pk]
    by_id = {c["ticket_id"]: c["similarity"] for c in analysis.similar_cases}
    assert by_id[closer_words.pk] > by_id[same_need.pk]  # cosine alone would put it first


def test_a_branch_file_as_sentiment_model_runs_on_the_shared_encoder_pass(
    settings: Settings,
) -> None:
    from copilot.engine import Engine
    from copilot.nlp.sentiment import DEFAULT_BRANCH_PATH

    settings.COPILOT_SENTIMENT_MODEL = str(DEFAULT_BRANCH_PATH)
    engine = Engine()
    texts = ["I'm really disappointed and want the compensation you promised"]

    vectors, sentiments, _ = engine.signals(texts)

    assert sentiments[0].model_version.startswith("branch-")
    assert sentiments[0].label == "negative"
    assert vectors == pytest.approx(engine.encoder.encode(texts), abs=1e-5)
