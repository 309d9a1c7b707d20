"""Finding and replacing given terms in stored text, for erasure and its verification.

Plain database helpers that know no app: each app runs them on its own tables and models
(`<app>/customer_data.py`), and the privacy app only on the tables no app of this project owns
(Django's own, third-party apps', one added by hand).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.apps import apps
from django.db import connection
from django.db.models import JSONField, Model, Q, QuerySet, TextField
from django.db.models.functions import Cast


@dataclass
class TextSearch:
    """What a search looked at (`checked`) and where it found a term (`found`)."""

    checked: list[str] = field(default_factory=list)
    found: list[str] = field(default_factory=list)

    def extend(self, other: TextSearch) -> None:
        self.checked += other.checked
        self.found += other.found


def rows_containing(
    model: type[Model], fields: tuple[str, ...], terms: tuple[str, ...]
) -> QuerySet[Any]:
    """Rows with any of the terms in any of the fields, case-insensitively (JSON as text)."""
    qs = model._default_manager.all()
    match = Q()
    for name in fields:
        column = name
        if isinstance(model._meta.get_field(name), JSONField):
            column = f"_{name}_text"
            qs = qs.annotate(**{column: Cast(name, TextField())})
        for term in terms:
            match |= Q(**{f"{column}__icontains": term})
    return qs.filter(match)


def rows_redact(qs: QuerySet[Any], fields: tuple[str, ...], redact: Callable[[Any], Any]) -> int:
    """Replace the identifiers in these rows' fields, row by row; returns the rows changed."""
    model = qs.model
    changed = 0
    for row in qs.values("pk", *fields):
        new = {}
        for name in fields:
            value = redact(row[name])
            limit = getattr(model._meta.get_field(name), "max_length", None)
            if isinstance(value, str) and limit:
                value = value[:limit]
            if value != row[name]:
                new[name] = value
        if new:
            changed += model._default_manager.filter(pk=row["pk"]).update(**new)
    return changed


def app_tables(*, app_label: str) -> list[str]:
    """The tables of an app's models, many-to-many tables included."""
    tables = set()
    for model in apps.get_app_config(app_label).get_models(include_auto_created=True):
        if model._meta.managed and not model._meta.proxy:
            tables.add(model._meta.db_table)
    return sorted(tables)


def database_tables() -> list[str]:
    """Every table the database has, read from the database itself."""
    with connection.cursor() as cursor:
        return sorted(connection.introspection.table_names(cursor))


# Column types that cannot hold text. Every other column is searched as text.
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


def _text_columns(tables: Iterable[str]) -> list[tuple[str, str]]:
    """(table, column) of every column of these tables that can hold text, read from the
    database itself rather than from the models."""
    found = []
    introspection = connection.introspection
    with connection.cursor() as cursor:
        existing = set(introspection.table_names(cursor))
        for table in sorted(set(tables) & existing):
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


def tables_search(*, tables: Iterable[str], terms: list[str]) -> TextSearch:
    """Search every text column of these tables for the terms, case-insensitively."""
    search = TextSearch()
    # JSON may keep non-ASCII escaped ("\u00eb" for "ë", as SQLite stores it): both spellings.
    spellings = {term: sorted({term, json.dumps(term)[1:-1]}) for term in terms}
    quote = connection.ops.quote_name
    for table, column in _text_columns(tables):
        label = f"{table}.{column}"
        search.checked.append(f"database column {label}")
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
                search.found.append(f"{label}: {count} row(s) contain {term!r}")
    return search
