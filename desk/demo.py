"""The demo's conversations brought up to date: real public conversations from 2016-2017, moved
in time as one block so the newest message is a few minutes old when the demo is seeded.

Every timestamp moves by the same offset, so order and intervals stay as they were (a reply
that came 12 minutes later still does); sign-up dates move by the same number of days.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

# How old the newest demo message is right after seeding: recent, but already waiting.
DEMO_NEWEST_AGE = timedelta(minutes=4)


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _timestamps(record: dict[str, Any]) -> Iterator[datetime]:
    yield _parse(record["created_at"])
    if record.get("solved_at"):
        yield _parse(record["solved_at"])
    for message in record.get("messages") or ():
        yield _parse(message["created_at"])


def demo_offset(*, records: Iterable[dict[str, Any]], now: datetime) -> timedelta:
    """How far to move every timestamp so that the newest is DEMO_NEWEST_AGE before `now`."""
    newest = max((t for record in records for t in _timestamps(record)), default=None)
    if newest is None:
        return timedelta(0)
    return (now - DEMO_NEWEST_AGE) - newest


def demo_record_shift(*, record: dict[str, Any], offset: timedelta) -> dict[str, Any]:
    """A copy of one record (tickets.jsonl's shape) with each timestamp moved by `offset`."""

    def moved(value: str) -> str:
        return (_parse(value) + offset).isoformat()

    shifted = copy.deepcopy(record)
    shifted["created_at"] = moved(record["created_at"])
    if record.get("solved_at"):
        shifted["solved_at"] = moved(record["solved_at"])
    for message in shifted.get("messages") or ():
        message["created_at"] = moved(message["created_at"])
    customer = shifted.get("customer") or {}
    if customer.get("signup_date"):
        signup = date.fromisoformat(customer["signup_date"]) + timedelta(days=offset.days)
        customer["signup_date"] = signup.isoformat()
    return shifted


def demo_file_shift(*, source: Path, target: Path, now: datetime) -> timedelta:
    """Write `source` (.jsonl) to `target` moved in time so its newest message is
    DEMO_NEWEST_AGE before `now`; returns the offset applied."""
    with source.open(encoding="utf-8") as lines:
        records = [json.loads(line) for line in lines if line.strip()]
    offset = demo_offset(records=records, now=now)
    with target.open("w", encoding="utf-8") as out:
        for record in records:
            out.write(json.dumps(demo_record_shift(record=record, offset=offset)) + "\n")
    return offset


def demo_intent_labels(*, path: Path) -> dict[str, str]:
    """The hand labels of the demo's Twitter requests (`data/demo/intent_labels_social.jsonl`:
    one `{"external_id", "intent"}` per line), as `{external_id: intent}`."""
    labels: dict[str, str] = {}
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                row = json.loads(line)
                labels[str(row["external_id"])] = str(row["intent"])
    return labels
