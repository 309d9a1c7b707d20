"""The customer's state across a conversation: calm, concerned, frustrated, or at risk of leaving.

A last message read alone misleads: a sarcastic "Thanks" after five angry messages, "ok" after
a threat to leave. This reads every customer message of the ticket with a few plain rules:

* the sentiment of each message (the sentiment model's score when known), and its trend;
* words of frustration ("ridiculous", "unacceptable", "disappointed"), shouting;
* "still waiting", "again", "how many times": the problem is not new;
* repeated contacts: the customer's other recent tickets about the same issue;
* explicit threats to leave or escalate ("Bye AA", "I'm done with you", "cancel my account",
  "speak to a manager", "lawyer", "report you"): at risk, whatever the last message says.

A frustrated conversation stays frustrated until the customer says the problem is solved: a
short "thanks" or "ok" does not undo it. The rules were written from the labelling guidelines in
data/eval/README.md before the evaluation set was labelled; `manage.py evaluate --conversation`
measures them. Plain Python: strings and numbers in, a dataclass out.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

CALM = "calm"
CONCERNED = "concerned"
FRUSTRATED = "frustrated"
AT_RISK = "at_risk"
LEVELS = (CALM, CONCERNED, FRUSTRATED, AT_RISK)
LEVEL_LABELS = {
    CALM: "Calm",
    CONCERNED: "Concerned",
    FRUSTRATED: "Frustrated",
    AT_RISK: "At risk of leaving",
}

# A message counts as negative when the sentiment model's own label says so (its argmax, which
# any retrained model calibrates by itself). Only turns stored without a label fall back on the
# score (-1 to 1): at or below this. -0.3 is where the model shipped in 2026 separated its
# negative class from neutral on most messages; re-check it with `manage.py evaluate
# --conversation` when the model changes.
NEGATIVE_SCORE = -0.3

# Points each kind of evidence adds (see conversation_state). Set on the development sample
# (data/eval/conversation_state_dev.jsonl), never on the test sample.
LEVEL_CONCERNED = 0.75  # at or above: concerned
LEVEL_FRUSTRATED = 2.0  # at or above: frustrated

# Words that turn a threat into its opposite when they come just before it, in the same clause:
# "I won't cancel", "I'm not going to leave", "no need to escalate".
_NEGATION = re.compile(
    r"\b(not|never|no|don'?t|do\s+not|won'?t|will\s+not|wouldn'?t|would\s+not|didn'?t|isn'?t"
    r"|aren'?t|no\s+need\s+to|no\s+intention\s+(of|to)|not\s+going\s+to|not\s+planning\s+to"
    r"|hate\s+to|rather\s+not)"
    # At most two words between, none that starts a new clause: "if it isn't fixed I'll cancel"
    # is a threat.
    r"((\s+(?!(i'?ll|i|we'?ll|we|will|gonna|then|or|but|unless|if|so)\b)[\w']+){0,2})\s*$",
    re.IGNORECASE,
)
# Leaving, stopping, boycotting, cancelling or deleting the account or contract, or escalating
# outside the conversation (a manager, a lawyer, a regulator): at risk.
_THREAT = re.compile(
    r"\b(bye\s+@?\w+|good\s*bye\s+@?\w+|i'?m\s+done\b(?!\s+(now|it|that|this|with\s+(it|that|th"
    r"is|the\s+\w+)))|i\s+am\s+done\b(?!\s+(now|it|that|this))|(so\s+)?done\s+with\s+(you|your|@)"
    r"|cancel+(ing|ed)?\s+(all\s+of\s+)?(my\s+|our\s+|the\s+)?(\w+\s+)?(account|subscription"
    r"|membership|card|contract|service|plan|policy)s?\b|cancel+(ing)?\s+all\s+of\s+@?\w+"
    r"|(close|closing|delete|deleting|terminate|terminating|remove|removing)\s+(my\s+|the\s+|a\s+"
    r"|our\s+)?(\w+\s+)?(account|contract|membership|subscription)s?\b"
    r"|(speak|talk)\s+(to|with)\s+(a|your|the)\s+(manager|supervisor|superior)"
    r"|(someone|somebody|anyone)\s+(higher|senior|in\s+charge)|(higher|upper)\s+(up|management)"
    r"|corporate\s+office|escalat\w*|lawyer|attorney|solicitor|legal\s+action|small\s+claims"
    r"|\bsue\b|suing|report(ing)?\s+(you|this|it|them)\s+to|report\s+you\b|\bbbb\b"
    r"|better\s+business\s+bureau|ombudsman|trading\s+standards|\bftc\b|\bfcc\b|\bcfpb\b"
    r"|ofcom|ofgem|regulator|chargeback|boycott\w*"
    r"|never\s+(again\s+)?(fly|flying|flown|use|using|buy|buying|shop|shopping|order|ordering"
    r"|book|booking|stay|staying|recommend\w*|coming\s+back|be\s+back|deal\w*\s+with)"
    r"|(won'?t|will\s+not|will\s+never)\s+(be\s+)?(back|returning|using|buying|ordering|flying"
    r"|shopping|renewing|recommend\w*)|last\s+time\s+i\s+(fly|use|buy|shop|order|book)"
    r"|(i'?ll|i\s+will|i'?m|going\s+to|gonna|ready\s+to|about\s+to|have\s+to|might|may)\s+(just\s+)?"
    r"(leave|leaving|quit|quitting|ditch|drop)\s+(you|@\w+|this\s+\w+|your\s+\w+)|leaving\s+(you|@\w+)"
    r"|(switch|switching|moving|move|going|go|look\s+at|looking\s+at)\s+(over\s+)?to\s+"
    r"(another|a\s+different|a\s+competitor|the\s+competition|@\w+)|look(ing)?\s+at\s+@\w+"
    r"|take\s+my\s+(business|money|custom)\s+(elsewhere|somewhere)|(buy|shop|order)\s+(it\s+)?"
    r"(elsewhere|somewhere\s+else)|(considering|thinking\s+(of|about)|looking\s+(for|into))\s+"
    r"(getting\s+|switching\s+to\s+)?(a\s+)?(new|another|different)\s+(kind\s+of\s+)?(phone|provider"
    r"|carrier|bank|airline|company|service|network|supplier)|get(ting)?\s+rid\s+of\s+(you|these"
    r"|this|them|@)|lost\s+(a|another)\s+customer|cost\s+you\s+\w*\s*(thousands?|customers?"
    r"|business)|(ex|former)[-\s]customer)",
    re.IGNORECASE,
)
# Telling the world: not leaving, but a frustrated customer.
_EXPOSE = re.compile(
    r"\b((tell|telling|warn|warning)\s+(all\s+)?(everyone|everybody|people|all\s+my|my\s+friends"
    r"|others)|get\s+the\s+word\s+out|spread\s+the\s+word|(post|posting|share|sharing)\s+(this|it)"
    r"\s+(on|all\s+over|everywhere)|go(ing)?\s+viral|the\s+(press|media|news))\b",
    re.IGNORECASE,
)
_STILL = re.compile(
    r"\b(still\s+(waiting|not|no|haven'?t|hasn'?t|didn'?t|don'?t|doesn'?t|can'?t|nothing"
    r"|broken|missing|charged|getting|having)|(been\s+)?waiting\s+(for\s+)?(over\s+|more\s+than\s+)?"
    r"(\d+\+?|an?|two|three|several|many)\s+(hours?|days?|weeks?|months?)|no\s+(one|body)\s+(has\s+)?"
    r"(replied|responded|answered|called|got\s+back)|nobody|no\s+(reply|response|answer)"
    r"|haven'?t\s+heard|yet\s+to\s+(hear|receive|get)|for\s+(days|weeks|months|ages)"
    r"|(over|more\s+than)\s+(\d+|an?|two|three)\s+(hours?|days?|weeks?|months?)"
    r"|\d+\+?\s+(hours?|days?|weeks?)\s+(already|now|late|delayed|later)"
    r"|on\s+hold\s+for)\b",
    re.IGNORECASE,
)
# The problem is not new. "again" alone is weaker ("I will try again"): see _AGAIN_WEAK.
_AGAIN = re.compile(
    r"\b(yet\s+again|once\s+again|again\s*[!?.]*\s*$|again\s*[!?]|down,?\s+again"
    r"|(second|third|fourth|fifth|sixth|seventh|\d+(st|nd|rd|th))\s+(time|outage|call|attempt)"
    r"|(\d+|two|three|four|five|six|seven|eight|nine|ten|several|multiple|many)\s+times"
    r"|x\s*\d+\b|\d+\s*x\b|twice(\s+now)?|how\s+many\s+times|already\s+(told|sent|called|contacted"
    r"|explained|asked|gave|did|tried|dm'?d|done)|what\s+i'?ve\s+done\s+already|keeps?\s+\w+ing"
    r"|constantly|every\s+(time|day|week|night|morning)|repeatedly|over\s+and\s+over|ever\s+since"
    r"|same\s+(bug|issue|problem|thing|error|answer)|tried\s+everything|all\s+of\s+them)\b",
    re.IGNORECASE,
)
_AGAIN_WEAK = re.compile(r"\bagain\b", re.IGNORECASE)
_STRONG = re.compile(
    r"\b(ridiculous|unacceptable|disgust\w*|appall\w*|outrag\w*|furious|angry|mad|pissed|livid"
    r"|worst|terrible|horrible|awful|pathetic|useless|incompeten\w*|joke|scam\w*|rip\s*off"
    r"|ripped\s+off|shame(ful)?|disgrace\w*|fed\s+up|sick\s+of|tired\s+of|wtf|f+u+c+k+\w*"
    r"|\w*fuck\w*|shit\w*|\w+oshit|crap\w*|bullshit|bs|hate|lied|lying|liars?|lies|thie(f|ves)"
    r"|stole|stolen|robbed|absurd|insult\w*|unbelievable|ruined|nightmare|rude|never\s+again"
    r"|stupid|damn\w*|idiot\w*|moron\w*|crook\w*|scum\w*|clowns?|dumb|garbage|trash|sucks?"
    r"|screw\w*|negligen\w*|irresponsible|deceiv\w*|nuts|insane|come\s+on|#\w*fail\w*"
    r"|not\s+(a\s+)?customer\s+service|no\s+help|zero\s+(help|service)|not\s+helpful)\b",
    re.IGNORECASE,
)
_MILD = re.compile(
    r"\b(disappoint\w*|frustrat\w*|annoy\w*|upset|unhappy|not\s+happy|not\s+impressed|poor|bad"
    r"|wrong|issues?|problems?|broken|broke|damaged|missing|lost|late|delay\w*|cancel+ed|refund"
    r"|reimburs\w*|money\s+back|charged|overcharged|complain\w*|error|fail\w*|can'?t|cannot"
    r"|won'?t|doesn'?t\s+work|not\s+work\w*|isn'?t\s+working|stuck|worried|scared|concern\w*"
    r"|confus\w*|sorry\s+but|unfortunately|why\s+(is|are|does|did|do|can'?t|won'?t|would|isn'?t)"
    r"|seriously\?|really\?|help\s*!|helpp+|never\s+(got|received|arrived|came)|didn'?t\s+(get"
    r"|receive|arrive|come|work)|haven'?t\s+(got|received)|not\s+(received|arrived|delivered"
    r"|there|on\s+my)|wasn'?t\s+(sent|send|delivered)|(is|are|was|went)\s+down|hack\w*|crash\w*"
    r"|glitch\w*|bug|defect\w*|mou?ld\w*|disconnect\w*|denied|refused|expect\w*|gouging|on\s+hold"
    r"|hung\s+up|hangs\s+up|smh|bummer|sad|odd|strange)\b|:\(|☹|😞|😢|😩|😤|😡|🤦",
    re.IGNORECASE,
)
# "No problem!" is not a problem.
_NOT_A_PROBLEM = re.compile(r"\bno\s+(problem|issue|worries)s?\b", re.IGNORECASE)
# The customer says the problem is gone: only this lowers a frustrated conversation.
_RESOLVED = re.compile(
    r"\b((?<!hopefully\s)(?<!hope\s)(?<!if\s)(?<!maybe\s)that\s+(worked|works|fixed|did\s+it|helps"
    r"|helped)|it\s+(works|worked)(\s+now)?|(all\s+)?(sorted|resolved|fixed)(\s+now)?|all\s+good"
    r"|problem\s+solved|perfect|great\s+service|appreciate\s+(it|the|your)|thank(s|\s+you)\s+(so"
    r"|very)\s+much|you'?re\s+(the\s+best|amazing|awesome)|much\s+appreciated|got\s+it(,)?\s+"
    r"thank|delivered\s+(just\s+)?fine|credit(ed)?\s+(to\s+)?my\s+account|we\s+are\s+good)",
    re.IGNORECASE,
)
# Sarcasm said outright: praise taken back, thanks for nothing.
_SARCASM = re.compile(
    r"(thanks?\s+(you\s+)?for\s+(nothing|ruining|wasting|making|the\s+(great|amazing|wonderful)"
    r"\s+(service|experience))|\berm+,?\s+no(t|pe)?\b|\byeah,?\s+right\b|#sarcasm|\s/s\b"
    r"|(first\s+class|great|excellent|amazing|brilliant|fantastic|stellar|wonderful)\s+(customer\s+)?"
    r"(service|job|work|support)\s*[-\u2013\u2014.,!]*\s*(not\b|erm\b|lol\b|smh\b|🙄|😒)|doing\s+(well|great)\s+"
    r"there|i'?m\s+(so\s+)?(shocked|surprised)\s*!|what\s+a\s+(surprise|shock)|just\s+love\s+(it\s+)?"
    r"when|don'?t\s+you\s+(just\s+)?love|love\s+how|so\s+helpful\s*[.!]*\s*(not|🙄|😒)?\s*$)",
    re.IGNORECASE,
)
# Thanks or praise, which after an angry message (or next to one) is sarcasm, not relief.
_PRAISE = re.compile(
    r"\b(thanks?|thank\s+you|great|brilliant|fantastic|wonderful|lovely|awesome|well\s+done"
    r"|good\s+job)\b",
    re.IGNORECASE,
)
_SHOUT = re.compile(r"(!{2,}|\?{2,}|\?!|!\?|\b[A-Z]{4,}\b)")
# Capitals that are not shouting: codes, acronyms a support message is full of.
_NOT_SHOUT = {
    "HTTP", "HTTPS", "NYC", "USPS", "FEDEX", "UPS", "ASAP", "EWR", "JFK", "LAX", "PNR", "IPAD",
    "IPHONE", "HDMI", "VPN", "WIFI", "DSL", "ATM", "PROGEN", "XBOX", "GTA", "FREE",
}  # fmt: skip


@dataclass(frozen=True)
class CustomerTurn:
    """One customer message, oldest first, with the sentiment model's reading when it read it:
    its label (negative / neutral / positive) and score (-1 to 1)."""

    text: str
    sentiment_score: float | None = None
    sentiment_label: str | None = None

    @property
    def negative(self) -> bool:
        if self.sentiment_label:
            return self.sentiment_label == "negative"
        return self.sentiment_score is not None and self.sentiment_score <= NEGATIVE_SCORE


@dataclass(frozen=True)
class ConversationState:
    level: str  # one of LEVELS
    score: float  # 0 (calm) to 1 (at risk of leaving)
    reasons: tuple[str, ...]  # plain words, most telling first

    @property
    def label(self) -> str:
        return LEVEL_LABELS[self.level]

    @property
    def frustrated_or_worse(self) -> bool:
        return self.level in (FRUSTRATED, AT_RISK)


def _quote(match: re.Match[str]) -> str:
    return f'"{" ".join(match.group(0).split())}"'


def _shouts(text: str) -> bool:
    for match in _SHOUT.finditer(text):
        token = match.group(0)
        if token.isalpha() and token.upper() in _NOT_SHOUT:
            continue
        return True
    return False


def threat(text: str) -> re.Match[str] | None:
    """The first threat to leave or escalate in a message that is not negated just before it
    ("I won't cancel my account", "not going to switch to @Rival")."""
    for match in _THREAT.finditer(text):
        if _NEGATION.search(text[: match.start()]) and not match.group(0).lower().startswith(
            ("never", "won", "will")
        ):
            continue
        return match
    return None


def problem(text: str) -> re.Match[str] | None:
    """The first word of a reported problem, "no problem" aside."""
    cleaned = _NOT_A_PROBLEM.sub(" ", text)
    match = _MILD.search(cleaned)
    return _MILD.search(text, match.start()) if match and cleaned == text else match


def sarcasm(texts: Sequence[str], negative: Sequence[bool]) -> tuple[str, bool] | None:
    """The last sarcastic message, quoted, and whether the sarcasm is said outright ("thanks for
    nothing"); otherwise it is thanks or praise in a message that also carries angry words, or
    that follows angry or still-waiting messages and reads as negative or reports a problem, the
    problem not said to be solved."""
    angry_before = False
    found = None
    for text, is_negative in zip(texts, negative, strict=True):
        outright = _SARCASM.search(text)
        praise = _PRAISE.search(text)
        angry_here = bool(_STRONG.search(text))
        if outright:
            found = (_quote(outright), True)
        elif (
            praise
            and not _RESOLVED.search(text)
            and (angry_here or (angry_before and (is_negative or problem(text))))
        ):
            found = (f'"{" ".join(text.split())[:60]}"', False)
        angry_before = angry_before or angry_here or bool(_STILL.search(text))
    return found


def conversation_state(
    *, turns: Sequence[CustomerTurn], repeat_contacts: int = 0
) -> ConversationState:
    """The customer's state at the end of the conversation from all of their messages.

    ``repeat_contacts``: how many other recent tickets this customer opened about the same issue.
    """
    texts = [t.text or "" for t in turns]
    reasons: list[str] = []
    points = 0.0

    threatened = None
    for text in texts:
        threatened = threat(text) or threatened
    if threatened:
        reasons.append(f"threatens to leave or escalate: {_quote(threatened)}")

    strong = [m for text in texts for m in [_STRONG.search(text)] if m]
    if strong:
        points += 1.5 if len(strong) == 1 else 2.0
        reasons.append(f"angry words: {_quote(strong[-1])}")
    mild = [m for text in texts for m in [problem(text)] if m]
    if mild:
        points += 0.75 if len(mild) == 1 else 1.0
        if not strong:
            reasons.append(f"reports a problem: {_quote(mild[-1])}")
    exposed = next((m for text in reversed(texts) for m in [_EXPOSE.search(text)] if m), None)
    if exposed:
        points += 1.5
        reasons.append(f"will tell others: {_quote(exposed)}")

    # A problem that persists or repeats is frustration by the guidelines: with any reported
    # problem it reaches LEVEL_FRUSTRATED without the model.
    still = next((m for text in reversed(texts) for m in [_STILL.search(text)] if m), None)
    if still:
        points += 1.25
        reasons.append(f"still waiting: {_quote(still)}")
    again = next((m for text in reversed(texts) for m in [_AGAIN.search(text)] if m), None)
    if again:
        points += 1.25
        reasons.append(f"not the first time: {_quote(again)}")
    elif mild:
        weak = next((m for text in reversed(texts) for m in [_AGAIN_WEAK.search(text)] if m), None)
        if weak:
            points += 0.5
            reasons.append(f"not the first time: {_quote(weak)}")
    if any(_shouts(text) for text in texts):
        points += 0.5
        reasons.append("shouting (capitals or !!!)")

    read = [t for t in turns if t.sentiment_label or t.sentiment_score is not None]
    negatives = sum(1 for t in read if t.negative)
    if negatives:
        points += 0.75 if negatives == 1 else 1.25
        reasons.append(f"{negatives} of {len(read)} messages read as negative")
    scores = [t.sentiment_score for t in turns if t.sentiment_score is not None]
    if len(scores) >= 2 and scores[-1] < scores[0] - 0.3 and read and read[-1].negative:
        points += 0.5
        reasons.append("getting more negative message by message")

    sarcastic = sarcasm(texts, [t.negative for t in turns])
    if sarcastic:
        quoted, outright = sarcastic
        # Said outright, sarcasm is frustration by itself (the labelling guidelines); read from
        # the context, it is one more sign.
        points += LEVEL_FRUSTRATED if outright else 1.0
        reasons.append(f"sarcasm: {quoted}")

    if repeat_contacts:
        points += 1.0 if repeat_contacts == 1 else 2.0
        plural = "s" if repeat_contacts > 1 else ""
        reasons.append(f"{repeat_contacts} other recent ticket{plural} about the same issue")

    last = texts[-1] if texts else ""
    resolved = (
        bool(_RESOLVED.search(last))
        and not (_STRONG.search(last) or _STILL.search(last) or _SARCASM.search(last))
        and not threat(last)
    )
    if resolved:
        # Solved and said so: at most concerned, however angry the way there.
        points = min(max(0.0, points - 2.0), LEVEL_FRUSTRATED - 0.25)
        reasons.append("says the problem is solved in the last message")

    if threatened and not resolved:
        level = AT_RISK
        score = min(1.0, 0.85 + points / 40)
    else:
        if points < LEVEL_CONCERNED:
            level = CALM
        elif points < LEVEL_FRUSTRATED:
            level = CONCERNED
        else:
            level = FRUSTRATED
        score = min(0.8, points / 5)
    if not reasons:
        reasons.append("no sign of frustration in the customer's messages")
    return ConversationState(level=level, score=round(score, 3), reasons=tuple(reasons))


def last_message_level(*, sentiment_label: str) -> str:
    """The baseline the copilot had before: the last message's sentiment alone, as the inbox's
    urgency sort used it (negative = an unhappy customer, anything else = not)."""
    return FRUSTRATED if sentiment_label == "negative" else CALM


@dataclass(frozen=True)
class AgreementScores:
    n: int
    accuracy: float
    kappa: float  # Cohen's kappa over the four levels
    frustrated_recall: float  # of the conversations labelled frustrated or at risk
    frustrated_precision: float
    confusion: dict[tuple[str, str], int]  # (gold, predicted) -> count

    def recall(self, level: str) -> float | None:
        """Of the conversations labelled ``level``, the share the signal gave that level."""
        labelled = sum(n for (g, _), n in self.confusion.items() if g == level)
        return self.confusion.get((level, level), 0) / labelled if labelled else None

    def precision(self, level: str) -> float | None:
        """Of the conversations the signal gave ``level``, the share labelled so."""
        given = sum(n for (_, p), n in self.confusion.items() if p == level)
        return self.confusion.get((level, level), 0) / given if given else None


def agreement_scores(gold: Sequence[str], predicted: Sequence[str]) -> AgreementScores:
    """Accuracy, Cohen's kappa and the recall of "frustrated or worse" of a signal's levels
    against hand labels."""
    n = len(gold)
    if n == 0 or n != len(predicted):
        raise ValueError("gold and predicted must be non-empty and of the same length")
    confusion: dict[tuple[str, str], int] = {}
    for g, p in zip(gold, predicted, strict=True):
        confusion[(g, p)] = confusion.get((g, p), 0) + 1
    observed = sum(confusion.get((level, level), 0) for level in LEVELS) / n
    expected = sum(
        (sum(1 for g in gold if g == level) / n) * (sum(1 for p in predicted if p == level) / n)
        for level in LEVELS
    )
    kappa = (observed - expected) / (1 - expected) if expected < 1 else 1.0
    bad = {FRUSTRATED, AT_RISK}
    hits = sum(1 for g, p in zip(gold, predicted, strict=True) if g in bad and p in bad)
    gold_bad = sum(1 for g in gold if g in bad)
    predicted_bad = sum(1 for p in predicted if p in bad)
    return AgreementScores(
        n=n,
        accuracy=observed,
        kappa=kappa,
        frustrated_recall=hits / gold_bad if gold_bad else 0.0,
        frustrated_precision=hits / predicted_bad if predicted_bad else 0.0,
        confusion=confusion,
    )


def _share(value: float | None) -> str:
    return "    -" if value is None else f"{value:5.0%}"


def format_agreement(name: str, scores: AgreementScores) -> str:
    per_level = "  ".join(
        f"{level} R {_share(scores.recall(level))} P {_share(scores.precision(level))}"
        for level in LEVELS
    )
    return (
        f"{name:<34} accuracy {scores.accuracy:6.1%}  kappa {scores.kappa:5.3f}  "
        f"frustrated-or-worse recall {scores.frustrated_recall:6.1%} "
        f"precision {scores.frustrated_precision:6.1%}\n{'':<34} {per_level}"
    )
