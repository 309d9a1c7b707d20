"""A backlog analysed in batches, and solved cases whose vectors ship with the data."""

from pathlib import Path

import numpy as np
import pytest
from django.db import transaction
from django.utils import timezone

from accounts.models import Team
from copilot.engine import get_engine
from copilot.models import AnalysisStatus, MessageAnalysis, SolvedCase
from copilot.services.analysis import analyses_queue_missing, analyses_run_pending, analysis_run
from copilot.services.cases import (
    case_index_rebuild,
    case_vectors_load,
    case_vectors_save,
    cases_to_embed,
)
from copilot.services.intake import customer_message_receive
from copilot.tasks import analyse_message, analyse_pending
from tests.factories import TicketFactory
from tickets.models import Status, Ticket

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("copilot_dirs")]


def solved(team: Team, *, external_id: str, request: str, resolution: str) -> Ticket:
    return TicketFactory(
        team=team,
        external_id=external_id,
        status=Status.SOLVED,
        solved_at=timezone.now(),
        first_message=request,
        resolution=resolution,
    )


@pytest.fixture
def cases(team_a: Team) -> list[Ticket]:
    return [
        solved(
            team_a,
            external_id="case-parcel",
            request="My parcel never arrived, the tracking has not moved for a week.",
            resolution="We sent a replacement by express delivery.",
        ),
        solved(
            team_a,
            external_id="case-password",
            request="I forgot my password and cannot log in to my account.",
            resolution="Use the 'Forgot password' link on the sign-in page.",
        ),
    ]


def _shipped_file(tmp_path: Path) -> Path:
    """Embed the cases once, write them out, then forget them: a fresh clone with the file."""
    case_index_rebuild(progress=None)
    path = tmp_path / "case_vectors.npz"
    assert case_vectors_save(path=path) == 2
    SolvedCase.objects.all().delete()
    return path


def test_shipped_demo_vectors_used_when_model_version_and_text_match(
    cases: list[Ticket], tmp_path: Path
) -> None:
    path = _shipped_file(tmp_path)
    with np.load(path) as shipped:
        assert shipped["vectors"].dtype == np.float16
        assert list(shipped["external_ids"]) == ["case-parcel", "case-password"]
        first = shipped["vectors"][0].astype(np.float32)

    assert case_vectors_load(path=path) == 2

    assert cases_to_embed() == []  # nothing left for the encoder
    stored = SolvedCase.objects.get(ticket=cases[0])
    vector = np.frombuffer(stored.embedding, dtype=np.float32)
    assert stored.model_version == get_engine().encoder.version
    assert abs(float(np.linalg.norm(vector)) - 1.0) < 1e-6
    assert float(vector @ (first / np.linalg.norm(first))) > 0.9999


def test_shipped_demo_vectors_refused_when_model_version_differs(
    cases: list[Ticket], tmp_path: Path
) -> None:
    path = _shipped_file(tmp_path)
    with np.load(path) as shipped:
        arrays = {name: shipped[name] for name in shipped.files}
    arrays["encoder_version"] = np.array("all-MiniLM-L6-v2-0123456789ab")
    with path.open("wb") as fh:
        np.savez_compressed(fh, **arrays)

    assert case_vectors_load(path=path) == 0

    assert SolvedCase.objects.count() == 0
    assert cases_to_embed() == sorted(t.pk for t in cases)  # the encoder computes them


def test_shipped_vector_of_a_changed_case_text_is_recomputed(
    cases: list[Ticket], tmp_path: Path
) -> None:
    path = _shipped_file(tmp_path)
    message = cases[1].messages.get()
    message.body = "My account is locked after too many attempts."
    message.save()

    assert case_vectors_load(path=path) == 1

    assert list(SolvedCase.objects.values_list("ticket_id", flat=True)) == [cases[0].pk]
    assert cases_to_embed() == [cases[1].pk]


def _pending(team: Team, body: str) -> MessageAnalysis:
    ticket = TicketFactory(team=team, first_message="🙂" if body == "🙂🙂" else "Hello")
    with transaction.atomic():
        message = customer_message_receive(ticket=ticket, body=body)
    return MessageAnalysis.objects.get(ticket=ticket, transcript_version=message.sequence)


def test_bulk_analysis_stores_what_single_runs_store(cases: list[Ticket], team_a: Team) -> None:
    case_index_rebuild(progress=None)
    texts = [
        "My parcel never arrived and tracking is stuck, this is unacceptable!",
        "I cannot log in, I forgot my password.",
        "🙂🙂",
    ]
    singles = [_pending(team_a, text) for text in texts]
    for analysis in singles:
        analysis_run(ticket_id=analysis.ticket_id, transcript_version=analysis.transcript_version)
    bulk = [_pending(team_a, text) for text in texts]

    assert analyses_run_pending(batch_size=2) == 2  # the emoji-only one is not analysable

    for one, many in zip(singles, bulk, strict=True):
        one.refresh_from_db()
        many.refresh_from_db()
        assert many.status == one.status
        assert many.attempts == 1
        assert many.sentiment == one.sentiment
        assert many.intent == one.intent
        assert (many.conversation_level, many.conversation_reasons) == (
            one.conversation_level,
            one.conversation_reasons,
        )
        assert [c["ticket_id"] for c in many.similar_cases] == [
            c["ticket_id"] for c in one.similar_cases
        ]
        assert many.draft_reply.replace(many.ticket.customer.name.split()[0], "") == (
            one.draft_reply.replace(one.ticket.customer.name.split()[0], "")
        )
    assert bulk[0].status == AnalysisStatus.DONE and bulk[0].similar_cases
    assert bulk[0].conversation_level != ""  # the customer's state is read in bulk too
    assert bulk[0].ticket.insight.analysis_id == bulk[0].pk
    assert bulk[0].ticket.insight.conversation_level == bulk[0].conversation_level


def test_bulk_analysis_run_twice_analyses_once(cases: list[Ticket], team_a: Team) -> None:
    case_index_rebuild(progress=None)
    analysis = _pending(team_a, "Where is my parcel?")

    assert analyses_run_pending() == 1
    finished = MessageAnalysis.objects.get(pk=analysis.pk)
    assert analyses_run_pending() == 0

    again = MessageAnalysis.objects.get(pk=analysis.pk)
    assert (again.status, again.attempts, again.finished_at) == (
        AnalysisStatus.DONE,
        1,
        finished.finished_at,
    )
    # A per-message task for it that arrives afterwards changes nothing either.
    analyse_message(ticket_id=analysis.ticket_id, transcript_version=analysis.transcript_version)
    assert MessageAnalysis.objects.get(pk=analysis.pk).attempts == 1


def test_bulk_queue_sends_one_task_for_the_backlog_not_one_per_message(
    team_a: Team, django_capture_on_commit_callbacks, monkeypatch: pytest.MonkeyPatch
) -> None:
    for _ in range(3):
        TicketFactory(team=team_a, first_message="Where is my order?")
    sent: list[str] = []
    # The edge only: what would go to the broker.
    monkeypatch.setattr(analyse_pending, "delay", lambda **kw: sent.append("bulk"))
    monkeypatch.setattr(analyse_message, "delay", lambda **kw: sent.append("one"))

    with django_capture_on_commit_callbacks(execute=True):
        queued = analyses_queue_missing(bulk=True)

    assert queued == 3
    assert sent == ["bulk"]
    assert MessageAnalysis.objects.filter(status=AnalysisStatus.PENDING).count() == 3
