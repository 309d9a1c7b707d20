import json
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from copilot.models import MessageAnalysis
from tickets.importing import ImportRowRefused, records_read, records_validate, tickets_import
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


def test_import_keeps_each_tickets_company(tmp_path: Path) -> None:
    path = _write_jsonl(
        tmp_path / "t.jsonl", [_ticket("t-1", company="British_Airways"), _ticket("t-2")]
    )

    call_command("import_tickets", str(path), no_progress=True, stdout=StringIO())

    assert dict(Ticket.objects.values_list("external_id", "company")) == {
        "t-1": "British_Airways",
        "t-2": "",  # none given: a single-brand desk
    }


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
        (
            {"company": "x" * 101},
            "row 2: company: Ensure this field has no more than 100 characters.",
        ),
        ({"company": ["Delta"]}, "row 2: company: Not a valid string."),
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


def _nothing_imported() -> tuple[int, int, int]:
    return (Ticket.objects.count(), Message.objects.count(), Customer.objects.count())


def test_import_is_atomic_email_longer_than_the_column_names_the_row(tmp_path: Path) -> None:
    """A 257-character e-mail passes Django's EmailValidator (it stops at 320) but not the
    254-character column: it is refused with the other problems, before anything is written."""
    email = "a" * (257 - len("@example.com")) + "@example.com"
    records = [
        _ticket("t-1"),
        _ticket("t-2", customer={"external_id": "c-2", "name": "Bo"}),
        _ticket("t-3", customer={"external_id": "c-3", "name": "Cy", "email": email}),
    ]
    path = _write_jsonl(tmp_path / "t.jsonl", records)
    err = StringIO()

    with pytest.raises(CommandError, match="1 malformed row"):
        call_command("import_tickets", str(path), no_progress=True, stdout=StringIO(), stderr=err)

    assert (
        "row 3: customer.email: Ensure this field has no more than 254 characters."
        in err.getvalue()
    )
    assert _nothing_imported() == (0, 0, 0)


def test_import_is_atomic_a_row_the_database_refuses_rolls_back_the_rows_before_it() -> None:
    """Validation is the first guard, the database the last: a row that passes the one and not
    the other (here a negative spend, refused by a check constraint) is named, and the rows
    written before it are rolled back with it."""
    valid, problems = records_validate(
        iter(
            [
                (1, _ticket("t-1")),
                (2, _ticket("t-2", customer={"external_id": "c-2", "name": "Bo"})),
            ]
        )
    )
    assert problems == []
    valid[1][1]["customer"]["lifetime_spend"] = -1  # past validation, as a racing writer might

    with pytest.raises(ImportRowRefused) as refused:
        tickets_import(records=valid, source="test")

    assert refused.value.problem.row == 2
    assert str(refused.value).startswith("row 2: record: refused by the database (")
    assert _nothing_imported() == (0, 0, 0)


def test_import_is_atomic_json_list_of_non_objects_names_each_row(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_text(json.dumps([_ticket("t-1"), 5, "ticket", None, [1]]), encoding="utf-8")
    err = StringIO()

    with pytest.raises(CommandError, match="4 malformed row"):
        call_command("import_tickets", str(path), no_progress=True, stdout=StringIO(), stderr=err)

    assert err.getvalue().splitlines() == [
        f"{path}: row 2: record: not an object (a JSON int)",
        f"{path}: row 3: record: not an object (a JSON str)",
        f"{path}: row 4: record: not an object (a JSON null)",
        f"{path}: row 5: record: not an object (a JSON list)",
    ]
    assert _nothing_imported() == (0, 0, 0)


def test_import_is_atomic_jsonl_line_that_is_not_an_object_is_named(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text(json.dumps(_ticket()) + '\n"just text"\n', encoding="utf-8")
    err = StringIO()

    with pytest.raises(CommandError, match="1 malformed row"):
        call_command("import_tickets", str(path), no_progress=True, stdout=StringIO(), stderr=err)

    assert "row 2: record: not an object (a JSON str)" in err.getvalue()
    assert _nothing_imported() == (0, 0, 0)


def test_import_is_atomic_deeply_nested_json_line_is_named(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text(json.dumps(_ticket()) + "\n" + "[" * 100_000 + "\n", encoding="utf-8")
    err = StringIO()

    with pytest.raises(CommandError, match="1 malformed row"):
        call_command("import_tickets", str(path), no_progress=True, stdout=StringIO(), stderr=err)

    assert "row 2: record: not valid JSON (nested deeper than 32 levels)" in err.getvalue()
    assert _nothing_imported() == (0, 0, 0)


def test_import_is_atomic_csv_field_over_the_csv_limit_names_the_row(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    header = (
        "ticket_external_id,subject,channel,status,team,ticket_created_at,"
        "customer_external_id,customer_name,author_kind,author,body,message_created_at"
    )
    start = "c-1,Refund,email,open,Billing,2024-01-01T10:00Z,cust-9,Bo"
    rows = [
        f"{start},customer,Bo,Refund please,2024-01-01T10:00Z",
        f'{start},customer,Bo,"{"x" * 131_073}",2024-01-01T10:05Z',
        f"{start},agent,Amy,On it,2024-01-01T11:00Z",
    ]
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    err = StringIO()

    with pytest.raises(CommandError, match="1 malformed row"):
        call_command("import_tickets", str(path), no_progress=True, stdout=StringIO(), stderr=err)

    assert err.getvalue().splitlines() == [
        f"{path}: row 3: record: not valid CSV (field larger than field limit (131072))"
    ]
    assert _nothing_imported() == (0, 0, 0)


def test_import_keeps_teams_whose_names_have_no_slug_apart(tmp_path: Path) -> None:
    path = _write_jsonl(
        tmp_path / "t.jsonl",
        [_ticket("t-1", team="???"), _ticket("t-2", team="!!!"), _ticket("t-3", team="???")],
    )

    call_command("import_tickets", str(path), no_progress=True, stdout=StringIO())

    teams = dict(Ticket.objects.values_list("external_id", "team__name"))
    assert teams == {"t-1": "???", "t-2": "!!!", "t-3": "???"}


def test_import_csv_reads_the_company_column(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    header = (
        "ticket_external_id,subject,channel,status,team,company,ticket_created_at,"
        "customer_external_id,customer_name,author_kind,author,body,message_created_at"
    )
    rows = [
        "c-1,Lost bag,social,new,Orders,British_Airways,2024-01-01T10:00Z,cust-9,Bo,customer,Bo,"
        "Where is my bag?,2024-01-01T10:00Z",
        "c-2,Late,social,new,Orders,,2024-01-02T10:00Z,cust-9,Bo,customer,Bo,Late again,"
        "2024-01-02T10:00Z",
    ]
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")

    call_command("import_tickets", str(path), no_progress=True, stdout=StringIO())

    assert dict(Ticket.objects.values_list("external_id", "company")) == {
        "c-1": "British_Airways",
        "c-2": "",
    }
