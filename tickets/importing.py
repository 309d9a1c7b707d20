"""Import of tickets with their transcripts from JSON Lines, JSON or CSV files.

Formats (see README, "Importing tickets"):
- JSON Lines / JSON list: one ticket per record, with nested "customer" and "messages".
- CSV: one row per message; the ticket and customer columns repeat on every row of a ticket.

Import is idempotent: a ticket whose external_id is already present is skipped, so re-running a
file adds nothing twice. The whole file is validated before anything is written, and every
problem is reported with its row (line) number. Text is held to the columns' own lengths, and the
whole file is written in one transaction: a row the database still refuses names its row, and
nothing of the file is kept.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import DatabaseError, transaction
from rest_framework import serializers

from accounts.models import Team
from accounts.services import team_get_or_create
from core.parsers import json_loads_bounded
from tickets.events import ticket_event_imported, ticket_events_imported
from tickets.models import (
    COMPANY_MAX,
    CUSTOMER_EMAIL_MAX,
    DONE_STATUSES,
    AuthorKind,
    Channel,
    Customer,
    Message,
    Priority,
    Segment,
    Status,
    Ticket,
)
from tickets.text import text_clean


class CustomerRecord(serializers.Serializer[Any]):
    external_id = serializers.CharField(max_length=100)
    name = serializers.CharField(max_length=200)
    email = serializers.EmailField(
        max_length=CUSTOMER_EMAIL_MAX,
        required=False,
        allow_blank=True,
        default="",
    )
    segment = serializers.ChoiceField(choices=Segment.values, default=Segment.STANDARD)
    signup_date = serializers.DateField(required=False, allow_null=True, default=None)
    lifetime_spend = serializers.DecimalField(
        max_digits=12,
        decimal_places=2,
        min_value=0,
        default=0,  # type: ignore[arg-type]
    )
    order_count = serializers.IntegerField(min_value=0, default=0)


class MessageRecord(serializers.Serializer[Any]):
    external_id = serializers.CharField(
        max_length=100, required=False, allow_blank=True, default=""
    )
    author_kind = serializers.ChoiceField(choices=AuthorKind.values)
    author = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    body = serializers.CharField(
        max_length=settings.COPILOT_MESSAGE_MAX_CHARS, trim_whitespace=False
    )
    created_at = serializers.DateTimeField()

    def validate_body(self, value: str) -> str:
        value = text_clean(value)
        if not value.strip():
            raise serializers.ValidationError("A message cannot be empty.")
        return value


class TicketRecord(serializers.Serializer[Any]):
    external_id = serializers.CharField(max_length=100)
    subject = serializers.CharField(max_length=settings.COPILOT_SUBJECT_MAX_CHARS)
    channel = serializers.ChoiceField(choices=Channel.values)
    status = serializers.ChoiceField(choices=Status.values)
    priority = serializers.ChoiceField(choices=Priority.values, default=Priority.NORMAL)
    team = serializers.CharField(max_length=100)
    # The brand the customer wrote to; scopes suggestions and similar cases (Ticket.company).
    company = serializers.CharField(
        max_length=COMPANY_MAX, required=False, allow_blank=True, default=""
    )
    intent = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    created_at = serializers.DateTimeField()
    solved_at = serializers.DateTimeField(required=False, allow_null=True, default=None)
    resolution = serializers.CharField(required=False, allow_blank=True, default="")
    customer = CustomerRecord()
    messages = MessageRecord(many=True, allow_empty=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        done = attrs["status"] in DONE_STATUSES
        if done and attrs["solved_at"] is None:
            raise serializers.ValidationError(
                {"solved_at": "Required for a solved or closed ticket."}
            )
        if not done and attrs["solved_at"] is not None:
            attrs["solved_at"] = None
        if attrs["status"] == Status.SOLVED and not attrs["resolution"].strip():
            raise serializers.ValidationError({"resolution": "Required for a solved ticket."})
        ids = [m["external_id"] for m in attrs["messages"] if m["external_id"]]
        if len(ids) != len(set(ids)):
            raise serializers.ValidationError({"messages": "Message external_ids repeat."})
        return attrs


@dataclass(frozen=True)
class ImportProblem:
    row: int
    errors: dict[str, Any]

    def __str__(self) -> str:
        return f"row {self.row}: {_flatten(self.errors)}"


@dataclass
class ImportResult:
    created: int = 0
    skipped: int = 0


class ImportRowRefused(Exception):
    """The database refused a row that passed validation; the whole import was rolled back."""

    def __init__(self, problem: ImportProblem) -> None:
        super().__init__(str(problem))
        self.problem = problem


def _flatten(errors: Any, prefix: str = "") -> str:
    if isinstance(errors, dict):
        return "; ".join(
            _flatten(v, prefix if k == "non_field_errors" else f"{prefix}{k}.")
            for k, v in errors.items()
            if v
        )
    if isinstance(errors, list):
        if errors and all(isinstance(e, str) for e in errors):
            return f"{prefix.rstrip('.')}: {' '.join(errors)}"
        return "; ".join(_flatten(e, f"{prefix}{i}.") for i, e in enumerate(errors) if e)
    return f"{prefix.rstrip('.')}: {errors}"


def records_read(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(row number, raw record) pairs; the row is the line (JSONL, CSV) or list position (JSON)."""
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        with path.open(encoding="utf-8") as fh:
            for line_no, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    yield line_no, json_loads_bounded(line)
                except ValueError as exc:
                    yield line_no, {"__error__": f"not valid JSON ({_json_reason(exc)})"}
    elif suffix == ".json":
        data = json_loads_bounded(path.read_text(encoding="utf-8"))
        if not isinstance(data, list):
            raise ValueError("A .json import file must hold a list of tickets.")
        yield from enumerate(data, start=1)
    elif suffix == ".csv":
        yield from _csv_records(path)
    else:
        raise ValueError(f"Unsupported file type {suffix!r}: use .jsonl, .json or .csv.")


def _json_reason(exc: ValueError) -> str:
    return getattr(exc, "msg", None) or str(exc)


CSV_TICKET_COLUMNS = {
    "ticket_external_id": "external_id",
    "subject": "subject",
    "channel": "channel",
    "status": "status",
    "priority": "priority",
    "team": "team",
    "company": "company",
    "intent": "intent",
    "ticket_created_at": "created_at",
    "solved_at": "solved_at",
    "resolution": "resolution",
}
CSV_CUSTOMER_COLUMNS = {
    "customer_external_id": "external_id",
    "customer_name": "name",
    "customer_email": "email",
    "customer_segment": "segment",
    "customer_signup_date": "signup_date",
    "customer_lifetime_spend": "lifetime_spend",
    "customer_order_count": "order_count",
}
CSV_MESSAGE_COLUMNS = {
    "message_external_id": "external_id",
    "author_kind": "author_kind",
    "author": "author",
    "body": "body",
    "message_created_at": "created_at",
}


def _csv_records(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Group message rows into ticket records; the row number is that of the ticket's first row."""
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        missing = {"ticket_external_id", "body", "author_kind"} - set(reader.fieldnames or [])
        if missing:
            raise ValueError(f"CSV header lacks column(s): {', '.join(sorted(missing))}.")
        current: dict[str, Any] | None = None
        first_row = 0
        for row_no, row in _csv_rows(reader):
            if isinstance(row, csv.Error):
                # The rest of the file cannot be trusted to line up: report this row and stop.
                if current is not None:
                    yield first_row, current
                yield row_no, {"__error__": f"not valid CSV ({row})"}
                return
            ticket_id = row.get("ticket_external_id", "")
            if current is None or ticket_id != current["external_id"]:
                if current is not None:
                    yield first_row, current
                first_row = row_no
                current = {
                    new: row.get(old)
                    for old, new in CSV_TICKET_COLUMNS.items()
                    if row.get(old) not in (None, "")
                }
                current["external_id"] = ticket_id
                current["customer"] = {
                    new: row.get(old)
                    for old, new in CSV_CUSTOMER_COLUMNS.items()
                    if row.get(old) not in (None, "")
                }
                current["messages"] = []
            current["messages"].append(
                {
                    new: row.get(old)
                    for old, new in CSV_MESSAGE_COLUMNS.items()
                    if row.get(old) not in (None, "")
                }
            )
        if current is not None:
            yield first_row, current


def _csv_rows(reader: csv.DictReader[str]) -> Iterator[tuple[int, dict[str, str] | csv.Error]]:
    """(row number, row) pairs, row 1 being the header; a row the csv module cannot read (a
    field over its 131,072-character limit, say) comes as the csv.Error, with its row number."""
    row_no = 1
    while True:
        row_no += 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield row_no, exc
            return
        yield row_no, row


def records_validate(
    records: Iterator[tuple[int, dict[str, Any]]],
) -> tuple[list[tuple[int, dict[str, Any]]], list[ImportProblem]]:
    valid: list[tuple[int, dict[str, Any]]] = []
    problems: list[ImportProblem] = []
    seen: dict[str, int] = {}
    # One serializer for every record: building one deep-copies all its nested fields, which
    # was half the demo's import (30 of 65 s for 3,725 tickets, profiled on a loaded 2-core
    # machine). Validation itself keeps no state between records.
    validator = TicketRecord()
    for row, raw in records:
        if not isinstance(raw, dict):
            kind = type(raw).__name__ if raw is not None else "null"
            problems.append(ImportProblem(row, {"record": f"not an object (a JSON {kind})"}))
            continue
        if "__error__" in raw:
            problems.append(ImportProblem(row, {"record": raw["__error__"]}))
            continue
        try:
            data: dict[str, Any] = validator.run_validation(raw)
        except serializers.ValidationError as exc:
            problems.append(ImportProblem(row, dict(exc.detail)))  # type: ignore[arg-type]
            continue
        if data["external_id"] in seen:
            problems.append(
                ImportProblem(row, {"external_id": f"repeats row {seen[data['external_id']]}"})
            )
            continue
        seen[data["external_id"]] = row
        valid.append((row, data))
    return valid, problems


# Tickets written per round of bulk inserts: each round is a few statements (the tickets, their
# customers, messages and import events) instead of five per ticket; the demo's 3,725 tickets
# imported in 35 s one by one on a loaded 2-core machine (see README, "How long `./dev demo`
# takes").
IMPORT_CHUNK = 500


def tickets_import(*, records: Iterable[tuple[int, dict[str, Any]]], source: str) -> ImportResult:
    """Write validated records in one transaction: all of them, or none.

    Validation holds every field to its column, so a refusal here means a rule the database
    alone knows (or a concurrent writer); it is reported with its row, and the rows before it
    are rolled back with it. Records are written IMPORT_CHUNK at a time in bulk; a chunk the
    database refuses is rolled back to its savepoint and written again one ticket at a time,
    which names the row.
    """
    result = ImportResult()
    # A file names a handful of teams for thousands of tickets: look each up once.
    teams: dict[str, Team] = {}
    with transaction.atomic():
        for chunk in _chunks(records, IMPORT_CHUNK):
            try:
                with transaction.atomic():
                    created, skipped = _chunk_import(chunk, source=source, teams=teams)
            except DatabaseError:
                _row_refused(chunk, source=source, teams=teams)
                raise  # the chunk failed and no row alone does: report what the database said
            result.created += created
            result.skipped += skipped
    return result


def _chunks(
    records: Iterable[tuple[int, dict[str, Any]]], size: int
) -> Iterator[list[tuple[int, dict[str, Any]]]]:
    chunk: list[tuple[int, dict[str, Any]]] = []
    for record in records:
        chunk.append(record)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _row_refused(
    chunk: list[tuple[int, dict[str, Any]]], *, source: str, teams: dict[str, Team]
) -> None:
    """Write the chunk one ticket at a time to find the row the database refuses, and raise
    ImportRowRefused naming it."""
    for row, data in chunk:
        try:
            ticket_import(data=data, source=source, teams=teams)
        except DatabaseError as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            problem = ImportProblem(row, {"record": f"refused by the database ({reason})"})
            raise ImportRowRefused(problem) from exc


def _chunk_import(
    chunk: list[tuple[int, dict[str, Any]]], *, source: str, teams: dict[str, Team]
) -> tuple[int, int]:
    """Bulk-write the tickets of a chunk that are not here yet; (created, skipped)."""
    present = set(
        Ticket.objects.filter(external_id__in=[d["external_id"] for _, d in chunk]).values_list(
            "external_id", flat=True
        )
    )
    fresh: list[dict[str, Any]] = []
    for _, data in chunk:
        if data["external_id"] in present:
            continue
        present.add(data["external_id"])  # a repeat later in the file is skipped, as one by one
        fresh.append(data)
    for data in fresh:
        if data["team"] not in teams:
            teams[data["team"]] = team_get_or_create(name=data["team"])
    customers = _customers_get_or_create([dict(d["customer"]) for d in fresh])
    tickets, transcripts = [], []
    for data in fresh:
        messages = sorted(data["messages"], key=lambda m: m["created_at"])
        tickets.append(
            _ticket_build(
                data=data,
                customer=customers[data["customer"]["external_id"]],
                team=teams[data["team"]],
                messages=messages,
            )
        )
        transcripts.append(messages)
    Ticket.objects.bulk_create(tickets)
    Message.objects.bulk_create(
        message
        for ticket, messages in zip(tickets, transcripts, strict=True)
        for message in _messages_build(ticket=ticket, messages=messages)
    )
    ticket_events_imported(tickets=tickets, source=source)
    return len(fresh), len(chunk) - len(fresh)


def _customers_get_or_create(records: list[dict[str, Any]]) -> dict[str, Customer]:
    """The customers by external id, created from their first record when new (what
    get_or_create does per ticket)."""
    wanted = {r["external_id"] for r in records}
    found = {c.external_id: c for c in Customer.objects.filter(external_id__in=wanted)}
    new: dict[str, Customer] = {}
    for record in records:
        external_id = record.pop("external_id")
        if external_id not in found and external_id not in new:
            new[external_id] = Customer(external_id=external_id, **record)
    Customer.objects.bulk_create(new.values())
    return {**found, **new}


def _ticket_build(
    *, data: dict[str, Any], customer: Customer, team: Team, messages: list[dict[str, Any]]
) -> Ticket:
    """The ticket of a validated record, not saved; `messages` sorted by time."""
    return Ticket(
        external_id=data["external_id"],
        customer=customer,
        subject=" ".join(text_clean(data["subject"]).split()),
        channel=data["channel"],
        status=data["status"],
        priority=data["priority"],
        team=team,
        company=" ".join(text_clean(data["company"]).split()),
        intent=data["intent"],
        resolution=text_clean(data["resolution"]),
        created_at=data["created_at"],
        solved_at=data["solved_at"],
        last_message_at=max(data["created_at"], messages[-1]["created_at"]),
        transcript_version=len(messages),
    )


def _messages_build(*, ticket: Ticket, messages: list[dict[str, Any]]) -> list[Message]:
    return [
        Message(
            ticket=ticket,
            sequence=seq,
            author_kind=m["author_kind"],
            author_name=text_clean(m["author"])[:200],
            body=m["body"],
            external_id=m["external_id"],
            created_at=m["created_at"],
        )
        for seq, m in enumerate(messages, start=1)
    ]


# No savepoint inside an import's transaction: a refused row rolls the whole file back anyway,
# and two savepoint statements per ticket were a fifth of the demo's import queries.
@transaction.atomic(savepoint=False)
def ticket_import(
    *, data: dict[str, Any], source: str, teams: dict[str, Team] | None = None
) -> Ticket | None:
    """Write one validated ticket record with its transcript; None when it is already here.

    Imported history is not queued for analysis: it is the past, not work waiting for an agent.
    `teams` caches the teams by name across the records of one import.
    """
    if Ticket.objects.filter(external_id=data["external_id"]).exists():
        return None
    teams = {} if teams is None else teams
    if data["team"] not in teams:
        teams[data["team"]] = team_get_or_create(name=data["team"])
    customer_data = dict(data["customer"])
    customer, _ = Customer.objects.get_or_create(
        external_id=customer_data.pop("external_id"), defaults=customer_data
    )
    messages = sorted(data["messages"], key=lambda m: m["created_at"])
    ticket = _ticket_build(
        data=data, customer=customer, team=teams[data["team"]], messages=messages
    )
    ticket.save()
    Message.objects.bulk_create(_messages_build(ticket=ticket, messages=messages))
    ticket_event_imported(ticket=ticket, source=source)
    return ticket
