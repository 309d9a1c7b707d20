"""The import writes tickets in bulk, a chunk at a time: what it stores is what writing them one
by one (ticket_import) stores, skips included, and a refused row in a later chunk is still
named and rolls back the chunks before it."""

from typing import Any

import pytest

from tests.tickets.test_import import _ticket
from tickets import importing
from tickets.importing import (
    ImportRowRefused,
    records_validate,
    ticket_import,
    tickets_import,
)
from tickets.models import Customer, Message, Ticket, TicketEvent

pytestmark = pytest.mark.django_db


def _records() -> list[dict[str, Any]]:
    """Seven tickets: two customers shared across chunks, open and solved, unsorted messages."""
    records = []
    for i in range(7):
        record = _ticket(
            f"t-{i}",
            customer={"external_id": f"c-{i % 2}", "name": f"Customer {i % 2}", "segment": "vip"},
            team="Billing & Payments" if i % 3 else "Orders & Delivery",
        )
        if i % 2:
            record.update(status="open", solved_at=None, resolution="")
            record["messages"] = list(reversed(record["messages"]))
        records.append(record)
    return records


def _stored() -> dict[str, Any]:
    """Everything an import writes, by external ids (not keys, which differ between runs)."""
    return {
        "customers": sorted(
            Customer.objects.values_list("external_id", "name", "segment", "email")
        ),
        "tickets": sorted(
            Ticket.objects.values_list(
                "external_id",
                "customer__external_id",
                "subject",
                "status",
                "team__name",
                "resolution",
                "created_at",
                "solved_at",
                "last_message_at",
                "transcript_version",
            )
        ),
        "messages": sorted(
            Message.objects.values_list(
                "ticket__external_id",
                "sequence",
                "author_kind",
                "author_name",
                "body",
                "external_id",
                "created_at",
            )
        ),
        "events": sorted(TicketEvent.objects.values_list("ticket__external_id", "kind", "data")),
    }


def _wipe() -> None:
    TicketEvent.objects.all().delete()
    Message.objects.all().delete()
    Ticket.objects.all().delete()
    Customer.objects.all().delete()


def test_bulk_import_stores_what_one_by_one_stores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importing, "IMPORT_CHUNK", 3)  # three chunks, customers across them
    valid, problems = records_validate(iter(enumerate(_records(), start=1)))
    assert problems == []
    # One ticket already here: skipped by both.
    ticket_import(data=valid[4][1], source="earlier")

    result = tickets_import(records=valid, source="demo")
    bulk = _stored()
    _wipe()
    ticket_import(data=valid[4][1], source="earlier")
    for _, data in valid:
        ticket_import(data=data, source="demo")
    one_by_one = _stored()

    assert (result.created, result.skipped) == (6, 1)
    assert bulk == one_by_one
    assert len(bulk["tickets"]) == 7 and len(bulk["customers"]) == 2
    assert [m[1] for m in bulk["messages"] if m[0] == "t-1"] == [1, 2]


def test_bulk_import_run_twice_adds_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importing, "IMPORT_CHUNK", 4)
    valid, _ = records_validate(iter(enumerate(_records(), start=1)))
    tickets_import(records=valid, source="demo")
    before = _stored()

    again = tickets_import(records=valid, source="demo")

    assert (again.created, again.skipped) == (0, 7)
    assert _stored() == before


def test_refused_row_in_a_later_chunk_is_named_and_nothing_is_kept(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(importing, "IMPORT_CHUNK", 3)
    records = _records()
    records[5]["customer"] = {"external_id": "c-9", "name": "Bo"}
    valid, problems = records_validate(iter(enumerate(records, start=1)))
    assert problems == []
    valid[5][1]["customer"]["lifetime_spend"] = -1  # past validation, as a racing writer might

    with pytest.raises(ImportRowRefused) as refused:
        tickets_import(records=valid, source="test")

    assert refused.value.problem.row == 6
    assert _stored() == {"customers": [], "tickets": [], "messages": [], "events": []}
