"""Checking an erasure: a search of everything the system stores for the identifiers of an
erased customer (given by an admin, since the system no longer knows them). What
`manage.py verify_erasure` runs."""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db import connection

from tickets.models import DataExport, Ticket


@dataclass
class VerificationReport:
    checked: list[str] = field(default_factory=list)
    found: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.found


def erasure_verify(*, customer_id: int, terms: list[str]) -> VerificationReport:
    """Search everything the system stores for the erased customer's identifiers (their name,
    e-mail, the shop's id: given by the admin, since the system no longer knows them)."""
    terms = [t for t in (t.strip() for t in terms) if len(t) >= 3]
    report = VerificationReport()
    _verify_database(terms, report)
    _verify_sessions(terms, report)
    _verify_index(customer_id, report)
    _verify_redis(terms, report)
    _verify_exports(customer_id, terms, report)
    return report


# Column types that cannot hold text. Every other column, of every table the database has
# (Django's own, third-party apps', a table added tomorrow), is searched as text.
_NOT_TEXT = {
    "AutoField",
    "BigAutoField",
    "BigIntegerField",
    "BinaryField",
    "BooleanField",
    "DateField",
    "DateTimeField",
    "DecimalField",
    "DurationField",
    "FloatField",
    "IntegerField",
    "PositiveBigIntegerField",
    "PositiveIntegerField",
    "PositiveSmallIntegerField",
    "SmallAutoField",
    "SmallIntegerField",
    "TimeField",
    "UUIDField",
}


def _text_columns() -> list[tuple[str, str]]:
    """(table, column) of every column of every table that can hold text, read from the
    database itself rather than from a list of models."""
    found = []
    introspection = connection.introspection
    with connection.cursor() as cursor:
        for table in sorted(introspection.table_names(cursor)):
            for column in introspection.get_table_description(cursor, table):
                try:
                    kind = introspection.get_field_type(column.type_code, column)
                except KeyError:  # a type Django does not map: searched as text
                    kind = "TextField"
                if kind not in _NOT_TEXT:
                    found.append((table, column.name))
    return found


def _like(term: str) -> str:
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped.upper()}%"


def _verify_database(terms: list[str], report: VerificationReport) -> None:
    # JSON may keep non-ASCII escaped ("\u00eb" for "ë", as SQLite stores it): both spellings.
    spellings = {term: sorted({term, json.dumps(term)[1:-1]}) for term in terms}
    quote = connection.ops.quote_name
    for table, column in _text_columns():
        label = f"{table}.{column}"
        report.checked.append(f"database column {label}")
        if not terms:
            continue
        value = f"UPPER(CAST({quote(column)} AS TEXT))"
        sums, params = [], []
        for term in terms:
            like = " OR ".join(f"{value} LIKE %s ESCAPE %s" for _ in spellings[term])
            sums.append(f"SUM(CASE WHEN {like} THEN 1 ELSE 0 END)")
            for spelling in spellings[term]:
                params += [_like(spelling), "\\"]
        # Table and column names come from the database's own introspection and are quoted by
        # the backend; every searched value is a parameter.
        sql = f"SELECT {', '.join(sums)} FROM {quote(table)}"  # nosec B608  # noqa: S608
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            hits = cursor.fetchone()
        for term, count in zip(terms, hits, strict=True):
            if count:
                report.found.append(f"{label}: {count} row(s) contain {term!r}")


def _verify_sessions(terms: list[str], report: VerificationReport) -> None:
    """Stored sessions are encoded: searched decoded (an unreadable one is reported)."""
    from django.contrib.sessions.models import Session

    sessions = 0
    for session in Session.objects.iterator():
        sessions += 1
        try:
            text = str(session.get_decoded()).lower()
        except Exception:  # a session that cannot be read cannot be vouched for
            report.found.append(f"django_session {session.session_key[:8]}…: unreadable")
            continue
        for term in terms:
            if term.lower() in text:
                report.found.append(f"django_session {session.session_key[:8]}… contains {term!r}")
    report.checked.append(f"sessions, decoded: {sessions}")


def _verify_index(customer_id: int, report: VerificationReport) -> None:
    from copilot.engine import index_store
    from copilot.models import SolvedCase

    ticket_ids = set(Ticket.objects.filter(customer_id=customer_id).values_list("pk", flat=True))
    if SolvedCase.objects.filter(ticket_id__in=ticket_ids).exists():
        report.found.append("copilot_solvedcase: case vectors of the customer's tickets")
    store = index_store()
    for generation in store.generations():
        report.checked.append(f"similar-case index generation {generation} in {store.root}")
        try:
            ids = store.load_generation(generation).index.ids()
        except Exception as exc:  # an unreadable generation cannot be vouched for
            report.found.append(f"index generation {generation} unreadable: {exc}")
            continue
        inside = ticket_ids & ids
        if inside:
            report.found.append(
                f"index generation {generation}: vectors of tickets {sorted(inside)}"
            )


def _verify_redis(terms: list[str], report: VerificationReport) -> None:
    urls = {
        url
        for url in (settings.CELERY_BROKER_URL, settings.CACHES["default"].get("LOCATION", ""))
        if isinstance(url, str) and url.startswith("redis")
    }
    for url in sorted(urls):
        import redis

        client = redis.Redis.from_url(url)
        keys = 0
        for key in client.scan_iter(count=500):
            keys += 1
            for blob in _redis_values(client, key):
                for term in terms:
                    if term.lower().encode() in blob.lower():
                        report.found.append(f"redis {url} key {key!r} contains {term!r}")
        report.checked.append(f"redis {url}: {keys} keys, names and values")


def _redis_values(client: object, key: bytes) -> list[bytes]:
    kind = client.type(key)  # type: ignore[attr-defined]
    values: list[bytes] = [key]
    if kind == b"string":
        values.append(client.get(key) or b"")  # type: ignore[attr-defined]
    elif kind == b"list":
        values.extend(client.lrange(key, 0, -1))  # type: ignore[attr-defined]
    elif kind == b"hash":
        for k, v in client.hgetall(key).items():  # type: ignore[attr-defined]
            values += [k, v]
    elif kind == b"set":
        values.extend(client.smembers(key))  # type: ignore[attr-defined]
    elif kind == b"zset":
        values.extend(client.zrange(key, 0, -1))  # type: ignore[attr-defined]
    return values


def _verify_exports(customer_id: int, terms: list[str], report: VerificationReport) -> None:
    if DataExport.objects.filter(customer_id=customer_id).exists():
        report.found.append("tickets_dataexport: export records of the customer")
    root = Path(settings.PRIVACY_EXPORT_DIR)
    files = sorted(root.glob("*")) if root.is_dir() else []
    for path in files:
        try:
            with zipfile.ZipFile(path) as package:
                blob = b"".join(package.read(name) for name in package.namelist())
        except (zipfile.BadZipFile, OSError):
            blob = path.read_bytes()
        for term in terms:
            if term.lower().encode() in blob.lower():
                report.found.append(f"export file {path.name} contains {term!r}")
    report.checked.append(f"export packages in {root}: {len(files)} file(s)")
