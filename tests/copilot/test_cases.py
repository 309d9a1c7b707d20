"""Solved cases and the similar-case index: kept in step with tickets, published atomically,
rebuilt on command, damage detected."""

from io import StringIO
from pathlib import Path

import numpy as np
import pytest
from django.core.management import call_command
from django.utils import timezone

from accounts.models import Team, User
from copilot.engine import get_engine, index_health, index_store
from copilot.models import SolvedCase
from copilot.nlp.index import IndexBusy
from copilot.services.cases import (
    case_index_repair,
    case_index_sync,
    case_record,
)
from copilot.services.intake import ticket_status_change
from tests.factories import TicketFactory
from tickets.models import Status, Ticket

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("copilot_dirs")]


def indexed_ids() -> frozenset[int]:
    return index_store().load().index.ids()


def solve(ticket: Ticket, by: User, resolution: str) -> None:
    ticket_status_change(ticket=ticket, status=Status.SOLVED, by=by, resolution=resolution)


@pytest.mark.usefixtures("eager_tasks")
def test_solving_indexes_the_case_and_reopening_removes_it(
    ticket_a: Ticket, agent: User, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        solve(ticket_a, agent, "Re-sent by express post.")

    case = SolvedCase.objects.get(ticket=ticket_a)
    assert case.indexed and case.text == "My order has not arrived yet."
    assert np.frombuffer(case.embedding, dtype=np.float32).shape == (get_engine().encoder.dim,)
    assert indexed_ids() == {ticket_a.pk}

    with django_capture_on_commit_callbacks(execute=True):
        ticket_status_change(ticket=ticket_a, status=Status.OPEN, by=agent)

    assert not SolvedCase.objects.filter(ticket=ticket_a).exists()
    assert indexed_ids() == frozenset()


def test_sync_publishes_only_when_something_changed(team_a: Team) -> None:
    first = TicketFactory(
        team=team_a, status=Status.SOLVED, solved_at=timezone.now(), resolution="A"
    )
    call_command("rebuild_case_index", no_progress=True, stdout=StringIO())
    generation = index_store().current_generation()

    assert case_index_sync().manifest is None
    assert index_store().current_generation() == generation

    second = TicketFactory(
        team=team_a, status=Status.SOLVED, solved_at=timezone.now(), resolution="B"
    )

    case_record(ticket_id=second.pk)
    result = case_index_sync()
    assert (result.added, result.removed) == (1, 0)
    assert indexed_ids() == {first.pk, second.pk}
    assert index_store().current_generation() == generation + 1


def test_first_sync_without_an_index_builds_it_from_the_database(team_a: Team) -> None:
    case = TicketFactory(
        team=team_a, status=Status.SOLVED, solved_at=timezone.now(), resolution="A"
    )
    assert index_store().current_generation() is None

    case_index_sync()

    assert indexed_ids() == {case.pk}


def test_a_second_writer_steps_back_while_one_holds_the_index() -> None:
    with index_store().writer(wait=False), pytest.raises(IndexBusy):
        case_index_sync(wait=False)


def test_corrupt_index_is_detected_clearly_and_rebuilt_on_command(team_a: Team) -> None:
    TicketFactory(team=team_a, status=Status.SOLVED, solved_at=timezone.now(), resolution="A")
    call_command("rebuild_case_index", no_progress=True, stdout=StringIO())
    store = index_store()
    healthy_generation = store.current_generation()
    held = get_engine().current_index()
    path = store.index_path(store.read_manifest())
    path.write_bytes(path.read_bytes()[:-100] + b"\0" * 100)  # a disk error, a bad copy

    ok, message = index_health(verify=True)
    assert not ok
    assert "checksum" in message and "rebuild_case_index" in message
    # A worker that already holds that generation keeps serving it.
    assert get_engine().current_index() is held

    out = StringIO()
    call_command("rebuild_case_index", no_progress=True, stdout=out)
    assert f"generation {healthy_generation + 1}: 1 cases" in out.getvalue()
    assert index_health(verify=True)[0]


def test_repair_rebuilds_a_missing_or_damaged_index_and_leaves_a_sound_one(team_a: Team) -> None:
    case = TicketFactory(
        team=team_a, status=Status.SOLVED, solved_at=timezone.now(), resolution="A"
    )

    built = case_index_repair()  # nothing published yet: a first start

    assert built is not None and built.manifest is not None
    assert indexed_ids() == {case.pk}
    store = index_store()
    generation = store.current_generation()
    assert case_index_repair() is None  # sound: left alone
    assert store.current_generation() == generation

    path = store.index_path(store.read_manifest())
    path.write_bytes(path.read_bytes()[:-100] + b"\0" * 100)  # a disk error, a bad copy
    assert case_index_repair() is not None

    assert store.current_generation() == generation + 1
    assert index_health(verify=True)[0]
    assert indexed_ids() == {case.pk}


def test_missing_index_is_reported_with_the_command_that_builds_it(copilot_dirs: Path) -> None:
    ok, message = index_health(verify=False)

    assert not ok
    assert "rebuild_case_index" in message


def test_approximate_index_kind_is_selectable(team_a: Team) -> None:
    for i in range(3):
        TicketFactory(
            team=team_a, status=Status.SOLVED, solved_at=timezone.now(), resolution=f"R{i}"
        )

    call_command("rebuild_case_index", kind="hnsw", no_progress=True, stdout=StringIO())

    manifest = index_store().read_manifest()
    assert (manifest.kind, manifest.count) == ("hnsw", 3)


def test_train_intent_learns_the_organisations_own_labels(team_a: Team, copilot_dirs: Path) -> None:
    examples = {
        "lost_parcel": [
            "my parcel never arrived",
            "package is lost in the post",
            "the delivery did not come",
            "where is my parcel, it is late",
            "courier lost my package",
            "my order never showed up",
        ],
        "password_reset": [
            "I forgot my password",
            "cannot log in, reset my password please",
            "the password reset email never comes",
            "locked out of my account, need a new password",
            "how do I change my password",
            "my login does not work any more",
        ],
    }
    for label, texts in examples.items():
        for text in texts:
            TicketFactory(team=team_a, first_message=text, intent=label)
    out = StringIO()

    call_command("train_intent", holdout=0, stdout=out)

    assert "Saved intent model" in out.getvalue()
    assert (copilot_dirs / "intent" / "intent_model.json").is_file()
    model = get_engine().intent
    assert model is not None and set(model.labels) == {"lost_parcel", "password_reset"}
    assert model.predict(["I can't remember my password"])[0].best_guess == "password_reset"
