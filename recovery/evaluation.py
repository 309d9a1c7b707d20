"""Measure the recovery ranking on labelled demo requests (data/eval/recovery_requests.jsonl),
today's ranking (the customer's words unread) next to the ranking that reads what they ask for,
on the same inputs in the same run.

Inputs of each request, the same for both rankings: the default catalogue's policies, the
request's intent (Bitext's own label; "unsure" for the Twitter threads, which is what the demo's
intent model says to them), the sentiment the copilot's model reads from the text, and the
demo customer's segment and spend (no churn risk, recovery outcomes or team history: none
exists outside a database).

- precision@1: the top proposal is one of the request's acceptable actions ("none" when the
  ranking proposes nothing);
- money to informational requests: the share of informational requests with a monetary action
  first, and anywhere among the proposals.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

from copilot.nlp.intent import UNSURE
from recovery.asks import asks_detect
from recovery.catalogue import DEFAULT_ACTIONS
from recovery.ranking import ActionPolicy, CustomerContext, Ranked, rank_actions

NONE = "none"
LIMIT = 3


@dataclass(frozen=True)
class LabelledRequest:
    external_id: str
    team: str
    intent: str
    text: str
    acceptable: frozenset[str]
    informational: bool
    customer: CustomerContext

    @property
    def source(self) -> str:
        return self.external_id.split("-")[0]


@dataclass(frozen=True)
class Score:
    requests: int
    correct_at_1: int
    informational: int
    money_first: int
    money_any: int

    @property
    def precision_at_1(self) -> float:
        return self.correct_at_1 / self.requests if self.requests else 0.0

    @property
    def money_first_rate(self) -> float:
        return self.money_first / self.informational if self.informational else 0.0

    @property
    def money_any_rate(self) -> float:
        return self.money_any / self.informational if self.informational else 0.0


def catalogue_policies() -> list[ActionPolicy]:
    """The default catalogue as the ranking sees it (no per-customer limit used yet)."""
    policies = []
    for spec in DEFAULT_ACTIONS:
        policies.append(
            ActionPolicy(
                key=str(spec["key"]),
                name=str(spec["name"]),
                kind=str(spec["kind"]),
                monetary=bool(spec.get("monetary", False)),
                default_amount=spec.get("default_amount"),  # type: ignore[arg-type]
                max_amount=spec.get("max_amount"),  # type: ignore[arg-type]
                intents=tuple(cast(Iterable[str], spec.get("intents", ()))),
                segments=tuple(cast(Iterable[str], spec.get("segments", ()))),
                negative_only=bool(spec.get("negative_only", False)),
            )
        )
    return policies


def requests_load(*, path: Path, demo: Path) -> list[LabelledRequest]:
    """The labelled requests, with each one's customer from the demo tickets."""
    customers: dict[str, dict[str, Any]] = {}
    for line in demo.read_text(encoding="utf-8").splitlines():
        ticket = json.loads(line)
        customers[ticket["external_id"]] = ticket["customer"]
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        customer = customers[row["external_id"]]
        spend = Decimal(customer["lifetime_spend"])
        rows.append(
            LabelledRequest(
                external_id=row["external_id"],
                team=row["team"],
                intent=row["intent"] or UNSURE,
                text=row["text"],
                acceptable=frozenset(row["acceptable"]),
                informational=bool(row["informational"]),
                customer=CustomerContext(
                    personalised=True,
                    segment=customer["segment"],
                    lifetime_value=spend,
                    history=bool(customer["order_count"]) or spend > 0,
                ),
            )
        )
    return rows


def _top(ranked: Sequence[Ranked]) -> str:
    return ranked[0].action.key if ranked else NONE


def rank_request(
    request: LabelledRequest,
    *,
    policies: Sequence[ActionPolicy],
    sentiment: str,
    sentiment_score: float,
    read_asks: bool,
) -> list[Ranked]:
    return rank_actions(
        policies,
        intent=request.intent,
        sentiment=sentiment,
        sentiment_score=sentiment_score,
        customer=request.customer,
        outcomes={},
        currency="EUR",
        limit=LIMIT,
        asks=asks_detect(text=request.text, intent=request.intent) if read_asks else None,
    )


def score(requests: Sequence[LabelledRequest], rankings: Sequence[Sequence[Ranked]]) -> Score:
    correct = informational = money_first = money_any = 0
    for request, ranked in zip(requests, rankings, strict=True):
        correct += _top(ranked) in request.acceptable
        if request.informational:
            informational += 1
            money_first += bool(ranked) and ranked[0].action.monetary
            money_any += any(r.action.monetary for r in ranked)
    return Score(len(requests), correct, informational, money_first, money_any)


def evaluate(
    requests: Sequence[LabelledRequest], sentiments: Sequence[tuple[str, float]]
) -> dict[str, dict[str, Score]]:
    """{"before"|"after": {"all"|source: Score}} on the same inputs."""
    policies = catalogue_policies()
    report: dict[str, dict[str, Score]] = {}
    for name, read_asks in (("before", False), ("after", True)):
        rankings = [
            rank_request(r, policies=policies, sentiment=s, sentiment_score=v, read_asks=read_asks)
            for r, (s, v) in zip(requests, sentiments, strict=True)
        ]
        groups: dict[str, list[int]] = {"all": list(range(len(requests)))}
        for i, r in enumerate(requests):
            groups.setdefault(r.source, []).append(i)
        report[name] = {
            group: score([requests[i] for i in idx], [rankings[i] for i in idx])
            for group, idx in groups.items()
        }
    return report


def format_report(
    report: dict[str, dict[str, Score]], *, data: str = "data/eval/recovery_requests.jsonl"
) -> str:
    lines = [
        f"Recovery proposals on labelled demo requests ({data})",
        "",
        "| set | requests | ranking | precision@1 | informational | money first | money in top 3 |",
        "| --- | ---: | --- | ---: | ---: | ---: | ---: |",
    ]
    for group in report["before"]:
        for name in ("before", "after"):
            s = report[name][group]
            lines.append(
                f"| {group} | {s.requests} | {name} | {s.precision_at_1:.1%} "
                f"({s.correct_at_1}/{s.requests}) | {s.informational} | "
                f"{s.money_first_rate:.1%} ({s.money_first}) | "
                f"{s.money_any_rate:.1%} ({s.money_any}) |"
            )
    return "\n".join(lines) + "\n"
