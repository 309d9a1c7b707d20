"""The CSV files of a customer's data package: which file holds which rows, columns in order.

Built from the package's `data.json` values (what each app's export entry point returned), so
the CSV files and the JSON always hold the same records.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def csv_tables(data: dict[str, Any]) -> dict[str, list[list[object]]]:
    tickets = data["tickets"]
    decisions = {d["analysis_id"]: d for d in data["draft_decisions"]}
    return {
        "tickets.csv": _table(
            [
                "ticket_id",
                "external_id",
                "subject",
                "channel",
                "status",
                "priority",
                "team",
                "intent",
                "resolution",
                "created_at",
                "last_message_at",
                "solved_at",
                "messages",
            ],
            (
                [
                    t["id"],
                    t["external_id"],
                    t["subject"],
                    t["channel"],
                    t["status"],
                    t["priority"],
                    t["team"],
                    t["intent"],
                    t["resolution"],
                    t["created_at"],
                    t["last_message_at"],
                    t["solved_at"],
                    len(t["messages"]),
                ]
                for t in tickets
            ),
        ),
        "messages.csv": _table(
            [
                "ticket_id",
                "message_id",
                "sequence",
                "author_kind",
                "author_name",
                "body",
                "created_at",
            ],
            (
                [
                    t["id"],
                    m["id"],
                    m["sequence"],
                    m["author_kind"],
                    m["author_name"],
                    m["body"],
                    m["created_at"],
                ]
                for t in tickets
                for m in t["messages"]
            ),
        ),
        "consents.csv": _table(
            ["purpose", "granted", "source", "note", "recorded_at"],
            (
                [c["purpose"], c["granted"], c["source"], c["note"], c["recorded_at"]]
                for c in data["consent"]["history"]
            ),
        ),
        "analyses.csv": _table(
            [
                "analysis_id",
                "ticket_id",
                "message_id",
                "status",
                "sentiment",
                "sentiment_score",
                "intent",
                "intent_confidence",
                "similar_case_ids",
                "drafted_reply",
                "draft_reasons",
                "model_versions",
                "requested_at",
                "draft_decision",
                "sent_text",
            ],
            (
                [
                    a["id"],
                    a["ticket_id"],
                    a["message_id"],
                    a["status"],
                    a["sentiment"],
                    a["sentiment_score"],
                    a["intent"],
                    a["intent_confidence"],
                    a["similar_case_ids"],
                    a["drafted_reply"],
                    a["draft_reasons"],
                    a["model_versions"],
                    a["requested_at"],
                    decisions.get(a["id"], {}).get("decision"),
                    decisions.get(a["id"], {}).get("final_text"),
                ]
                for a in data["copilot_analyses"]
            ),
        ),
        "recommendations.csv": _table(
            [
                "recommendation_id",
                "ticket_id",
                "action",
                "amount",
                "currency",
                "explanation",
                "personalised",
                "status",
                "decided_at",
                "decision_reason",
                "final_amount",
                "executed_amount",
                "executed_currency",
                "executed_at",
            ],
            (
                [
                    r["id"],
                    r["ticket_id"],
                    r["action"],
                    r["amount"],
                    r["currency"],
                    r["explanation"],
                    r["personalised"],
                    r["status"],
                    r["decided_at"],
                    r["decision_reason"],
                    r["final_amount"],
                    *(
                        [
                            r["execution"]["amount"],
                            r["execution"]["currency"],
                            r["execution"]["executed_at"],
                        ]
                        if r["execution"]
                        else [None, None, None]
                    ),
                ]
                for r in data["recovery_recommendations"]
            ),
        ),
    }


def _table(header: list[str], rows: Iterable[list[object]]) -> list[list[object]]:
    return [list(header), *rows]
