"""Measure the conversation-state signal against hand labels (data/eval/conversation_state.jsonl)
next to the last-message-only signal, in one run with the same sentiment model.

Plain Python: the demo transcripts and the labels in, a report out. `manage.py evaluate
--conversation` runs it with the engine's sentiment model.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from copilot.nlp.conversation import (
    LEVELS,
    CustomerTurn,
    agreement_scores,
    conversation_state,
    format_agreement,
    last_message_level,
)
from copilot.nlp.sentiment import SentimentAnalyzer


def evaluate_conversation_state(
    *, labels: Path, transcripts: Path, sentiment: SentimentAnalyzer
) -> str:
    gold_rows = [json.loads(line) for line in labels.open() if line.strip()]
    wanted = {row["external_id"] for row in gold_rows}
    conversations: dict[str, list[str]] = {}
    for line in transcripts.open():
        record = json.loads(line)
        if record["external_id"] in wanted:
            conversations[record["external_id"]] = [
                m["body"] for m in record["messages"] if m["author_kind"] == "customer"
            ]
    missing = wanted - set(conversations)
    if missing:
        raise ValueError(f"{len(missing)} labelled conversations are not in {transcripts}")
    texts = [text for row in gold_rows for text in conversations[row["external_id"]]]
    results = sentiment.analyse(texts)
    gold: list[str] = []
    ours: list[str] = []
    ours_no_model: list[str] = []
    baseline: list[str] = []
    at = 0
    for row in gold_rows:
        messages = conversations[row["external_id"]]
        scored = results[at : at + len(messages)]
        at += len(messages)
        turns = [
            CustomerTurn(text=t, sentiment_score=r.score)
            for t, r in zip(messages, scored, strict=True)
        ]
        gold.append(row["level"])
        ours.append(conversation_state(turns=turns).level)
        ours_no_model.append(
            conversation_state(turns=[CustomerTurn(text=t) for t in messages]).level
        )
        baseline.append(last_message_level(sentiment_label=scored[-1].label))
    return _report(gold, baseline, ours, ours_no_model, sentiment.version)


def _report(
    gold: Sequence[str],
    baseline: Sequence[str],
    ours: Sequence[str],
    ours_no_model: Sequence[str],
    model: str,
) -> str:
    counts = ", ".join(f"{level} {sum(1 for g in gold if g == level)}" for level in LEVELS)
    lines = [
        f"Conversation state on {len(gold)} hand-labelled demo conversations ({counts})",
        f"sentiment model: {model}",
        format_agreement("last customer message's sentiment", agreement_scores(gold, baseline)),
        format_agreement("conversation rules, no model", agreement_scores(gold, ours_no_model)),
        format_agreement("conversation rules + sentiment", agreement_scores(gold, ours)),
        "confusion of the conversation signal (rows: label, columns: signal):",
        "  " + " ".join(f"{level:>10}" for level in ("", *LEVELS)),
    ]
    confusion = agreement_scores(gold, ours).confusion
    for g in LEVELS:
        row = " ".join(f"{confusion.get((g, p), 0):>10}" for p in LEVELS)
        lines.append(f"  {g:>10} {row}")
    return "\n".join(lines)
