"""Measure the conversation-state signal against hand labels, next to the last-message-only
signal and the rules as they were before (copilot.nlp.conversation_previous), in one run with the
same sentiment readings, on each labelled sample: data/eval/conversation_state.jsonl (test,
never used to write the rules) and data/eval/conversation_state_dev.jsonl (development, which the
current rules were written on).

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
from copilot.nlp.conversation_previous import previous_conversation_state
from copilot.nlp.sentiment import SentimentAnalyzer, SentimentResult


def evaluate_conversation_state(
    *, samples: Sequence[tuple[str, Path]], transcripts: Path, sentiment: SentimentAnalyzer
) -> str:
    """One report per (name, labels file), every message read once by ``sentiment``."""
    labelled = [
        (name, [json.loads(line) for line in path.read_text().splitlines() if line.strip()])
        for name, path in samples
    ]
    wanted = {row["external_id"] for _, rows in labelled for row in rows}
    conversations: dict[str, list[str]] = {}
    with transcripts.open() as lines:
        for line in lines:
            record = json.loads(line)
            if record["external_id"] in wanted:
                conversations[record["external_id"]] = [
                    m["body"] for m in record["messages"] if m["author_kind"] == "customer"
                ]
    missing = wanted - set(conversations)
    if missing:
        raise ValueError(f"{len(missing)} labelled conversations are not in {transcripts}")
    order = sorted(wanted)
    texts = [text for key in order for text in conversations[key]]
    results = sentiment.analyse(texts)
    readings: dict[str, list[SentimentResult]] = {}
    at = 0
    for key in order:
        readings[key] = results[at : at + len(conversations[key])]
        at += len(conversations[key])
    reports = [
        _report(name, rows, conversations, readings, sentiment.version) for name, rows in labelled
    ]
    return "\n\n".join(reports)


def _report(
    name: str,
    rows: Sequence[dict[str, str]],
    conversations: dict[str, list[str]],
    readings: dict[str, list[SentimentResult]],
    model: str,
) -> str:
    gold: list[str] = []
    signals: dict[str, list[str]] = {
        "last customer message's sentiment": [],
        "previous conversation rules": [],
        "conversation rules, no model": [],
        "conversation rules + sentiment": [],
    }
    for row in rows:
        messages = conversations[row["external_id"]]
        scored = readings[row["external_id"]]
        turns = [
            CustomerTurn(text=t, sentiment_score=r.score, sentiment_label=r.label)
            for t, r in zip(messages, scored, strict=True)
        ]
        gold.append(row["level"])
        signals["last customer message's sentiment"].append(
            last_message_level(sentiment_label=scored[-1].label)
        )
        signals["previous conversation rules"].append(
            previous_conversation_state(
                turns=[
                    CustomerTurn(text=t, sentiment_score=r.score)
                    for t, r in zip(messages, scored, strict=True)
                ]
            ).level
        )
        signals["conversation rules, no model"].append(
            conversation_state(turns=[CustomerTurn(text=t) for t in messages]).level
        )
        signals["conversation rules + sentiment"].append(conversation_state(turns=turns).level)
    counts = ", ".join(f"{level} {sum(1 for g in gold if g == level)}" for level in LEVELS)
    lines = [
        f"Conversation state, {name}: {len(gold)} hand-labelled demo conversations ({counts})",
        f"sentiment model: {model}   (R: recall, P: precision of each level)",
        *(
            format_agreement(signal, agreement_scores(gold, levels))
            for signal, levels in signals.items()
        ),
        "confusion of the conversation signal (rows: label, columns: signal):",
        "  " + " ".join(f"{level:>10}" for level in ("", *LEVELS)),
    ]
    confusion = agreement_scores(gold, signals["conversation rules + sentiment"]).confusion
    for g in LEVELS:
        cells = " ".join(f"{confusion.get((g, p), 0):>10}" for p in LEVELS)
        lines.append(f"  {g:>10} {cells}")
    return "\n".join(lines)
