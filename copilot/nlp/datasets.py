"""Readers for the evaluation datasets copied into `data/eval/` (see the README there)."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

from copilot.nlp.sentiment import LABELS, SentimentLabel


def load_banking77(directory: Path, split: str) -> tuple[list[str], list[str]]:
    """(texts, categories) of BANKING77 `train` or `test`."""
    with (directory / f"{split}.csv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    return [r["text"] for r in rows], [r["category"] for r in rows]


def load_tweeteval(directory: Path, split: str) -> tuple[list[str], list[SentimentLabel]]:
    """(texts, labels) of TweetEval sentiment `val` or `test`, labels via mapping.txt."""
    by_name: dict[str, SentimentLabel] = {label: label for label in LABELS}
    mapping: dict[str, SentimentLabel] = {}
    for line in (directory / "mapping.txt").read_text(encoding="utf-8").splitlines():
        if line.strip():
            code, name = line.split()
            if name not in by_name:
                raise ValueError(f"unexpected TweetEval label {name!r}")
            mapping[code] = by_name[name]
    # Upstream lines keep a trailing space; strip only the newline and that space.
    texts = [
        line.rstrip("\n").rstrip(" ")
        for line in (directory / f"{split}_text.txt").open(encoding="utf-8")
    ]
    labels = [
        mapping[line.strip()]
        for line in (directory / f"{split}_labels.txt").open(encoding="utf-8")
        if line.strip()
    ]
    if len(texts) != len(labels):
        raise ValueError(f"{split}: {len(texts)} texts but {len(labels)} labels")
    return texts, labels


def load_goemotions_sentiment(
    directory: Path, split: str
) -> tuple[list[str], list[SentimentLabel]]:
    """(texts, labels) of the GoEmotions 3-class files `sentiment3_{train,dev,test}.tsv`
    (`text \t label \t id`, label 0 negative, 1 neutral, 2 positive)."""
    texts: list[str] = []
    labels: list[SentimentLabel] = []
    with (directory / f"sentiment3_{split}.tsv").open(encoding="utf-8", newline="") as fh:
        for row in csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE):
            texts.append(row[0])
            labels.append(LABELS[int(row[1])])
    return texts, labels


@dataclass(frozen=True)
class BitextRow:
    instruction: str
    intent: str
    response: str


def load_bitext(directory: Path) -> list[BitextRow]:
    with (directory / "bitext_customer_support_4514.csv").open(encoding="utf-8", newline="") as fh:
        return [BitextRow(r["instruction"], r["intent"], r["response"]) for r in csv.DictReader(fh)]


@dataclass(frozen=True)
class IbmConversation:
    customer_text: str
    doc_id: str
    company: str
    resolution: str


def load_ibm(directory: Path, split: str) -> list[IbmConversation]:
    """IBM CDP `dev` or `test`: the customer's side of each conversation (all client turns
    joined), the resolving document id and the agent's resolving message."""
    data = json.loads((directory / f"{split}.json").read_text(encoding="utf-8"))
    out = []
    for conversation in data:
        customer = [
            turn["message"]
            for turn in conversation["dialogContent"]
            if "client" in turn or "client1" in turn
        ]
        out.append(
            IbmConversation(
                customer_text="\n".join(customer),
                doc_id=str(conversation["agentURL"]["doc_id"]),
                company=str(conversation["dialogHeader"]["company"]),
                resolution=str(conversation["agentURL"]["url_utterance"]),
            )
        )
    return out
