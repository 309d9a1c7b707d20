"""De-identify an agent's past reply so it can be suggested on another ticket, and fill its slots
from that ticket only.

A past reply is full of someone else's identifiers: the old customer's name and handle, the old
agent's name and initials, order numbers, e-mails, phone numbers, links. `deidentify` turns each
into a typed slot (`{customer_first_name}`, `{order_number}`, `{url}`, ...) or removes it
(signatures, thread markers, handles). `slots_fill` fills a slot only from values of the ticket
and agent at hand; a slot it cannot fill stays visible as `[order number]`, so an agent cannot
send it unnoticed. Whatever was in the old reply never reaches the new one: the filler has no
access to it.

Names are found three ways:
- what the database knows (every customer's and staff user's name and handle, passed in as
  `KnownPeople`), anywhere in the text;
- a first-name gazetteer, the person-name lists that Faker (MIT) ships for eleven Latin-script
  locales (about 8,600 first names), read offline from the installed package: a capitalised
  token from it counts as a name anywhere but at the start of a sentence;
- position, for names no list knows: a capitalised word after a greeting ("Hi Terence"), after
  a title ("Mr. Smith"), in the vocative at the end of a clause ("..., Julian."), or signing the
  reply ("^Jane", "-Becky", "Regards, Tom").
This is a gazetteer plus heuristics, not a trained recogniser: a name that is in no list and in
no such position (a rare name mid-sentence) is not found. The leak counter below is
deliberately broader than the de-identifier, so such misses are counted rather than hidden.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache

CUSTOMER_FIRST_NAME = "customer_first_name"
AGENT_NAME = "agent_name"
PERSON_NAME = "person_name"
ORDER_NUMBER = "order_number"
CARD_NUMBER = "card_number"
AMOUNT = "amount"
EMAIL = "email"
PHONE = "phone"
URL = "url"

# Faker's person providers used as the gazetteer: Latin-script locales, since the detector works
# on capitalised Latin-script tokens.
_GAZETTEER_LOCALES = (
    "en_US",
    "en_GB",
    "en_IE",
    "en_IN",
    "en_NZ",
    "es_ES",
    "fr_FR",
    "de_DE",
    "it_IT",
    "pt_BR",
    "nl_NL",
)


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Words that are first names in some list but far more often ordinary words, places or brands in
# a support reply. They count as names only in a strong position (greeting, title, vocative,
# signature, a name the database knows in full).
_COMMON_WORDS = _words(
    """
    will may june april august hope grace joy faith love chase mark bill rich page guy frank
    dean art sky sunny ray max jordan georgia india paris austin florence victoria sydney
    dallas houston virginia carolina alexa siri echo prime delta apple amazon target sprint
    virgin royal happy merry christian china summer autumn winter spring star rose lily iris
    jade ruby pearl amber crystal honey candy cookie dash don guy sandy misty dusty rocky storm
    river lane brook holly ivy sage glen dale cliff wade miles hunter carter mason taylor
    cooper baker parker tucker porter walker fisher price case chance destiny trinity genesis
    nevada dakota phoenix berlin london jersey kent lincoln washington jackson madison monroe
    hudson orlando vegas santa sierra tesla mercedes siena verona lourdes louis regal best
    edit
    english french german spanish italian portuguese chinese japanese korean dutch arabic
    russian hindi polish turkish swedish greek irish scottish welsh british american canadian
    """
)
# Capitalised words that can follow a greeting or sit in the vocative without being a name.
_NOT_NAMES = _words(
    """
    there all everyone everybody team again guys folks friend friends and you thanks thank
    please sorry cheers hello hi hey yes no ok okay sure great good morning afternoon evening
    night day today tomorrow again also too though however indeed inc ltd llc co corp plc usa
    us uk eu dm dms sir madam maam ma'am mate buddy pal support customer customers again
    welcome there's here now soon asap fyi btw lol haha omg via the a an i we our your my it
    this that these those what when where why how who which let if so but or nor for yet to of
    in on at by with from up about into over after before as is are was were be been am do does
    did have has had can could would should shall might must just only even still well oh ah
    wow absolutely certainly definitely apologies hmm noted understood gotcha awesome perfect
    enjoy regards
    """
)
_TITLES = r"(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof|Sir|Madam)\.?"
_GREETINGS = (
    r"(?:hi|hello|hey|heya|hiya|dear|good (?:morning|afternoon|evening|day)|greetings|"
    r"welcome|thanks|thank you|thx|ty|cheers|sorry)"
)
_SIGN_OFF_WORDS = (
    r"(?:thanks|thank you|many thanks|best|best wishes|kind regards|warm regards|regards|"
    r"best regards|cheers|sincerely|yours sincerely|yours|take care|all the best)"
)
# A name token: capitalised, letters with inner apostrophes or hyphens ("O'Neil", "Anne-Marie").
_NAME = r"[A-Z][a-z]+(?:['\u2019-][A-Z]?[a-z]+)*"

_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
_URL = re.compile(
    r"(?:https?://|www\.)\S+|\b(?:t\.co|bit\.ly|goo\.gl|tinyurl\.com|ow\.ly|amzn\.to|spoti\.fi|"
    r"youtu\.be|fb\.me|buff\.ly|lnkd\.in|apple\.co)/\S+",
    re.IGNORECASE,
)
_HANDLE = re.compile(r"(?<![\w@])@\w{1,30}")
# Phone numbers: +44 20 7946 0000, (800) 221-1212, 1-800-221-1212, 0800 123 4567. Seven digits
# at least, in groups; a bare run of digits is treated as a number (below), not a phone.
_PHONE = re.compile(
    r"(?<![\w+])(?:\+\d{1,3}[\s.-]?)?(?:\(\d{2,5}\)[\s.-]?|\d{1,5}[\s.-])(?:\d{2,5}[\s.-]){0,3}"
    r"\d{3,5}(?![\w])"
)
_PHONE_WORD = re.compile(
    r"(?:1[\s.-]?)?8(?:00|33|44|55|66|77|88)[\s.-]?[A-Z0-9]{3}[\s.-]?[A-Z0-9]{4}"
)
# An order/booking/reference number after a keyword: "order 123456", "ref: AB-7781", "booking
# no. X12Y9", "purchase with the number 732201349959". The token must contain a digit.
_REF_KEYWORDS = (
    r"order|orders|ref|reference|booking|ticket|case|invoice|tracking|confirmation|"
    r"reservation|shipment|parcel|receipt|claim|transaction|purchase|account|acct|membership|"
    r"member|loyalty|customer|serial|imei|record|locator|pnr|flight|incident|request|return|rma"
)
_REF_AFTER_KEYWORD = re.compile(
    rf"\b(?:{_REF_KEYWORDS})\b(?:\s+(?:with|of|for)\s+(?:the|your)?)?"
    r"(?:\s*(?:number|num|no\.?|nr\.?|id|code|#))?\s*[:#]?\s*"
    r"(?P<ref>(?=[A-Za-z0-9\-_/]*\d)[A-Za-z0-9][A-Za-z0-9\-_/]{2,}[A-Za-z0-9])",
    re.IGNORECASE,
)
_REF_AFTER_HASH = re.compile(r"(?<![\w&])#(?P<ref>(?=[\w-]*\d)[A-Za-z0-9][A-Za-z0-9\-_]{3,}\w)")
_CARD = re.compile(r"(?<![\w])\d(?:[ -]?\d){12,18}(?![\w])")
# Any other long number (five digits or more, or a code mixing letters and four digits or more)
# is someone's identifier in a reply; short numbers ("24 hours", "3 items") are kept.
_LONG_NUMBER = re.compile(r"(?<![\w$£€.,])(?=[A-Za-z0-9-]*\d{5})[A-Za-z0-9][A-Za-z0-9-]*\d\w*")
_AMOUNT = re.compile(
    r"(?:[$£€]\s?\d[\d,]*(?:\.\d{1,2})?|\b\d[\d,]*(?:\.\d{1,2})?\s?(?:EUR|USD|GBP|euros?|"
    r"dollars?|pounds)\b)",
    re.IGNORECASE,
)
# Bitext-style template placeholders: {{Order Number}}, {{Customer Support Phone Number}}.
_TEMPLATE_PLACEHOLDER = re.compile(r"\{\{\s*([^{}]{1,60}?)\s*\}\}")
_PLACEHOLDER_SLOTS = {
    "order number": ORDER_NUMBER,
    "order id": ORDER_NUMBER,
    "invoice number": ORDER_NUMBER,
    "tracking number": ORDER_NUMBER,
    "reference number": ORDER_NUMBER,
    "customer support phone number": PHONE,
    "customer support email": EMAIL,
    "website url": URL,
    "client first name": CUSTOMER_FIRST_NAME,
    "customer first name": CUSTOMER_FIRST_NAME,
    "client name": CUSTOMER_FIRST_NAME,
    "person name": PERSON_NAME,
}
_SLOT = re.compile(r"\{([a-z][a-z_]{0,40})\}")

# Signatures and thread markers at the end of a reply: "^JK", "*SR", "-Becky", "/DC",
# "~Tom", "^Jane 2/2", "*TJN 2/2". A caret, slash or tilde is never anything else at the very
# end; after * or a dash, initials or one capitalised word.
_THREAD_MARKER = r"\(?\d{1,2}/\d{1,2}\)?"
_TRAILING_SIGNATURE = re.compile(
    rf"(?:\s*{_THREAD_MARKER})?\s*(?:[\^~/]\s*[A-Za-z][A-Za-z.]{{0,30}}(?:\s[A-Z]\.?)?|"
    rf"(?:\*|-|\u2013|\u2014)\s*(?:[A-Z]{{1,4}}|(?:[A-Z][a-z]+){{1,3}}|[A-Z][A-Za-z]{{1,4}}))"
    rf"(?:\s*{_THREAD_MARKER})?\s*$"
)
# Bare initials closing a reply, without a sign ("... assistance: {url} HRB"); a closing
# abbreviation that is a word of its own is kept.
_TRAILING_INITIALS = re.compile(
    r"(?<=[\s.!?}])(?!(?:DM|US|UK|EU|OK|USA|FAQ|PM|AM|TV|PC|ID)\b)"
    r"[A-Z]{2,3}\s*$"
)
# A name alone after the last sentence: "... the right product here? Robbie".
_TRAILING_NAME = re.compile(rf"(?<=[.!?])\s+(?P<name>{_NAME})\s*$")
_THREAD_MARKER_EDGE = re.compile(rf"^\s*{_THREAD_MARKER}\s+|\s+{_THREAD_MARKER}\s*$")
_SIGN_OFF_LINE = re.compile(
    rf"(?:^|\n|(?<=[.!?])\s+)\s*{_SIGN_OFF_WORDS}\s*[,.!-]*\s*\n?\s*"
    rf"(?:{_NAME}(?:\s+{_NAME})?|[A-Z]{{1,4}})\.?\s*$",
    re.IGNORECASE,
)
_SELF_INTRO = re.compile(
    rf"\b(?P<lead>(?:(?P<strong>(?i:my name is|my name's|this is))|I am|I'm|I\u2019m)\s+)"
    rf"(?P<name>{_NAME})(?=\s+(?:from|with|here|on)\b|\s*[,.!])"
)
# After a greeting, a name or a handle written without "@" ("Hi user0222.").
_GREETING_NAME = re.compile(
    rf"\b(?P<lead>{_GREETINGS}[ \t]*,?[ \t]+)"
    rf"(?P<name>{_NAME}(?:[ \t]+{_NAME})?|[A-Za-z_]+\d\w*)"
    rf"(?=\s*[,.!?:;]|\s*$|\s+(?:and|&)\b)",
    re.IGNORECASE,
)
_TITLE_NAME = re.compile(rf"\b(?P<lead>{_TITLES}\s+)(?P<name>{_NAME}(?:\s+{_NAME})?)")
_VOCATIVE = re.compile(
    rf"(?P<lead>,[ \t]*)(?P<name>{_NAME}(?:[ \t]+{_NAME})?)(?P<tail>\s*(?:[.!?:;)]|$))"
)
_LEADING_VOCATIVE = re.compile(rf"(?:^|(?<=[.!?]\s))(?P<name>{_NAME})(?=,\s)")
_CAPITALISED = re.compile(rf"(?<![\w@#{{\[])(?P<name>{_NAME})(?![\w}}\]])")


@dataclass(frozen=True)
class KnownPeople:
    """Names and handles the database knows: every customer's and staff user's.

    Built by the Django side; `names` are the single name words (first and last names),
    `handles` without the "@", all compared case-insensitively.
    """

    names: frozenset[str] = frozenset()
    handles: frozenset[str] = frozenset()

    @classmethod
    def from_records(cls, *, full_names: Iterable[str], handles: Iterable[str] = ()) -> KnownPeople:
        words = {
            w.lower()
            for full in full_names
            for w in re.findall(r"[A-Za-z][A-Za-z'\u2019-]+", full or "")
            if len(w) > 1
        }
        return cls(
            names=frozenset(words),
            # Shorter handles ("42") would turn ordinary numbers and words into names.
            handles=frozenset(h.lstrip("@").lower() for h in handles if len(h.strip("@")) >= 4),
        )


@dataclass(frozen=True)
class Deidentified:
    text: str
    slots: tuple[str, ...]
    removed: tuple[str, ...] = field(default=())


@lru_cache(maxsize=1)
def first_name_gazetteer() -> frozenset[str]:
    """Lower-cased first names from Faker's person providers (loaded once per process)."""
    importlib.import_module("faker")  # a runtime dependency: fail here, not silently
    names: set[str] = set()
    for locale in _GAZETTEER_LOCALES:
        try:
            provider = importlib.import_module(f"faker.providers.person.{locale}").Provider
        except ImportError:  # pragma: no cover - a Faker without this locale
            continue
        for attr in ("first_names", "first_names_male", "first_names_female"):
            values = getattr(provider, attr, ())
            names.update(v.lower() for v in values if isinstance(v, str) and v.isalpha())
    return frozenset(names)


def _base(word: str) -> str:
    """The name without a possessive: "Shawn's" → "shawn"."""
    return re.sub(r"['\u2019]s$", "", word).lower()


def _is_known_name(word: str, known: KnownPeople, *, strong: bool) -> bool:
    low = _base(word)
    if low in _NOT_NAMES:
        return False
    if strong:
        return True
    if low in _COMMON_WORDS:
        return False
    return low in known.names or low in first_name_gazetteer()


def _slot(name: str) -> str:
    return "{" + name + "}"


def _placeholder_slot(label: str) -> str:
    key = re.sub(r"\s+", " ", label.strip().lower())
    if key in _PLACEHOLDER_SLOTS:
        return _PLACEHOLDER_SLOTS[key]
    return re.sub(r"[^a-z0-9]+", "_", key).strip("_")[:40] or "detail"


def deidentify(text: str, *, known: KnownPeople | None = None) -> Deidentified:
    """The reply with every identifier replaced by a typed slot or removed."""
    known = known or KnownPeople()
    slots: list[str] = []
    removed: list[str] = []

    def put(slot: str) -> str:
        slots.append(slot)
        return _slot(slot)

    body = text.replace("\r\n", "\n")
    # Literal braces of the old reply must not pose as slots.
    body = body.replace("{{", "\x00").replace("}}", "\x01")
    body = body.replace("{", "(").replace("}", ")")
    body = body.replace("\x00", "{{").replace("\x01", "}}")
    body = _TEMPLATE_PLACEHOLDER.sub(lambda m: put(_placeholder_slot(m.group(1))), body)

    # Links and addresses first: they contain digits, @ and capitals the later rules would split.
    body = _URL.sub(lambda m: _keep_trailing_punct(m.group(0), put(URL)), body)
    body = _EMAIL.sub(lambda m: put(EMAIL), body)

    def drop_handle(m: re.Match[str]) -> str:
        removed.append("handle")
        return ""

    body = _HANDLE.sub(drop_handle, body)
    body = _PHONE_WORD.sub(lambda m: put(PHONE), body)
    body = _REF_AFTER_KEYWORD.sub(lambda m: _replace_group(m, "ref", put(ORDER_NUMBER)), body)
    body = _REF_AFTER_HASH.sub(lambda m: "#" + put(ORDER_NUMBER), body)
    body = _CARD.sub(lambda m: put(CARD_NUMBER), body)
    body = _PHONE.sub(lambda m: _phone_or_keep(m.group(0), put), body)
    body = _AMOUNT.sub(lambda m: put(AMOUNT), body)
    body = _LONG_NUMBER.sub(lambda m: put(ORDER_NUMBER), body)

    # Signatures, thread markers and sign-off lines at the end; repeated because a reply can end
    # with several ("... Thanks, Tom ^TR 2/2").
    for _ in range(3):
        before = body
        body = body.rstrip()
        body = _TRAILING_SIGNATURE.sub("", body)
        body = _SIGN_OFF_LINE.sub("", body)
        body = _TRAILING_INITIALS.sub("", body)
        # A lone capitalised word after the last sentence, with no punctuation of its own, is a
        # signature whether or not a list knows the name ("... a great time. Maclaine").
        body = _TRAILING_NAME.sub(
            lambda m: m.group(0) if m.group("name").lower() in _NOT_NAMES else "", body
        )
        body = _THREAD_MARKER_EDGE.sub(" ", body)
        if body == before:
            break
    if body != text.strip():
        removed.append("signature or thread marker")

    # Names, strongest position first.
    body = _SELF_INTRO.sub(
        lambda m: (
            m.group("lead") + put(AGENT_NAME)
            if _is_known_name(m.group("name"), known, strong=bool(m.group("strong")))
            else m.group(0)
        ),
        body,
    )
    body = _GREETING_NAME.sub(lambda m: _greeting_sub(m, known, put), body)
    body = _TITLE_NAME.sub(lambda m: m.group("lead") + put(PERSON_NAME), body)
    body = _VOCATIVE.sub(lambda m: _vocative_sub(m, known, put), body)
    body = _LEADING_VOCATIVE.sub(
        lambda m: (
            put(CUSTOMER_FIRST_NAME)
            if _is_known_name(m.group("name"), known, strong=False)
            else m.group(0)
        ),
        body,
    )
    body = _CAPITALISED.sub(lambda m: _anywhere_sub(m, body, known, put), body)
    # Handles the database knows, also written without "@" ("thanks 115818").
    if known.handles:
        body = re.sub(
            r"(?<![\w{])(\w+)(?![\w}])",
            lambda m: put(PERSON_NAME) if m.group(1).lower() in known.handles else m.group(0),
            body,
        )

    body = _tidy(body)
    return Deidentified(
        text=body, slots=tuple(dict.fromkeys(slots)), removed=tuple(dict.fromkeys(removed))
    )


def _keep_trailing_punct(url: str, replacement: str) -> str:
    stripped = url.rstrip(".,!?;:)'\"")
    return replacement + url[len(stripped) :]


def _replace_group(match: re.Match[str], group: str, replacement: str) -> str:
    start, end = match.span(group)
    whole_start = match.start()
    text = match.group(0)
    return text[: start - whole_start] + replacement + text[end - whole_start :]


def _phone_or_keep(candidate: str, put: Callable[[str], str]) -> str:
    digits = sum(ch.isdigit() for ch in candidate)
    if digits >= 7:
        return put(PHONE)
    return candidate


def _greeting_sub(match: re.Match[str], known: KnownPeople, put: Callable[[str], str]) -> str:
    words = match.group("name").split()
    if words[0].lower() in _NOT_NAMES:
        return match.group(0)
    # "Hi Sam Smith" → one slot; "Thanks Sam Support" keeps the second word when it is no name.
    return match.group("lead") + (put(CUSTOMER_FIRST_NAME))


def _vocative_sub(match: re.Match[str], known: KnownPeople, put: Callable[[str], str]) -> str:
    words = match.group("name").split()
    first = words[0]
    if first.lower() in _NOT_NAMES:
        return match.group(0)
    if len(words) == 1 or first.lower() in known.names or first.lower() in first_name_gazetteer():
        return match.group("lead") + (put(CUSTOMER_FIRST_NAME)) + match.group("tail")
    return match.group(0)


def _anywhere_sub(
    match: re.Match[str], body: str, known: KnownPeople, put: Callable[[str], str]
) -> str:
    word = match.group("name")
    start = match.start()
    before = body[max(0, start - 8) : start].rstrip(" \t\"'(")
    sentence_start = not before or before[-1] in ".!?:\n"
    low = _base(word)
    in_database = low in known.names
    if low in _NOT_NAMES:
        return word
    if in_database and low not in _COMMON_WORDS:
        return put(PERSON_NAME)
    if sentence_start:
        return word
    if _is_known_name(word, known, strong=False):
        return put(PERSON_NAME)
    return word


def _tidy(body: str) -> str:
    body = re.sub(r"[ \t]+([,.!?;:])", r"\1", body)
    body = re.sub(r"\(\s*\)", "", body)
    body = re.sub(r"[ \t]{2,}", " ", body)
    body = re.sub(r"\n{3,}", "\n\n", body)
    body = "\n".join(line.strip() for line in body.split("\n")).strip()
    body = body.lstrip(",.;: ")
    if body and body[0].islower():
        body = body[0].upper() + body[1:]
    return body


def amounts_in(text: str) -> tuple[str, ...]:
    """Money amounts written in `text` ("$120", "45.50 EUR"), without duplicates."""
    return tuple(dict.fromkeys(m.group(0) for m in _AMOUNT.finditer(text)))


def slot_label(slot: str) -> str:
    """How an unfilled slot is shown: `[order number]`."""
    return "[" + slot.replace("_", " ") + "]"


SLOTS = (
    CUSTOMER_FIRST_NAME,
    AGENT_NAME,
    PERSON_NAME,
    ORDER_NUMBER,
    CARD_NUMBER,
    AMOUNT,
    EMAIL,
    PHONE,
    URL,
)
_MARKER = re.compile(r"\[(?:" + "|".join(s.replace("_", " ") for s in SLOTS) + r")\]")


def markers_in(text: str) -> tuple[str, ...]:
    """The unfilled-slot markers (`[order number]`) still in `text`, without duplicates."""
    return tuple(dict.fromkeys(m.group(0) for m in _MARKER.finditer(text)))


def marker_spans(text: str) -> list[tuple[str, bool]]:
    """`text` cut into pieces, each marked True when it is an unfilled-slot marker."""
    pieces: list[tuple[str, bool]] = []
    last = 0
    for m in _MARKER.finditer(text):
        if m.start() > last:
            pieces.append((text[last : m.start()], False))
        pieces.append((m.group(0), True))
        last = m.end()
    if last < len(text):
        pieces.append((text[last:], False))
    return pieces


def draft_sign(text: str, *, agent_name: str, filled_name: str = "") -> str:
    """The draft as this agent sends it: `[agent name]` (or `{agent_name}`) filled with the
    agent's name, and the name added as a sign-off when the draft does not end with it.

    `filled_name` is the name the draft was filled with when it was written (the ticket's
    assignee): a sign-off with that name at the very end becomes this agent's.
    """
    name = agent_name.strip()
    if not name or not text.strip():
        return text
    marker = slot_label(AGENT_NAME)
    signed = text.replace(marker, name).replace("{" + AGENT_NAME + "}", name).rstrip()
    other = filled_name.strip()
    if other and other != name and signed.endswith(other):
        signed = signed[: -len(other)] + name
    if not signed.endswith(name):
        signed += "\n\n" + name
    return signed


def slots_fill(template: str, *, values: Mapping[str, str | None]) -> tuple[str, tuple[str, ...]]:
    """Fill `{slot}`s from `values` (this ticket's and this agent's only); returns the text and
    the slots left unfilled, which stay visible as `[slot name]`."""
    unfilled: list[str] = []

    def fill(m: re.Match[str]) -> str:
        value = (values.get(m.group(1)) or "").strip()
        if value:
            return value
        unfilled.append(m.group(1))
        return slot_label(m.group(1))

    return _SLOT.sub(fill, template), tuple(dict.fromkeys(unfilled))


# --- Leak check ---------------------------------------------------------------------------------

# Times ("07:30-20:00") are not identifiers: a digit run next to ":" is skipped.
_LEAK_NUMBER = re.compile(r"(?<![\w.:])\d[\d\s-]{2,}\d(?![\w:])|\b[A-Za-z-]*\d{4,}[A-Za-z\d-]*\b")
_YEAR = re.compile(r"^(?:19|20)\d\d$")


def identifier_leaks(
    text: str,
    *,
    allowed_text: str,
    allowed_names: Iterable[str],
    known: KnownPeople | None = None,
) -> tuple[str, ...]:
    """Identifiers in `text` that do not come from `allowed_text` (this ticket's messages) or
    `allowed_names` (this ticket's customer, this agent): person names, handles, e-mails,
    phone and other numbers of four digits or more, URLs.

    Broader than `deidentify` on purpose: a capitalised word from the gazetteer or the database
    counts as a name even at the start of a sentence, so the count errs towards false alarms.
    """
    known = known or KnownPeople()
    allowed_lower = allowed_text.lower()
    allowed_words = {w.lower() for n in allowed_names for w in re.findall(r"[A-Za-z'-]+", n)}
    allowed_words |= {w.lower() for w in re.findall(r"[A-Za-z'-]+", allowed_text)}
    leaks: list[str] = []
    for pattern in (_URL, _EMAIL, _HANDLE):
        for m in pattern.finditer(text):
            if m.group(0).lower() not in allowed_lower:
                leaks.append(m.group(0))
    for m in _LEAK_NUMBER.finditer(text):
        token = m.group(0).strip()
        digits = re.sub(r"\D", "", token)
        if len(digits) < 4 or _YEAR.match(token):
            continue
        if digits in re.sub(r"\D", "", allowed_text) or token.lower() in allowed_lower:
            continue
        if any(token in leak for leak in leaks):
            continue
        leaks.append(token)
    gazetteer = first_name_gazetteer()
    for m in _CAPITALISED.finditer(text):
        word = m.group("name")
        low = _base(word)
        if low in allowed_words or low in _NOT_NAMES or low in _COMMON_WORDS:
            continue
        if low in known.names or low in gazetteer:
            leaks.append(word)
    trailing = _TRAILING_NAME.search(text)
    if trailing and _base(trailing.group("name")) not in allowed_words | _NOT_NAMES:
        leaks.append(trailing.group("name"))
    for m in _TITLE_NAME.finditer(text):
        if m.group("name").split()[0].lower() not in allowed_words:
            leaks.append(m.group(0))
    return tuple(dict.fromkeys(leaks))
