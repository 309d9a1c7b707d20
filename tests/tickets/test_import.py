import json
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from copilot.models import MessageAnalysis
from tickets.importing import records_read, records_validate
from tickets.models import Customer, Message, Ticket

pytestmark = pytest.mark.django_db


def _ticket(ext_id: str = "t-1", **overrides: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "external_id": ext_id,
        "subject": "Lost parcel",
        "channel": "social",
        "status": "solved",
        "priority": "normal",
        "team": "Orders & Delivery",
        "intent": "track_order",
        "created_at": "2017-10-31T22:10:47+00:00",
        "solved_at": "2017-10-31T23:00:00+00:00",
        "resolution": "We re-sent it.",
        "customer": {"external_id": "c-1", "name": "Ann Lee", "email": "ann@example.com"},
        "messages": [
            {
                "external_id": "m1",
                "author_kind": "customer",
                "author": "Ann Lee",
                "body": "@shop where is my parcel <b>??</b>",
                "created_at": "2017-10-31T22:10:47+00:00",
            },
            {
                "external_id": "m2",
                "author_kind": "agent",
                "author": "Shop",
                "body": "We re-sent it.",
                "created_at": "2017-10-31T22:30:00+00:00",
            },
        ],
    }
    record.update(overrides)
    return record


def _write_jsonl(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n", encoding="utf-8")
    return path


def test_import_jsonl_creates_tickets_with_transcripts(tmp_path: Path) -> None:
    path = _write_jsonl(
        tmp_path / "t.jsonl",
        [_ticket("t-1"), _ticket("t-2", status="open", solved_at=None, resolution="")],
    )
    out = StringIO()

    call_command("import_tickets", str(path), no_progress=True, stdout=out)

    assert "Imported 2 ticket(s); 0 already present." in out.getvalue()
    ticket = Ticket.objects.get(external_id="t-1")
    assert (ticket.status, ticket.team.name, ticket.transcript_version, ticket.intent) == (
        "solved",
        "Orders & Delivery",
        2,
        "track_order",
    )
    assert list(ticket.messages.values_list("sequence", "author_kind", "body")) == [
        (1, "customer", "@shop where is my parcel <b>??</b>"),
        (2, "agent", "We re-sent it."),
    ]
    assert Customer.objects.count() == 1  # both tickets are Ann's
    assert not MessageAnalysis.objects.exists()  # history is not queued for analysis


def test_import_is_idempotent(tmp_path: Path) -> None:
    path = _write_jsonl(tmp_path / "t.jsonl", [_ticket("t-1")])
    call_command("import_tickets", str(path), no_progress=True, stdout=StringIO())
    out = StringIO()

    call_command("import_tickets", str(path), no_progress=True, stdout=out)

    assert "Imported 0 ticket(s); 1 already present." in out.getvalue()
    assert (Ticket.objects.count(), Message.objects.count()) == (1, 2)


@pytest.mark.parametrize(
    ("bad", "expected"),
    [
        ({"status": "archived"}, 'row 2: status: "archived" is not a valid choice.'),
        ({"channel": "fax"}, 'row 2: channel: "fax" is not a valid choice.'),
        ({"messages": []}, "row 2: messages: This list may not be empty."),
        ({"solved_at": None}, "row 2: solved_at: Required for a solved or closed ticket."),
        ({"resolution": ""}, "row 2: resolution: Required for a solved ticket."),
        ({"created_at": "yesterday"}, "row 2: created_at: Datetime has wrong format."),
        ({"customer": {"external_id": "c"}}, "row 2: customer.name: This field is required."),
        ({"external_id": "t-1"}, "row 2: external_id: repeats row 1"),
    ],
)
def test_malformed_row_is_named_and_nothing_is_imported(
    tmp_path: Path, bad: dict[str, Any], expected: str
) -> None:
    path = _write_jsonl(tmp_path / "t.jsonl", [_ticket("t-1"), _ticket("t-2", **bad)])
    err = StringIO()

    with pytest.raises(CommandError, match="1 malformed row"):
        call_command("import_tickets", str(path), no_progress=True, stdout=StringIO(), stderr=err)

    assert expected in err.getvalue()
    assert Ticket.objects.count() == 0


def test_invalid_json_line_is_named(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text(json.dumps(_ticket()) + "\n{oops\n", encoding="utf-8")
    err = StringIO()

    with pytest.raises(CommandError):
        call_command("import_tickets", str(path), no_progress=True, stdout=StringIO(), stderr=err)

    assert "row 2: record: not valid JSON" in err.getvalue()
    assert Ticket.objects.count() == 0


def test_import_csv_one_row_per_message(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    header = (
        "ticket_external_id,subject,channel,status,team,ticket_created_at,"
        "customer_external_id,customer_name,author_kind,author,body,message_created_at"
    )
    rows = [
        'c-1,Refund,email,open,Billing,2024-01-01T10:00Z,cust-9,Bo,customer,Bo,"Refund, please",'
        "2024-01-01T10:00Z",
        "c-1,Refund,email,open,Billing,2024-01-01T10:00Z,cust-9,Bo,agent,Amy,On it,"
        "2024-01-01T11:00Z",
        "c-2,Late,chat,new,Billing,2024-01-02T10:00Z,cust-9,Bo,customer,Bo,Late again,"
        "2024-01-02T10:00Z",
    ]
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")

    call_command("import_tickets", str(path), no_progress=True, stdout=StringIO())

    assert list(
        Ticket.objects.order_by("external_id").values_list("external_id", "transcript_version")
    ) == [
        ("c-1", 2),
        ("c-2", 1),
    ]
    assert Ticket.objects.get(external_id="c-1").messages.first().body == "Refund, please"


def test_unsupported_file_type_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "t.xlsx"
    path.write_bytes(b"PK")

    with pytest.raises(CommandError, match=r"Unsupported file type '\.xlsx'"):
        call_command("import_tickets", str(path), no_progress=True)


def test_shipped_demo_file_is_valid() -> None:
    path = Path(settings.BASE_DIR) / "data" / "demo" / "tickets.jsonl"

    valid, problems = records_validate(records_read(path))

    assert problems == []
    statuses = {data["status"] for _row, data in valid}
    assert {"new", "open", "solved"} <= statuses
    assert len(valid) > 3000
