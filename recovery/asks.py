"""What the customer explicitly asks for, and whether the request is informational.

Plain Python over the customer's text and the intent label, so the rules can be read and tested
in one place. Each message is cut into clauses (at . , ; ! ? newlines, "but" and "just"); a
mention of a request in a clause is

- declined when the clause says the customer does not want it before the mention ("I don't want
  a refund, just the parcel", "a replacement, not a refund");
- a question about the topic, not an ask, when the clause is about a policy, a status, a fee or
  tracking ("what is your refund policy", "check cancellation fees", "where is my refund"), or
  when the intent is itself such a question (`track_refund`, `check_refund_policy`, ...);
- an ask otherwise ("I want my $13 back", "how can I get a refund?", "let me talk to a manager").

A request is informational when the customer asks for no money (no refund, no compensation),
reports nothing lost or broken, and either the intent is one of the informational labels or the
text is a how/what/where question. Informational requests get no money proposed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

REFUND: Final = "refund"
REPLACEMENT: Final = "replacement"
COMPENSATION: Final = "compensation"
CANCELLATION: Final = "cancellation"
CALLBACK: Final = "callback"
MANAGER: Final = "manager"

# Which requests are requests for money.
MONEY_ASKS: Final = frozenset({REFUND, COMPENSATION})

_PATTERNS: Final[dict[str, re.Pattern[str]]] = {
    REFUND: re.compile(
        r"\brefund\w*|\breimburs\w*|\bmoney back\b|\bcharge ?back\b"
        r"|(?:\bmy|\bthe|\bour)?\s?[$£€]\s?\d+(?:[.,]\d+)? back\b"
    ),
    REPLACEMENT: re.compile(
        r"\breplac\w*|\bexchange (?:it|this|them|the|my)\b|\bsend (?:me )?(?:a )?new\b"
        r"|\bget (?:me )?(?:a )?new (?:\w+ )?sent\b|\ba new one\b"
    ),
    COMPENSATION: re.compile(
        r"\bcompensat\w*|\bvouchers?\b|\bgoodwill\b|\bmake (?:it|this|that) up to\b"
        r"|\bcredit (?:for|on|to)\b|\bfree (?:month|night|ride|upgrade)\b"
    ),
    CANCELLATION: re.compile(
        r"\bcancel\w*|\bunsubscrib\w*"
        r"|\b(?:close|delete|terminate) (?:my |the |a )?(?:\w+ )?account\b"
    ),
    CALLBACK: re.compile(
        r"\bcall (?:me )?back\b|\bcall ?back\b|\bcall me\b|\bgive me a (?:call|ring)\b"
    ),
    MANAGER: re.compile(
        r"\bmanager\b|\bsupervisor\b|\bsomeone (?:higher|in charge|(?:that|who) matters)\b"
        r"|\b(?:speak|talk|chat) (?:to|with) (?:a |an |your |a real |a live )?"
        r"(?:human|person|operator|agent|someone|somebody|representative)\b"
        r"|\b(?:live|real) (?:person|human|agent)\b|\bhuman agent\b|\boperator\b|\bescalat\w*"
    ),
}

_CLAUSE: Final = re.compile(r"[.,;!?\n]+|\bbut\b|\bjust\b")
# Said before a mention in its clause: the customer does not want it.
_NEGATION: Final = re.compile(
    r"\b(?:don'?t|do not|doesn'?t|does not|never) (?:want|need|care about|expect|ask for)\b"
    r"|\bnot (?:asking|looking) for\b|\bno need for\b|\bwithout\b|\brather than\b|\binstead of\b"
    r"|\bnot (?:a|an|the|my|any)\b|^\s*not\b|\bno\b"
)
# The clause is about the topic (its policy, status, fees), not asking for it.
_TOPIC_QUESTION: Final = re.compile(
    r"\bpolic(?:y|ies)\b|\bstatus\b|\btrack\w*|\bhow long\b|\bwhen will\b|\bwhere is my\b"
    r"|\bwaiting for\b|\bfees?\b|\bpenalt\w*|\bcheck\w*|\binformation\b|\boptions\b"
)
# Intents whose mentions of money or cancelling are questions about them (Bitext labels).
_TOPIC_INTENTS: Final = frozenset({"track_refund", "check_refund_policy", "check_cancellation_fee"})

# Intent labels for asking for information or a routine change, with nothing to recover (the
# demo's Bitext set). `complaint` and `get_refund` are not among them.
INFORMATIONAL_INTENTS: Final = frozenset(
    {
        "cancel_order",
        "change_order",
        "change_shipping_address",
        "check_cancellation_fee",
        "check_invoice",
        "check_payment_methods",
        "check_refund_policy",
        "contact_customer_service",
        "contact_human_agent",
        "create_account",
        "delete_account",
        "delivery_options",
        "delivery_period",
        "edit_account",
        "get_invoice",
        "newsletter_subscription",
        "payment_issue",
        "place_order",
        "recover_password",
        "registration_problems",
        "review",
        "set_up_shipping_address",
        "switch_account",
        "track_order",
        "track_refund",
    }
)

_QUESTION: Final = re.compile(
    r"\?|\b(?:how (?:do|can|to|could|would|should)|what (?:is|are|do|does|d)"
    r"|where (?:can|could|do|is|are)"
    r"|when (?:will|can|does)|is there|are there|(?:don'?t|do not) know (?:how|what|wh?at)"
    r"|(?:want|like) to (?:see|check|know)|help me|need (?:help|assistance|support))\b"
)
# Something went wrong for the customer: then it is not a plain question, whatever its form.
_COMPLAINT: Final = re.compile(
    r"\b(?:broken|broke|cracked|damaged|defective|faulty|missing|lost|stolen|wrong|late|delay\w*"
    r"|never (?:arrived|came|received|got)|still (?:haven'?t|not|no|waiting)"
    r"|not (?:arrived|received|working|delivered)|haven'?t (?:received|got)"
    r"|didn'?t (?:receive|get|arrive|sign up)|(?:over|double[- ]?)?charged|outage|down"
    r"|unacceptable|terrible|awful|worst|disappoint\w*|ripped off|scam\w*|fail\w*|poor"
    r"|trash|garbage|ridiculous|fed up|tired of|refus\w*|rude|lying|lied|food poisoning)\b"
)


@dataclass(frozen=True)
class CustomerAsks:
    asked: frozenset[str] = frozenset()
    declined: frozenset[str] = frozenset()
    informational: bool = False

    @property
    def wants_money(self) -> bool:
        return bool(self.asked & MONEY_ASKS)


def _clauses(text: str) -> list[str]:
    return [c for c in _CLAUSE.split(text.lower()) if c.strip()]


def asks_detect(*, text: str, intent: str = "") -> CustomerAsks:
    """What the customer asks for (and turns down) in `text`, read with its intent label."""
    asked: set[str] = set()
    declined: set[str] = set()
    for clause in _clauses(text):
        for kind, pattern in _PATTERNS.items():
            for match in pattern.finditer(clause):
                before = clause[: match.start()]
                if _NEGATION.search(before):
                    declined.add(kind)
                elif _TOPIC_QUESTION.search(clause) or intent in _TOPIC_INTENTS:
                    continue
                else:
                    asked.add(kind)
    # A request asked for in one clause and turned down in another ("a refund? no, a
    # replacement") stays turned down: the customer's "no" is the safer reading.
    asked -= declined
    lowered = text.lower()
    informational = (
        not (asked & MONEY_ASKS)
        and not _COMPLAINT.search(lowered)
        and (intent in INFORMATIONAL_INTENTS or bool(_QUESTION.search(lowered)))
    )
    return CustomerAsks(
        asked=frozenset(asked), declined=frozenset(declined), informational=informational
    )
