"""CSV cells that a spreadsheet shows as text and never runs as a formula (OWASP "CSV
injection"), for the CSV files of a customer's data package."""

from __future__ import annotations

import csv
import datetime as dt
import io
import unicodedata
from collections.abc import Sequence
from decimal import Decimal

# Characters that make a spreadsheet read a cell as a formula (OWASP "CSV injection").
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
# Spreadsheets also run a formula that follows leading spaces or line breaks, and read the
# full-width and small forms (U+FF1D, U+FF0B, U+FF0D, U+FF20; U+FE66...) as the ASCII ones: NFKC
# folds those onto FORMULA_PREFIXES; the minus sign (U+2212) does not fold, so it is listed.
FORMULA_STARTS = frozenset("=+-@\u2212")


def csv_cell(value: object) -> str | int | float | Decimal:
    """One CSV cell that a spreadsheet shows as text, never runs as a formula.

    Text starting with = + - @ (after any leading spaces or line breaks, and in their full-width
    forms too), a tab or a carriage return gets a leading single quote (OWASP's
    advice against CSV injection), so `=HYPERLINK(...)` in a message is shown, not followed.
    Numbers are left as numbers (a -0.8 sentiment must stay -0.8): the system formats them
    itself, and a formula cannot hide in one. None is an empty cell, times are ISO 8601, lists
    are joined with "; ".
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float | Decimal):
        return value
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        value = "; ".join(str(item) for item in value)
    elif isinstance(value, dict):
        value = "; ".join(f"{key}={item}" for key, item in value.items())
    text = str(value)
    return "'" + text if _formula_like(text) else text


def _formula_like(text: str) -> bool:
    """Whether a spreadsheet might read `text` as a formula: it starts with a tab or CR, or its
    first visible character (past spaces, line breaks and invisible format characters such as a
    zero-width space) is a formula starter in any width."""
    if text.startswith(FORMULA_PREFIXES):
        return True
    for char in text:
        if char.isspace() or unicodedata.category(char) in ("Cc", "Cf"):
            continue
        return unicodedata.normalize("NFKC", char)[:1] in FORMULA_STARTS or char in FORMULA_STARTS
    return False


def csv_write(rows: Sequence[Sequence[object]]) -> bytes:
    """A CSV file (header first) with every cell made safe by `csv_cell`. UTF-8 with a byte
    order mark: without it, Excel reads the file as the machine's legacy code page."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerows([csv_cell(cell) for cell in row] for row in rows)
    return out.getvalue().encode("utf-8-sig")
