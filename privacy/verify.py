"""Checking an erasure: a search of everything the system stores for the identifiers of an
erased customer (given by an admin, since the system no longer knows them). What
`manage.py verify_erasure` runs.

Each app searches its own tables (`<app>_rows_containing`) and the copilot its index
(`copilot_verify_erased`); this module searches every other table the database has (Django's
own, third-party apps', a table added tomorrow: read from the database itself, not from a list),
stored sessions, Redis and the export packages.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import redis
from django.conf import settings
from django.contrib.sessions.models import Session

from copilot.customer_data import copilot_rows_containing, copilot_verify_erased
from core.textsearch import TextSearch, app_tables, database_tables, tables_search
from privacy.models import DataExport
from recovery.customer_data import recovery_rows_containing
from tickets.customer_data import tickets_ids_for_customer, tickets_rows_containing


@dataclass
class VerificationReport:
    checked: list[str] = field(default_factory=list)
    found: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.found

    def add(self, search: TextSearch) -> None:
        self.checked += search.checked
        self.found += search.found


def erasure_verify(*, customer_id: int, terms: list[str]) -> VerificationReport:
    """Search everything the system stores for the erased customer's identifiers (their name,
    e-mail, the shop's id: given by the admin, since the system no longer knows them)."""
    terms = [t for t in (t.strip() for t in terms) if len(t) >= 3]
    report = VerificationReport()
    _verify_database(terms, report)
    _verify_sessions(terms, report)
    ticket_ids = tickets_ids_for_customer(customer_id=customer_id)
    report.add(copilot_verify_erased(ticket_ids=ticket_ids))
    _verify_redis(terms, report)
    _verify_exports(customer_id, terms, report)
    return report


# The apps that search their own tables; every other table is searched here.
_APPS = ("tickets", "copilot", "recovery")


def _verify_database(terms: list[str], report: VerificationReport) -> None:
    report.add(tickets_rows_containing(terms=terms))
    report.add(copilot_rows_containing(terms=terms))
    report.add(recovery_rows_containing(terms=terms))
    covered = {table for label in _APPS for table in app_tables(app_label=label)}
    rest = [table for table in database_tables() if table not in covered]
    report.add(tables_search(tables=rest, terms=terms))


def _verify_sessions(terms: list[str], report: VerificationReport) -> None:
    """Stored sessions are encoded: searched decoded (an unreadable one is reported)."""
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


def _verify_redis(terms: list[str], report: VerificationReport) -> None:
    urls = {
        url
        for url in (settings.CELERY_BROKER_URL, settings.CACHES["default"].get("LOCATION", ""))
        if isinstance(url, str) and url.startswith("redis")
    }
    for url in sorted(urls):
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
