"""The conversation-state rules as they were before the development sample
(data/eval/conversation_state_dev.jsonl) was labelled: kept, unchanged, only so that `manage.py
evaluate --conversation` can print them next to the current rules (copilot.nlp.conversation) in
the same run, with the same sentiment readings. Nothing else uses them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from copilot.nlp.conversation import (
    AT_RISK,
    CALM,
    CONCERNED,
    FRUSTRATED,
    ConversationState,
    CustomerTurn,
)

# A sentiment score (-1 to 1) at or below this counts the message as negative. The shipped
# model's scores: -0.3 separates its negative class from neutral on most messages.
NEGATIVE_SCORE = -0.3

_THREAT = re.compile(
    r"\b(bye\s+@?\w+|good\s*bye\s+@?\w+|i'?m\s+done\s+with|i\s+am\s+done\s+with|done\s+with\s+(you|your)"
    r"|cancel+(ing)?\s+my\s+(account|subscription|membership|card|contract|service)"
    r"|close\s+my\s+account|delete\s+my\s+account|(speak|talk)\s+(to|with)\s+(a|your|the)\s+"
    r"(manager|supervisor|superior)|escalat\w*|lawyer|attorney|legal\s+action|\bsue\b"
    r"|report(ing)?\s+(you|this|it)\s+to|report\s+you|\bbbb\b|better\s+business\s+bureau"
    r"|ombudsman|trading\s+standards|chargeback|never\s+(again\s+)?(fly|flying|use|using|buy"
    r"|buying|shop|shopping|order|ordering)|(switch|switching|moving|going)\s+to\s+"
    r"(another|a\s+different|@\w+)|lost\s+(a|another)\s+customer|last\s+time\s+i\s+"
    r"(fly|use|buy|shop)|cost\s+you\s+\w*\s*(thousands?|customers?|business))",
    re.IGNORECASE,
)
_STILL = re.compile(
    r"\b(still\s+(waiting|not|no|haven'?t|hasn'?t|didn'?t|don'?t|doesn'?t|can'?t|nothing"
    r"|broken|missing)|(been\s+)?waiting\s+(for\s+)?(over\s+|more\s+than\s+)?(\d+|an?|two"
    r"|three|several|many)\s+(hours?|days?|weeks?|months?)|no\s+(one|body)\s+(has\s+)?"
    r"(replied|responded|answered|called|got\s+back)|nobody|no\s+(reply|response|answer)"
    r"|haven'?t\s+heard|yet\s+to\s+(hear|receive|get))\b",
    re.IGNORECASE,
)
_AGAIN = re.compile(
    r"\b(again|yet\s+again|(second|third|fourth|fifth|\d+(st|nd|rd|th))\s+time|how\s+many\s+"
    r"times|already\s+(told|sent|called|contacted|explained|asked|gave|did|tried|dm'?d)"
    r"|keep\s+(getting|having|telling)|every\s+time|repeatedly|over\s+and\s+over)\b",
    re.IGNORECASE,
)
_STRONG = re.compile(
    r"\b(ridiculous|unacceptable|disgust\w*|appall\w*|outrag\w*|furious|angry|pissed|livid"
    r"|worst|terrible|horrible|awful|pathetic|useless|incompeten\w*|joke|scam|rip\s*off"
    r"|ripped\s+off|shame(ful)?|disgrace\w*|fed\s+up|sick\s+of|tired\s+of|wtf|fuck\w*|shit\w*"
    r"|crap|hate|lied|lying|liars?|thie(f|ves)|stole|robbed|absurd|insult\w*|unbelievable"
    r"|ruined|nightmare|rude|never\s+again)\b",
    re.IGNORECASE,
)
_MILD = re.compile(
    r"\b(disappoint\w*|frustrat\w*|annoy\w*|upset|unhappy|not\s+happy|poor|bad|wrong|issue"
    r"|problem|broken|damaged|missing|lost|late|delay\w*|cancel+ed|refund|charged\s+twice"
    r"|overcharged|complain\w*|error|fail\w*|can'?t|cannot|won'?t|doesn'?t\s+work|not\s+work\w*"
    r"|stuck|worried|concern\w*|confus\w*|sorry\s+but|unfortunately|why\s+(is|are|does|did|do"
    r"|can'?t|won'?t|would)|seriously|really\?|help\s*!)\b",
    re.IGNORECASE,
)
# The customer says the problem is gone: only this lowers a frustrated conversation.
_RESOLVED = re.compile(
    r"\b(that\s+(worked|works|fixed|did\s+it|helps|helped)|it\s+(works|worked)(\s+now)?"
    r"|(all\s+)?(sorted|resolved|fixed)(\s+now)?|all\s+good|problem\s+solved|perfect|great\s+"
    r"service|appreciate\s+(it|the|your)|thank(s|\s+you)\s+(so|very)\s+much|you'?re\s+"
    r"(the\s+best|amazing|awesome)|much\s+appreciated|got\s+it(,)?\s+thank)",
    re.IGNORECASE,
)
_SHOUT = re.compile(r"(!{2,}|\?{2,}|\?!|!\?|\b[A-Z]{4,}\b)")
# Capitals that are not shouting: codes, acronyms a support message is full of.
_NOT_SHOUT = {"HTTP", "HTTPS", "NYC", "USPS", "FEDEX", "UPS", "ASAP", "EWR", "JFK", "LAX", "PNR"}


def _quote(match: re.Match[str]) -> str:
    return f'"{" ".join(match.group(0).split())}"'


def _shouts(text: str) -> bool:
    for match in _SHOUT.finditer(text):
        token = match.group(0)
        if token.isalpha() and token in _NOT_SHOUT:
            continue
        return True
    return False


def previous_conversation_state(
    *, turns: Sequence[CustomerTurn], repeat_contacts: int = 0
) -> ConversationState:
    """The customer's state at the end of the conversation from all of their messages.

    ``repeat_contacts``: how many other recent tickets this customer opened about the same issue.
    """
    texts = [t.text or "" for t in turns]
    reasons: list[str] = []
    points = 0.0

    threat = None
    for text in texts:
        threat = _THREAT.search(text) or threat
    if threat:
        reasons.append(f"threatens to leave or escalate: {_quote(threat)}")

    strong = [m for text in texts for m in [_STRONG.search(text)] if m]
    if strong:
        points += 1.5 if len(strong) == 1 else 2.0
        reasons.append(f"angry words: {_quote(strong[-1])}")
    mild = [m for text in texts for m in [_MILD.search(text)] if m]
    if mild:
        points += 0.75 if len(mild) == 1 else 1.0
        if not strong:
            reasons.append(f"reports a problem: {_quote(mild[-1])}")

    still = next((m for text in reversed(texts) for m in [_STILL.search(text)] if m), None)
    if still:
        points += 1.0
        reasons.append(f"still waiting: {_quote(still)}")
    again = next((m for text in reversed(texts) for m in [_AGAIN.search(text)] if m), None)
    if again:
        points += 1.0
        reasons.append(f"not the first time: {_quote(again)}")
    if any(_shouts(text) for text in texts):
        points += 0.5
        reasons.append("shouting (capitals or !!!)")

    scores = [t.sentiment_score for t in turns if t.sentiment_score is not None]
    negatives = sum(1 for s in scores if s <= NEGATIVE_SCORE)
    if negatives:
        points += 0.75 if negatives == 1 else 1.25
        reasons.append(f"{negatives} of {len(scores)} messages read as negative")
    if len(scores) >= 2 and scores[-1] < scores[0] - 0.3 and scores[-1] <= NEGATIVE_SCORE:
        points += 0.5
        reasons.append("getting more negative message by message")

    if repeat_contacts:
        points += 1.0 if repeat_contacts == 1 else 2.0
        plural = "s" if repeat_contacts > 1 else ""
        reasons.append(f"{repeat_contacts} other recent ticket{plural} about the same issue")

    last = texts[-1] if texts else ""
    resolved = bool(_RESOLVED.search(last)) and not (_STRONG.search(last) or _STILL.search(last))
    if resolved:
        points = max(0.0, points - 2.0)
        reasons.append("says the problem is solved in the last message")

    if threat and not resolved:
        level = AT_RISK
        score = min(1.0, 0.85 + points / 40)
    else:
        if points < 0.75:
            level = CALM
        elif points < 2.0:
            level = CONCERNED
        else:
            level = FRUSTRATED
        score = min(0.8, points / 5)
    if not reasons:
        reasons.append("no sign of frustration in the customer's messages")
    return ConversationState(level=level, score=round(score, 3), reasons=tuple(reasons))
