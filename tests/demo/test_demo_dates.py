"""The demo's conversations are moved in time as one block: the newest message a few minutes
old, every order and interval kept."""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from desk.demo import DEMO_NEWEST_AGE, demo_file_shift

NOW = datetime(2025, 6, 2, 9, 30, tzinfo=UTC)


def record(external_id: str, created: str, *messages: str, solved: str | None = None) -> dict:
    return {
        "external_id": external_id,
        "created_at": created,
        "solved_at": solved,
        "customer": {"external_id": f"c-{external_id}", "signup_date": "2013-05-31"},
        "messages": [
            {"external_id": f"{external_id}-{i}", "created_at": m} for i, m in enumerate(messages)
        ],
    }


def times(row: dict) -> list[datetime]:
    found = [row["created_at"], *(m["created_at"] for m in row["messages"])]
    if row["solved_at"]:
        found.append(row["solved_at"])
    return [datetime.fromisoformat(t) for t in found]


def test_the_newest_message_is_minutes_old_and_every_interval_is_kept(tmp_path: Path) -> None:
    rows = [
        record(
            "1",
            "2016-08-06T01:31:50+00:00",
            "2016-08-06T01:31:50+00:00",
            "2016-08-06T01:44:03+00:00",
        ),
        record(
            "2",
            "2017-08-08T22:42:01+00:00",
            "2017-08-08T22:42:01+00:00",
            "2017-10-31T22:11:33+00:00",
            solved="2017-10-09T00:49:27+00:00",
        ),
    ]
    source, target = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    source.write_text("\n".join(json.dumps(r) for r in rows) + "\n")

    offset = demo_file_shift(source=source, target=target, now=NOW)

    shifted = [json.loads(line) for line in target.read_text().splitlines()]
    newest = max(t for row in shifted for t in times(row))
    assert newest == NOW - DEMO_NEWEST_AGE
    assert offset == NOW - DEMO_NEWEST_AGE - datetime(2017, 10, 31, 22, 11, 33, tzinfo=UTC)
    for before, after in zip(rows, shifted, strict=True):
        assert [t + offset for t in times(before)] == times(after)
        assert after["external_id"] == before["external_id"]
        assert (
            after["customer"]["signup_date"]
            == (datetime(2013, 5, 31).date() + timedelta(days=offset.days)).isoformat()
        )
