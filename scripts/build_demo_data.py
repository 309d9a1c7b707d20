#!/usr/bin/env python3
"""Build the committed demo data set ``data/demo/tickets.jsonl``.

Maintainer tool, run once by hand; nothing imports it at run time. The output
file is committed, so the application never needs ``/work/shared`` (or any
other copy of the public data sets) to run.

It reads three public data sets (see ``data/demo/README.md`` for provenance and
licences) and turns them into support tickets in one JSON Lines file:

* TWCS (Customer Support on Twitter): real threads rebuilt from
  ``twcs_head5000.csv`` and ``twcs_kaggle_sample_93.csv`` by following
  ``in_response_to_tweet_id``.
* Bitext customer-support (4,514-row release): a stratified sample over all
  27 intents; ``{{placeholders}}`` in the replies are filled with plausible values.
* IBM Twitter CDP ``dev.json``: 525 conversations, each resolved by an agent
  message with a support-article URL. Twitter handles, @mentions, e-mail
  addresses and profile-like links are pseudonymised.

Customer names, e-mails, segments, sign-up dates and spend are synthetic
(Faker, seeded). Everything is deterministic: the same inputs and the same
Faker version give a byte-identical file.

Usage (from the repository root)::

    .venv/bin/python scripts/build_demo_data.py            # --source ../shared/data
    .venv/bin/python scripts/build_demo_data.py --source /path/to/data --out data/demo/tickets.jsonl
    .venv/bin/python scripts/build_demo_data.py --check-only   # validate the existing file

Dependencies: the standard library and Faker.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import random
import re
import sys
import unicodedata
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

from faker import Faker

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SOURCE = REPO_ROOT / ".." / "shared" / "data"
DEFAULT_OUT = REPO_ROOT / "data" / "demo" / "tickets.jsonl"

SEED = 20261101
# Bitext rows have no dates: they are spread over the 90 days before this instant.
BITEXT_END = datetime(2026, 11, 1, tzinfo=UTC)
BITEXT_DAYS = 90
BITEXT_PER_INTENT = 74  # 27 intents x 74 = 1,998 rows
BITEXT_NEW_SHARE = 0.25  # "new" tickets holding only the customer message
BITEXT_NEW_RECENT_DAYS = 14  # unanswered tickets are the recent ones
CLOSED_SHARE = 0.2  # of the resolved tickets, this share is "closed", the rest "solved"
REPEAT_CUSTOMER_SHARE = 0.15  # Bitext: share of tickets that reuse an earlier synthetic customer

# sha256 of the inputs, as given by the READMEs in the data folders.
SOURCE_FILES = {
    "twcs_customer_support_twitter/twcs_head5000.csv": (
        "724b8b7a084adc82e1f1e58a3f86ce9fd51aeef2d5dd284fec361571d2da644a"
    ),
    "twcs_customer_support_twitter/twcs_kaggle_sample_93.csv": (
        "8167aa0372c1b7a3cdff2d0f2d2f7d8a605d0615d4887a54981bc82d8c30e0ac"
    ),
    "bitext_customer_support/bitext_customer_support_4514.csv": (
        "079b0cec48d34c319c9877b6d178390bf7187a7f7a604958e0ed5a096bba5af6"
    ),
    "twitter_cdp_ibm/dev.json": (
        "5d42ec6f900d81c6e803e4bd7b1f4a07697fed96ed61792d5ced72f634c348dc"
    ),
}

CHANNELS = {"email", "chat", "social", "phone", "api"}
STATUSES = {"new", "open", "pending", "solved", "closed"}
PRIORITIES = {"low", "normal", "high", "urgent"}
SEGMENTS = {"standard", "vip", "new", "at_risk"}
ORDERS = "Orders & Delivery"
BILLING = "Billing & Payments"
ACCOUNTS = "Accounts & Technical"
TEAMS = {ORDERS, BILLING, ACCOUNTS}

# --------------------------------------------------------------------------- teams

BITEXT_CATEGORY_TEAM = {
    "ORDER": ORDERS,
    "DELIVERY": ORDERS,
    "SHIPPING_ADDRESS": ORDERS,
    "PAYMENT": BILLING,
    "REFUND": BILLING,
    "INVOICE": BILLING,
    "CANCELLATION_FEE": BILLING,
    "ACCOUNT": ACCOUNTS,
    "CONTACT": ACCOUNTS,
    "FEEDBACK": ACCOUNTS,
    "NEWSLETTER": ACCOUNTS,
}

# Retailers, food, airlines, hotels, transport, delivery -> Orders & Delivery;
# telecoms, cable/ISP, banks, payments -> Billing & Payments;
# tech, software, games, streaming, cloud -> Accounts & Technical.
BRAND_TEAM = {
    # Orders & Delivery
    **{
        b: ORDERS
        for b in (
            "AirAsiaSupport",
            "AirbnbHelp",
            "AlaskaAir",
            "AldiUK",
            "AmazonHelp",
            "AmericanAir",
            "ArgosHelpers",
            "AskLyft",
            "AskPapaJohns",
            "AskTarget",
            "AskeBay",
            "British_Airways",
            "ChipotleTweets",
            "Delta",
            "DoorDash_Help",
            "DunkinDonuts",
            "GWRHelp",
            "IHGService",
            "JetBlue",
            "Kimpton",
            "LondonMidland",
            "McDonalds",
            "Morrisons",
            "NeweggService",
            "NikeSupport",
            "Postmates_Help",
            "SW_Help",
            "SouthwestAir",
            "Tesco",
            "TfL",
            "UPSHelp",
            "Uber_Support",
            "VirginAmerica",
            "VirginAtlantic",
            "VirginTrains",
            "Walmart",
            "askpanera",
            "marksandspencer",
            "nationalrailenq",
            "sainsburys",
        )
    },
    # Billing & Payments
    **{
        b: BILLING
        for b in (
            "AskAmex",
            "AskCiti",
            "AskPayPal",
            "Ask_Spectrum",
            "Ask_WellsFargo",
            "BofA_Help",
            "BoostCare",
            "CenturyLinkHelp",
            "ChaseSupport",
            "CoxHelp",
            "GloCare",
            "O2",
            "Safaricom_Care",
            "TMobileHelp",
            "USCellularCares",
            "VerizonSupport",
            "airtel_care",
            "comcastcares",
            "idea_cares",
            "sprintcare",
        )
    },
    # Accounts & Technical
    **{
        b: ACCOUNTS
        for b in (
            "ATVIAssist",
            "AdobeCare",
            "AppleSupport",
            "AskPlayStation",
            "AsurionCares",
            "AzureSupport",
            "DropboxSupport",
            "GoDaddyHelp",
            "Google",
            "HPSupport",
            "JackBox",
            "MicrosoftHelps",
            "MojangSupport",
            "RockstarSupport",
            "SpotifyCares",
            "TeamYouTube",
            "XboxSupport",
            "YahooCare",
            "asksalesforce",
            "hulu_support",
            "zoom_us",
        )
    },
}

# Faker locale for the synthetic name of a brand's customers (default en_US).
BRAND_LOCALE = {
    **{
        b: "en_GB"
        for b in (
            "AldiUK",
            "ArgosHelpers",
            "British_Airways",
            "GWRHelp",
            "LondonMidland",
            "Morrisons",
            "O2",
            "SW_Help",
            "Tesco",
            "TfL",
            "VirginAtlantic",
            "VirginTrains",
            "marksandspencer",
            "nationalrailenq",
            "sainsburys",
        )
    },
    **{b: "en_IN" for b in ("airtel_care", "idea_cares")},
}

# --------------------------------------------------------------------------- helpers


def stable_int(*parts: object) -> int:
    """A hash that does not change between runs (unlike ``hash()``)."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big")


def rng_for(*parts: object) -> random.Random:
    return random.Random(stable_int(SEED, *parts))


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat()


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def untwitter(text: str) -> str:
    """Undo Twitter's own HTML escaping (&amp; &lt; &gt;), so bodies hold what was typed."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


MENTION_RE = re.compile(r"(?<![A-Za-z0-9_@])@[A-Za-z0-9_]{1,15}\b")
URL_RE = re.compile(r"https?:\s?//\S+")
# A sentence ends at . ! ? or … followed by a space, unless a digit follows ("Nov. 3").
SENTENCE_END_RE = re.compile(r"(?<=[.!?…])\s+(?=[^\s\d])")
LEADING_MENTIONS_RE = re.compile(r"^(\s*@[A-Za-z0-9_]{1,15}\b[\s,:]*)+")
TRAILING_MENTIONS_RE = re.compile(r"([\s,]*@[A-Za-z0-9_]{1,15}\b\s*)+$")


def make_subject(text: str, fallback: str) -> str:
    """First sentence (or line) of the first customer message, @mentions and links removed."""
    cleaned = URL_RE.sub(" ", text)
    lines = []
    for ln in cleaned.splitlines():
        # Addressing mentions at either end go; a brand named inside the sentence
        # ("Dawg, @Yahoo has...") keeps its name without the "@"; an anonymised
        # account (@115712, @user0042) inside the sentence is dropped.
        ln = TRAILING_MENTIONS_RE.sub("", LEADING_MENTIONS_RE.sub("", ln))
        ln = MENTION_RE.sub(
            lambda m: "" if re.fullmatch(r"@(\d+|user\d{4})", m.group(0)) else m.group(0)[1:], ln
        )
        ln = re.sub(r"\s+", " ", ln)
        ln = re.sub(r"\s+([,.!?;:])(?=\s|$)", r"\1", ln).strip(" -\u2013\u2014:,;")
        lines.append(ln)
    lines = [ln for ln in lines if re.search(r"\w", ln)]
    if not lines:
        return fallback
    sentences = [s.strip() for s in SENTENCE_END_RE.split(lines[0]) if s.strip()]
    subject = sentences[0]
    i = 1
    # "Hi." / "Hello there!" alone make a poor subject: take the next sentence too.
    while (len(subject) < 15 or len(subject.split()) < 3) and i < len(sentences):
        subject = f"{subject} {sentences[i]}"
        i += 1
    if (len(subject) < 15 or len(subject.split()) < 3) and len(lines) > 1:
        subject = f"{subject} {lines[1]}"
    subject = subject.strip()
    if len(subject) > 200:
        cut = subject[:199]
        if " " in cut[120:]:
            cut = cut[: cut.rindex(" ")]
        subject = cut.rstrip(" ,;:-") + "…"
    if not re.search(r"\w", subject):
        return fallback
    return subject[0].upper() + subject[1:]


# --------------------------------------------------------------------------- priority

URGENT_RE = re.compile(
    r"\b(urgent(ly)?|emergency|asap|a\.s\.a\.p|immediately|right away|fraud(ulent)?|stolen|"
    r"hacked|scam(med)?|unauthori[sz]ed|identity theft|lawsuit|lawyer|attorney|stranded|"
    r"locked out|still waiting|no ?one (is )?(responding|answering|replying)|for hours)\b",
    re.I,
)
ANGRY_RE = re.compile(
    r"\b(worst|terrible|horrible|awful|ridiculous|unacceptable|disgusting|disgrace(ful)?|pathetic|"
    r"useless|furious|angry|pissed|f+u+c+k\w*|wtf|shit\w*|crap(py)?|damn(ed)?|bloody|hate|"
    r"incompetent|rubbish|joke|never again|sick of|fed up|rip ?off|screw(ed)?|garbage|trash|"
    r"annoy(ed|ing)|frustrat(ed|ing))\b|[😡🤬😤👎💩]",
    re.I,
)
POSITIVE_RE = re.compile(
    r"\b(thanks?|thank you|thx|ty|love|great|awesome|amazing|appreciate[ds]?|kudos|shout ?out|"
    r"brilliant|excellent|fantastic|perfect|best)\b|[👍❤😍🙌🙏😊🎉]",
    re.I,
)
PROBLEM_RE = re.compile(
    r"\b(not|no|never|can'?t|cannot|won'?t|didn'?t|doesn'?t|isn'?t|wasn'?t|haven'?t|problem|issue|"
    r"error|broken|help|why|still|wrong|missing|late|delay(ed)?|cancel(led)?|refund|charged|bad|"
    r"poor|disappointed|disappointing)\b|\?",
    re.I,
)
CAPS_RE = re.compile(r"\b[A-Z]{4,}\b")
LOW_INTENTS = {"review", "newsletter_subscription"}


def compute_priority(texts: list[str], intent: str = "") -> str:
    """Deterministic priority from the customer's own words."""
    text = "\n".join(MENTION_RE.sub(" ", URL_RE.sub(" ", t)) for t in texts)
    urgent = len(URGENT_RE.findall(text))
    angry = len(ANGRY_RE.findall(text))
    shouting = (
        "!!!" in text or len([w for w in CAPS_RE.findall(text) if w not in {"ASAP", "HTTPS"}]) >= 2
    )
    if shouting and not (urgent or angry) and POSITIVE_RE.search(text):
        shouting = False  # "Thank you!!!" is enthusiasm, not escalation
    if (urgent and (angry or shouting)) or angry >= 3 or (angry >= 2 and shouting):
        return "urgent"
    if urgent or angry or shouting:
        return "high"
    if intent in LOW_INTENTS:
        return "low"
    if POSITIVE_RE.search(text) and not PROBLEM_RE.search(text):
        return "low"
    return "normal"


# --------------------------------------------------------------------------- customers

FAKERS: dict[str, Faker] = {}
EMAIL_DOMAINS = ("example.com", "example.net", "example.org")  # RFC 2606: never real mailboxes


def faker_for(locale: str) -> Faker:
    if locale not in FAKERS:
        FAKERS[locale] = Faker(locale)
    return FAKERS[locale]


def ascii_slug(s: str) -> str:
    s = unicodedata.normalize("NFKD", s).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z]", "", s.lower()) or "user"


class CustomerBook:
    """Synthetic, seeded customer profiles, one per real (or synthetic) author."""

    def __init__(self) -> None:
        self.first_seen: dict[str, datetime] = {}
        self.locale: dict[str, str] = {}
        self.heated: Counter[str] = Counter()  # high/urgent tickets per customer
        self.names: dict[str, tuple[str, str]] = {}
        self.emails: dict[str, str] = {}
        self._used_emails: set[str] = set()

    def register(self, cid: str, when: datetime, locale: str = "en_US") -> None:
        if cid not in self.first_seen or when < self.first_seen[cid]:
            self.first_seen[cid] = when
        self.locale.setdefault(cid, locale)

    def name(self, cid: str) -> str:
        if cid not in self.names:
            fk = faker_for(self.locale.get(cid, "en_US"))
            fk.seed_instance(stable_int(SEED, "name", cid))
            self.names[cid] = (fk.first_name(), fk.last_name())
        first, last = self.names[cid]
        return f"{first} {last}"

    def email(self, cid: str) -> str:
        if cid not in self.emails:
            self.name(cid)
            first, last = (ascii_slug(p) for p in self.names[cid])
            rng = rng_for("email", cid)
            local = rng.choice(
                [
                    f"{first}.{last}",
                    f"{first}{last}",
                    f"{first[0]}.{last}",
                    f"{first}_{last}",
                    f"{first}.{last}{rng.randint(1, 99)}",
                    f"{first}{rng.randint(70, 99)}",
                ]
            )
            domain = rng.choice(EMAIL_DOMAINS)
            candidate, n = f"{local}@{domain}", 1
            while candidate in self._used_emails:
                n += 1
                candidate = f"{local}{n}@{domain}"
            self._used_emails.add(candidate)
            self.emails[cid] = candidate
        return self.emails[cid]

    def profile(self, cid: str) -> dict:
        rng = rng_for("profile", cid)
        first = self.first_seen[cid]
        weights = {"standard": 60, "vip": 12, "new": 15, "at_risk": 13}
        if self.heated[cid]:
            weights["at_risk"] = 45
        segment = rng.choices(list(weights), weights=list(weights.values()))[0]
        if segment == "new":
            signup = first - timedelta(days=rng.randint(1, 45))
            orders = rng.randint(0, 2)
            spend = 0.0 if orders == 0 else rng.uniform(9, 180) * orders
        elif segment == "vip":
            signup = first - timedelta(days=rng.randint(700, 3200))
            orders = rng.randint(25, 140)
            spend = rng.uniform(2500, 18000)
        elif segment == "at_risk":
            signup = first - timedelta(days=rng.randint(200, 2500))
            orders = rng.randint(2, 30)
            spend = rng.uniform(30, 110) * orders
        else:
            signup = first - timedelta(days=rng.randint(90, 2800))
            orders = rng.randint(1, 30)
            spend = rng.uniform(15, 90) * orders
        return {
            "external_id": cid,
            "name": self.name(cid),
            "email": self.email(cid),
            "segment": segment,
            "signup_date": signup.date().isoformat(),
            "lifetime_spend": f"{spend:.2f}",
            "order_count": orders,
        }


def resolved_status(*key: object) -> str:
    return "closed" if rng_for("closed", *key).random() < CLOSED_SHARE else "solved"


# --------------------------------------------------------------------------- TWCS

TWCS_FILES = ("twcs_head5000.csv", "twcs_kaggle_sample_93.csv")
TWCS_TIME = "%a %b %d %H:%M:%S %z %Y"
# The company's last word asks the customer to move to DMs / send details: waiting on them.
AWAITING_CUSTOMER_RE = re.compile(
    r"\b(DM|DMs|DM'd|direct message|private message|send (us|me) a (PM|message)|message us|"
    r"PM us|inbox us)\b",
    re.I,
)


def build_twcs(source: Path, book: CustomerBook) -> tuple[list[dict], Counter]:
    tickets: list[dict] = []
    skipped: Counter = Counter()
    brand_by_lower = {b.lower(): b for b in BRAND_TEAM}
    for fname in TWCS_FILES:
        with (source / "twcs_customer_support_twitter" / fname).open(
            encoding="utf-8", newline=""
        ) as fh:
            rows = list(csv.DictReader(fh))
        by_id = {r["tweet_id"]: r for r in rows}
        children: dict[str, list[str]] = defaultdict(list)
        for r in rows:
            if r["in_response_to_tweet_id"]:
                children[r["in_response_to_tweet_id"]].append(r["tweet_id"])
        openers = [r for r in rows if r["inbound"] == "True" and not r["in_response_to_tweet_id"]]
        for opener in openers:
            thread, stack = [], [opener["tweet_id"]]
            while stack:
                tid = stack.pop()
                thread.append(by_id[tid])
                stack.extend(children.get(tid, []))
            customers = {r["author_id"] for r in thread if r["inbound"] == "True"}
            companies = {r["author_id"] for r in thread if r["inbound"] == "False"}
            if len(customers) > 1:
                skipped["twcs: several customers in one thread"] += 1
                continue
            if len(companies) > 1:
                skipped["twcs: several companies in one thread"] += 1
                continue
            for r in thread:
                r["_dt"] = datetime.strptime(r["created_at"], TWCS_TIME)
            thread.sort(key=lambda r: (r["_dt"], int(r["tweet_id"])))
            if thread[0] is not opener:
                skipped["twcs: opener is not the earliest tweet"] += 1
                continue
            if companies:
                brand = next(iter(companies))
            else:  # nobody answered: take the brand the customer addressed
                brand = next(
                    (
                        brand_by_lower[m[1:].lower()]
                        for m in MENTION_RE.findall(opener["text"])
                        if m[1:].lower() in brand_by_lower
                    ),
                    None,
                )
            if brand not in BRAND_TEAM:
                skipped["twcs: brand not mapped to a team"] += 1
                continue
            tickets.append(_twcs_ticket(thread, brand, book))
    return tickets, skipped


def _twcs_ticket(thread: list[dict], brand: str, book: CustomerBook) -> dict:
    opener = thread[0]
    cid = f"twcs-{opener['author_id']}"
    book.register(cid, opener["_dt"], BRAND_LOCALE.get(brand, "en_US"))
    cname = book.name(cid)
    messages = []
    for r in thread:
        is_customer = r["inbound"] == "True"
        messages.append(
            {
                "external_id": r["tweet_id"],
                "author_kind": "customer" if is_customer else "agent",
                "author": cname if is_customer else brand,
                "body": untwitter(r["text"]),
                "created_at": iso(r["_dt"]),
            }
        )
    last = thread[-1]
    solved_at, resolution = None, ""
    if last["inbound"] == "False":
        if AWAITING_CUSTOMER_RE.search(last["text"]):
            status = "pending"
        else:
            status = resolved_status("twcs", opener["tweet_id"])
            solved_at, resolution = iso(last["_dt"]), untwitter(last["text"])
    else:
        status = "open" if any(r["inbound"] == "False" for r in thread) else "new"
    customer_texts = [m["body"] for m in messages if m["author_kind"] == "customer"]
    priority = compute_priority(customer_texts)
    if priority in ("high", "urgent"):
        book.heated[cid] += 1
    return {
        "external_id": f"twcs-{opener['tweet_id']}",
        "subject": make_subject(customer_texts[0], f"Tweet to @{brand}"),
        "channel": "social",
        "status": status,
        "priority": priority,
        "team": BRAND_TEAM[brand],
        # The brand the customer wrote to: its handle, as on its replies.
        "company": brand,
        "intent": "",
        "created_at": iso(opener["_dt"]),
        "solved_at": solved_at,
        "resolution": resolution,
        "customer": cid,  # replaced by the full profile at the end
        "messages": messages,
    }


# --------------------------------------------------------------------------- Bitext

BRAND_NAME = "Copperleaf Market"  # fictitious shop for the Bitext replies
BRAND_SHORT = "Copperleaf"
SUPPORT_EMAIL = "support@copperleaf.example"
SUPPORT_PHONE = "1-800-555-0142"  # 555-01xx numbers are reserved for fiction
SUPPORT_HOURS = "Monday to Friday, 8 AM to 8 PM ET"
WEBSITE_URL = "https://www.copperleaf.example"

# Placeholders whose text is an instruction to the template writer, not a value.
# Rows whose reply contains one of them are left out of the sample.
UNFILLABLE_PLACEHOLDERS_RE = re.compile(
    r"^(Case|Situation) \d$|^[a-z][a-z ]*\b(situations?|circumstances|instructions)\b"
)

FIXED_PLACEHOLDERS = {
    # the shop and its website
    "company name": BRAND_NAME,
    "website name": f"{BRAND_SHORT} website",
    "website name anonymized": f"{BRAND_SHORT} website",
    "website": f"{BRAND_SHORT} website",
    "company website": f"{BRAND_SHORT} website",
    "service website": f"{BRAND_SHORT} website",
    "website or app": f"{BRAND_SHORT} website or app",
    "website/app name": f"{BRAND_SHORT} website or app",
    "website url": WEBSITE_URL,
    "mobile app": f"{BRAND_SHORT} app",
    "mobile app name": f"{BRAND_SHORT} app",
    # contact details
    "customer support phone number": SUPPORT_PHONE,
    "customer support phone number anonymized": SUPPORT_PHONE,
    "customer service phone number": SUPPORT_PHONE,
    "customer assistance phone number": SUPPORT_PHONE,
    "complaint phone number": SUPPORT_PHONE,
    "support phone number": SUPPORT_PHONE,
    "phone number": SUPPORT_PHONE,
    "customer support email": SUPPORT_EMAIL,
    "customer support email address": SUPPORT_EMAIL,
    "customer service email": SUPPORT_EMAIL,
    "customer service email address": SUPPORT_EMAIL,
    "support email": SUPPORT_EMAIL,
    "support email address": SUPPORT_EMAIL,
    "complaint email address": SUPPORT_EMAIL,
    "feedback email address": "feedback@copperleaf.example",
    "email address": SUPPORT_EMAIL,
    "customer support email or phone number": f"{SUPPORT_EMAIL} or {SUPPORT_PHONE}",
    "customer support contact information": f"{SUPPORT_PHONE} or {SUPPORT_EMAIL}",
    "live chat anonymized": "Live Chat",
    "customer support availability": SUPPORT_HOURS,
    "customer support availability anonymized": SUPPORT_HOURS,
    "support team availability": SUPPORT_HOURS,
    "customer support hours": "8 AM to 8 PM ET, Monday to Friday",
    "customer service hours": "8 AM to 8 PM ET, Monday to Friday",
    "customer assistance hours": "8 AM to 8 PM ET, Monday to Friday",
    "operating hours": "8 AM to 8 PM ET, Monday to Friday",
    "operating hours weekdays": "8 AM to 8 PM ET",
    "operating hours weekends": "10 AM to 4 PM ET",
    "operating hours holidays": "10 AM to 2 PM ET",
    "business hours start time": "8 AM",
    "customer service start time": "8 AM",
    "business hours end time": "8 PM ET",
    "customer service end time": "8 PM ET",
    # policy values
    "number of days": "30",
    "refund period": "30",
    "percentage or full": "Full",
    "percentage": "100%",
    "response time": "2 business days",
    "refund processing time": "5 to 7 business days",
    "refund processing time frame": "5 to 7 business days",
    "refund timeframe": "5 to 7 business days",
    "review website 1": "Trustpilot",
    "review website 2": "Google Reviews",
    "review website 3": "Sitejabber",
}
ORDER_PLACEHOLDERS = {
    "order number anonymized",
    "purchase id anonymized",
    "order id anonymized",
    "purchase number anonymized",
}
INVOICE_PLACEHOLDERS = {"bill number anonymized", "invoice number anonymized"}
WEB_NOUN_AFTER_RE = re.compile(
    r"\s+(website|web site|site|account|app|page|portal|platform|homepage|login)\b", re.I
)
PLACEHOLDER_RE = re.compile(r"\{\{([^{}]+)\}\}")


def _fill_response(row: dict, rng: random.Random, first_name: str, created: datetime) -> str:
    order_no = (
        row["entity_value"]
        if row["entity_type"] == "order_id"
        else str(rng.randint(10**8, 10**9 - 1))
    )
    invoice_no = (
        row["entity_value"]
        if row["entity_type"] == "invoice_id"
        else f"INV-{rng.randint(100000, 999999)}"
    )
    purchase_date = (created - timedelta(days=rng.randint(3, 40))).strftime("%B %-d, %Y")
    card = f"Visa ending in {rng.randint(1000, 9999)}"

    def value(m: re.Match) -> str:
        inner = m.group(1).strip()
        key = inner.lower()
        if key in FIXED_PLACEHOLDERS:
            filled = FIXED_PLACEHOLDERS[key]
            # "{{Website Name}} account" -> "Copperleaf account", not "Copperleaf website account".
            if filled.startswith(f"{BRAND_SHORT} website") and WEB_NOUN_AFTER_RE.match(
                m.string, m.end()
            ):
                return BRAND_SHORT
            return filled
        if key in ORDER_PLACEHOLDERS or re.fullmatch(r"[0-9A-F]{10,}", inner):
            return order_no
        if key in INVOICE_PLACEHOLDERS:
            return invoice_no
        if key == "name field anonymized":
            return first_name
        if key == "purchase date anonymized":
            return purchase_date
        if key == "payment method anonymized":
            return card
        # Everything else names a screen, section or button ("Order History", "Cancel Order",
        # "Live Chat", "order number"): its own text is the natural value.
        return inner

    # The CSV stores the replies with CRLF line breaks: store plain "\n".
    return PLACEHOLDER_RE.sub(value, row["response"]).replace("\r\n", "\n")


def _agent_roster() -> dict[str, list[str]]:
    fk = faker_for("en_US")
    fk.seed_instance(SEED)
    return {
        team: [f"{fk.first_name()} {fk.last_name()[0]}." for _ in range(3)]
        for team in sorted(TEAMS)
    }


def build_bitext(source: Path, book: CustomerBook) -> tuple[list[dict], Counter]:
    path = source / "bitext_customer_support" / "bitext_customer_support_4514.csv"
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    skipped: Counter = Counter()
    by_intent: dict[str, list[int]] = defaultdict(list)
    for i, r in enumerate(rows):
        if any(
            UNFILLABLE_PLACEHOLDERS_RE.search(p.strip())
            for p in PLACEHOLDER_RE.findall(r["response"])
        ):
            skipped["bitext: reply has template instructions as placeholders (not sampled)"] += 1
            continue
        by_intent[r["intent"]].append(i)
    assert len(by_intent) == 27, sorted(by_intent)

    rng = random.Random(SEED)
    picked: list[tuple[int, bool]] = []  # (row index, is_new)
    for intent in sorted(by_intent):
        idx = sorted(rng.sample(by_intent[intent], BITEXT_PER_INTENT))
        order = idx[:]
        rng.shuffle(order)
        n_new = round(BITEXT_PER_INTENT * BITEXT_NEW_SHARE)
        new_set = set(order[:n_new])
        picked.extend((i, i in new_set) for i in idx)
    picked.sort()

    roster = _agent_roster()
    # Synthetic customers: most tickets get a fresh one, some come from a returning customer.
    cust_rng = random.Random(SEED + 1)
    customers: list[str] = []
    tickets = []
    window = BITEXT_DAYS * 86400
    for i, is_new in picked:
        r = rows[i]
        trng = rng_for("bitext", i)
        if customers and cust_rng.random() < REPEAT_CUSTOMER_SHARE:
            cid = cust_rng.choice(customers)
        else:
            cid = f"bitext-cust-{len(customers) + 1:04d}"
            customers.append(cid)
        if is_new:
            offset = trng.uniform(60, BITEXT_NEW_RECENT_DAYS * 86400)
        else:
            offset = trng.uniform(3 * 86400, window)
        created = (BITEXT_END - timedelta(seconds=offset)).replace(microsecond=0)
        channel = "chat" if set(r["tags"]) & {"Q", "Z", "K"} else "email"
        team = BITEXT_CATEGORY_TEAM[r["category"]]
        book.register(cid, created)
        cname = book.name(cid)
        ext = f"bitext-{i:04d}"
        messages = [
            {
                "external_id": f"{ext}-1",
                "author_kind": "customer",
                "author": cname,
                "body": r["instruction"],
                "created_at": iso(created),
            }
        ]
        solved_at, resolution = None, ""
        if is_new:
            status = "new"
        else:
            status = resolved_status("bitext", i)
            delay = (
                trng.uniform(45, 15 * 60) if channel == "chat" else trng.uniform(20 * 60, 26 * 3600)
            )
            replied = (created + timedelta(seconds=delay)).replace(microsecond=0)
            resolution = _fill_response(r, trng, cname.split()[0], created)
            messages.append(
                {
                    "external_id": f"{ext}-2",
                    "author_kind": "agent",
                    "author": trng.choice(roster[team]),
                    "body": resolution,
                    "created_at": iso(replied),
                }
            )
            solved_at = iso(replied)
        priority = compute_priority([r["instruction"]], r["intent"])
        if priority in ("high", "urgent"):
            book.heated[cid] += 1
        tickets.append(
            {
                "external_id": ext,
                "subject": make_subject(
                    r["instruction"], r["intent"].replace("_", " ").capitalize()
                ),
                "channel": channel,
                "status": status,
                "priority": priority,
                "team": team,
                "company": BRAND_NAME,
                "intent": r["intent"],
                "created_at": iso(created),
                "solved_at": solved_at,
                "resolution": resolution,
                "customer": cid,
                "messages": messages,
            }
        )
    return tickets, skipped


# --------------------------------------------------------------------------- IBM CDP

# Organisation accounts: their handles stay. Any other @handle is a person and is pseudonymised.
IBM_ORG_HANDLES = {
    h.lower()
    for h in (
        "30for30",
        "Adobe",
        "AdobeCare",
        "AdobePremiere",
        "amazon",
        "AmazonHelp",
        "Apple",
        "AppleSupport",
        "AskeBay",
        "AskPlayStation",
        "Ask_Spectrum",
        "Ask_WellsFargo",
        "ATT",
        "bbb_us",
        "BBCWorld",
        "Chase",
        "ChaseforBiz",
        "ChaseSupport",
        "Citibank",
        "CNN",
        "creativecloud",
        "Delta",
        "disneyplus",
        "DOJPH",
        "Dropbox",
        "DropboxBusiness",
        "DropboxSupport",
        "eBay",
        "eBay_UK",
        "ESPNPlusHelp",
        "Facebook",
        "FBIDallas",
        "GetSpectrum",
        "gmail",
        "GoDaddy",
        "GoDaddyHelp",
        "Google",
        "googlechrome",
        "GoogleIndia",
        "GoogleUK",
        "hulu",
        "hulu_support",
        "iTunes",
        "JetBlue",
        "lysol",
        "Micromax_Mobile",
        "Microsoft",
        "MicrosoftHelps",
        "Mojang",
        "MojangSupport",
        "nbc30rock",
        "netflix",
        "OANN",
        "PayPal",
        "Photoshop",
        "PlayStation",
        "PNCBank",
        "PNCBank_Help",
        "PrimeVideo",
        "PrimeVideoIN",
        "RockstarGames",
        "RockstarSupport",
        "SouthwestAir",
        "Spotify",
        "spotifyartists",
        "SpotifyCares",
        "SpotifyUK",
        "Sprint",
        "TeamYouTube",
        "TMobile",
        "TMobileHelp",
        "TuneCore",
        "Uber",
        "Uber_Support",
        "VP",
        "Walmart",
        "Wawa",
        "WellsFargo",
        "Windows",
        "WindowsInd",
        "WWE",
        "Xbox",
        "XboxSupport",
        "Xiaomi",
        "Yahoo",
        "YahooCare",
        "yahoomail",
        "YouTube",
        "YouTubeIndia",
        "YouTubeTV",
        "ytcreators",
        "YTCreatorsDE",
        "YTCreatorsIndia",
        "zoom_us",
    )
}
# Company role addresses in agent replies (e.g. reportphish@...) are not personal data.
ORG_EMAIL_DOMAINS = {"wellsfargo.com", "chase.com"}
# Links a customer posted stay only on these hosts (company and news pages); any other link
# (channel, profile, video, listing or personal site) may identify the person and is replaced.
IBM_SAFE_LINK_HOSTS = {
    "t-mobile.com",
    "t-mobiletuesdays.com",
    "blog.zoom.us",
    "locator.chase.com",
    "blog.aboutamazon.com",
    "rawstory.com",
    "primevideo.com",
    "mojang.com",
    "minecraft.net",
    "secureserver.net",
    "sbcglobal.net",
}
LINK_REMOVED = "[link removed]"
EMAIL_RE = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")


class Pseudonymiser:
    def __init__(self) -> None:
        self.handles: dict[str, str] = {}  # lower-case real handle -> userNNNN

    def handle(self, real: str) -> str:
        key = real.lower()
        if key not in self.handles:
            self.handles[key] = f"user{len(self.handles) + 1:04d}"
        return self.handles[key]

    def text(
        self,
        text: str,
        *,
        from_customer: bool,
        email_for: dict[str, str],
        default_email: str,
        bare_handles: re.Pattern | None,
    ) -> str:
        text = untwitter(text)
        saved: list[str] = []

        def keep(s: str) -> str:
            saved.append(s)
            return f"\x00{len(saved) - 1}\x00"

        def email(m: re.Match) -> str:
            addr = m.group(0).rstrip(".")
            tail = m.group(0)[len(addr) :]
            domain = addr.rsplit("@", 1)[1].lower()
            if domain in ORG_EMAIL_DOMAINS or domain.endswith(
                tuple("." + d for d in ORG_EMAIL_DOMAINS)
            ):
                return keep(addr) + tail
            key = addr.lower()
            if key not in email_for:
                # The first address becomes the customer's own (synthetic) one; any
                # further address in the same case gets a numbered variant of it.
                local, _, dom = default_email.partition("@")
                email_for[key] = (
                    default_email if not email_for else f"{local}.{len(email_for) + 1}@{dom}"
                )
            return keep(email_for[key]) + tail

        def link(m: re.Match) -> str:
            url = m.group(0)
            host = re.sub(r"^https?:\s?//", "", url).split("/", 1)[0].lower().split(":")[0]
            host = host[4:] if host.startswith("www.") else host
            if not from_customer or host in IBM_SAFE_LINK_HOSTS:
                return keep(url)
            return keep(LINK_REMOVED)

        def mention(m: re.Match) -> str:
            h = m.group(0)[1:]
            return m.group(0) if h.lower() in IBM_ORG_HANDLES else "@" + self.handle(h)

        text = EMAIL_RE.sub(email, text)
        text = URL_RE.sub(link, text)
        text = MENTION_RE.sub(mention, text)
        if bare_handles is not None:  # a handle written without "@", e.g. "my account CinVakas"
            text = bare_handles.sub(lambda m: self.handle(m.group(0)), text)
        return re.sub(r"\x00(\d+)\x00", lambda m: saved[int(m.group(1))], text)


def snowflake_time(tweet_id: str) -> datetime:
    """Creation time encoded in a Twitter snowflake id, to the second."""
    ms = (int(tweet_id) >> 22) + 1288834974657
    return datetime.fromtimestamp(ms // 1000, tz=UTC)


def _ibm_time(s: str) -> datetime:
    return datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def build_ibm(source: Path, book: CustomerBook) -> tuple[list[dict], Counter, Pseudonymiser]:
    convs = json.loads((source / "twitter_cdp_ibm" / "dev.json").read_text(encoding="utf-8"))
    pseudo = Pseudonymiser()
    skipped: Counter = Counter()
    # Every person who wrote a turn, in file order, so the numbering is stable.
    all_clients: list[str] = []
    for c in convs:
        for t in c["dialogContent"]:
            who = t.get("client") or t.get("client1")
            if who and who.lower() not in IBM_ORG_HANDLES:
                pseudo.handle(who)
                all_clients.append(who)
    bare_list = sorted({h for h in all_clients if len(h) >= 6}, key=lambda h: (-len(h), h.lower()))
    bare = re.compile(
        r"(?<![A-Za-z0-9_@])(?:" + "|".join(map(re.escape, bare_list)) + r")(?![A-Za-z0-9_])",
        re.I,
    )

    tickets = []
    for c in convs:
        head, url = c["dialogHeader"], c["agentURL"]
        company = head["company"]
        addressed = [m[1:] for m in MENTION_RE.findall(url["url_utterance"])]
        turns = c["dialogContent"]
        clients = [t.get("client") or t.get("client1") for t in turns if "agent" not in t]
        customer = next((a for a in addressed if a in clients), clients[0])
        if customer.lower() in IBM_ORG_HANDLES:
            raise AssertionError(
                f"IBM conversation {head['sessionID']}: customer is an organisation"
            )
        cid = f"ibm-{pseudo.handle(customer)}"
        first_dt = None
        kept = []
        for t in turns:
            who = t.get("agent") or t.get("client") or t.get("client1")
            if "agent" not in t and who.lower() in IBM_ORG_HANDLES:
                # A brand's own post that the customer replied to: not part of the case.
                skipped["ibm: brand post opening a thread (turn dropped)"] += 1
                continue
            kept.append((t, who))
            first_dt = first_dt or _ibm_time(t["datetime"])
        book.register(cid, first_dt)
        cname = book.name(cid)
        email_for: dict[str, str] = {}
        messages = []
        for t, who in kept:
            is_agent = "agent" in t
            body = pseudo.text(
                t["message"],
                from_customer=not is_agent,
                email_for=email_for,
                default_email=book.email(cid),
                bare_handles=bare,
            )
            if is_agent:
                author_kind, author = "agent", who
            elif who == customer:
                author_kind, author = "customer", cname
            else:  # someone else in the same public thread
                author_kind, author = "customer", "@" + pseudo.handle(who)
            messages.append(
                {
                    "external_id": t["tweet_ID"],
                    "author_kind": author_kind,
                    "author": author,
                    "body": body,
                    "created_at": iso(_ibm_time(t["datetime"])),
                }
            )
        # The resolving tweet has no timestamp field: take the one encoded in its snowflake id.
        # (The header's "duration" wraps at 24 hours, so start + duration is wrong for long cases.)
        resolved_dt = snowflake_time(url["tweet_ID"])
        resolution = pseudo.text(
            url["url_utterance"],
            from_customer=False,
            email_for=email_for,
            default_email=book.email(cid),
            bare_handles=bare,
        )
        messages.append(
            {
                "external_id": url["tweet_ID"],
                "author_kind": "agent",
                "author": company,
                "body": resolution,
                "created_at": iso(resolved_dt),
            }
        )
        messages.sort(key=lambda m: (m["created_at"], int(m["external_id"])))
        own = [
            m["body"] for m in messages if m["author"] == cname and m["author_kind"] == "customer"
        ]
        priority = compute_priority(own)
        if priority in ("high", "urgent"):
            book.heated[cid] += 1
        tickets.append(
            {
                "external_id": f"ibm-dev-{head['sessionID']}",
                "subject": make_subject(own[0], f"Tweet to @{company}"),
                "channel": "social",
                "status": resolved_status("ibm", head["sessionID"]),
                "priority": priority,
                "team": BRAND_TEAM[company],
                "company": company,
                "intent": "",
                "created_at": messages[0]["created_at"],
                "solved_at": iso(resolved_dt),
                "resolution": resolution,
                "customer": cid,
                "messages": messages,
            }
        )
    return tickets, skipped, pseudo


# --------------------------------------------------------------------------- checks

ISO_TZ_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?([+-]\d{2}:\d{2}|Z)$")
TICKET_KEYS = {
    "external_id",
    "subject",
    "channel",
    "status",
    "priority",
    "team",
    "company",
    "intent",
    "created_at",
    "solved_at",
    "resolution",
    "customer",
    "messages",
}
CUSTOMER_KEYS = {
    "external_id",
    "name",
    "email",
    "segment",
    "signup_date",
    "lifetime_spend",
    "order_count",
}
MESSAGE_KEYS = {"external_id", "author_kind", "author", "body", "created_at"}


def _dt(s: str) -> datetime:
    assert isinstance(s, str) and ISO_TZ_RE.match(s), f"not ISO-8601 with a timezone: {s!r}"
    return datetime.fromisoformat(s.replace("Z", "+00:00"))


def validate(path: Path, ibm_handles: dict[str, str] | None = None) -> Counter:
    """Assert every rule of the demo format, line by line; return counts."""
    counts: Counter = Counter()
    ids: set[str] = set()
    profiles: dict[str, dict] = {}
    raw = path.read_bytes()
    assert raw.endswith(b"\n"), "file must end with a newline"
    lines = raw.decode("utf-8").split("\n")[:-1]
    real_handles = [h for h in (ibm_handles or {}) if len(h) >= 4]
    handle_re = (
        re.compile(r"@(" + "|".join(map(re.escape, real_handles)) + r")\b", re.I)
        if real_handles
        else None
    )
    for n, line in enumerate(lines, 1):
        t = json.loads(line)
        where = f"line {n} ({t.get('external_id')})"
        assert set(t) == TICKET_KEYS, f"{where}: keys {sorted(t)}"
        ext = t["external_id"]
        assert isinstance(ext, str) and ext not in ids, f"{where}: id missing or repeated"
        ids.add(ext)
        source = ext.split("-")[0]
        assert source in {"twcs", "bitext", "ibm"}, where
        assert source != "ibm" or ext.startswith("ibm-dev-"), where
        assert isinstance(t["subject"], str) and 0 < len(t["subject"]) <= 200, f"{where}: subject"
        assert t["subject"] == t["subject"].strip() and "\n" not in t["subject"], (
            f"{where}: subject"
        )
        assert not MENTION_RE.search(t["subject"]) or t["subject"].startswith("Tweet to @"), (
            f"{where}: @ in subject"
        )
        assert t["channel"] in CHANNELS and t["status"] in STATUSES, where
        assert t["priority"] in PRIORITIES and t["team"] in TEAMS, where
        assert isinstance(t["intent"], str), where
        # Every reply of a social thread comes from the company the ticket names.
        assert isinstance(t["company"], str) and t["company"], f"{where}: company"
        assert source == "bitext" or all(
            m["author"] == t["company"] for m in t["messages"] if m["author_kind"] == "agent"
        ), f"{where}: an agent reply not from {t['company']}"
        if source == "bitext":
            assert t["channel"] in {"email", "chat"} and t["intent"], where
            created = _dt(t["created_at"])
            assert BITEXT_END - timedelta(days=BITEXT_DAYS) <= created < BITEXT_END, (
                f"{where}: date"
            )
        else:
            assert t["channel"] == "social" and t["intent"] == "", where
        created = _dt(t["created_at"])
        resolved = t["status"] in {"solved", "closed"}
        assert (t["solved_at"] is not None) == resolved, f"{where}: solved_at iff solved/closed"
        assert isinstance(t["resolution"], str) and bool(t["resolution"]) == resolved, (
            f"{where}: resolution"
        )
        if resolved:
            assert _dt(t["solved_at"]) >= created, f"{where}: solved before created"
        cust = t["customer"]
        assert isinstance(cust, dict) and set(cust) == CUSTOMER_KEYS, f"{where}: customer keys"
        assert cust["external_id"].startswith(source + "-"), where
        assert (
            cust["name"] and "@" in cust["email"] and cust["email"].split("@")[1] in EMAIL_DOMAINS
        ), where
        assert cust["segment"] in SEGMENTS, where
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", cust["signup_date"]), where
        assert cust["signup_date"] <= t["created_at"][:10], f"{where}: signup after ticket"
        assert re.fullmatch(r"\d+\.\d{2}", cust["lifetime_spend"]), where
        assert isinstance(cust["order_count"], int) and cust["order_count"] >= 0, where
        if cust["external_id"] in profiles:
            assert profiles[cust["external_id"]] == cust, f"{where}: customer profile not stable"
        profiles[cust["external_id"]] = cust
        msgs = t["messages"]
        assert isinstance(msgs, list) and msgs, f"{where}: no messages"
        assert msgs[0]["author_kind"] == "customer", f"{where}: first message not from customer"
        assert len({m["external_id"] for m in msgs}) == len(msgs), f"{where}: message ids repeat"
        times = [_dt(m["created_at"]) for m in msgs]
        assert times == sorted(times), f"{where}: messages out of order"
        assert times[0] == created, f"{where}: created_at is not the first message"
        for m in msgs:
            assert set(m) == MESSAGE_KEYS, f"{where}: message keys"
            assert isinstance(m["external_id"], str) and m["external_id"], where
            assert m["author_kind"] in {"customer", "agent", "system"}, where
            assert isinstance(m["author"], str) and m["author"], where
            assert isinstance(m["body"], str) and m["body"].strip(), f"{where}: empty body"
            assert "{{" not in m["body"], f"{where}: unfilled placeholder"
            assert "&amp;" not in m["body"] and "&gt;" not in m["body"], f"{where}: HTML entity"
            if source == "ibm" and handle_re is not None:
                hit = handle_re.search(m["body"])
                assert not hit, f"{where}: real Twitter handle {hit.group(0)} left in a message"
            if source == "ibm":
                for addr in EMAIL_RE.findall(m["body"]):
                    dom = addr.split("@")[1].lower().rstrip(".")
                    assert dom in EMAIL_DOMAINS or dom in ORG_EMAIL_DOMAINS, (
                        f"{where}: e-mail {addr}"
                    )
        if t["status"] in {"solved", "closed", "pending"}:
            assert msgs[-1]["author_kind"] == "agent", (
                f"{where}: {t['status']} without a final agent reply"
            )
        if resolved:
            assert t["resolution"] == msgs[-1]["body"], (
                f"{where}: resolution is not the final reply"
            )
            assert _dt(t["solved_at"]) == times[-1], f"{where}: solved_at is not the final reply"
        if t["status"] in {"open", "new"}:
            assert msgs[-1]["author_kind"] == "customer", (
                f"{where}: open/new must end with the customer"
            )
        if t["status"] == "new":
            assert all(m["author_kind"] == "customer" for m in msgs), (
                f"{where}: new ticket with agent reply"
            )
        if t["status"] == "open":
            assert any(m["author_kind"] == "agent" for m in msgs), (
                f"{where}: open ticket without agent reply"
            )
        counts["tickets"] += 1
        counts["messages"] += len(msgs)
        counts[f"source:{source}"] += 1
        counts[f"status:{t['status']}"] += 1
        counts[f"source_status:{source}:{t['status']}"] += 1
        counts[f"team:{t['team']}"] += 1
        counts[f"company:{t['company']}"] += 1
        counts[f"channel:{t['channel']}"] += 1
        counts[f"priority:{t['priority']}"] += 1
        if source == "bitext":
            counts[f"intent:{t['intent']}"] += 1
    for p in profiles.values():
        counts["customers"] += 1
        counts[f"segment:{p['segment']}"] += 1
    bitext_intents = [k for k in counts if k.startswith("intent:")]
    if counts["source:bitext"]:
        assert len(bitext_intents) == 27, "all 27 Bitext intents must be present"
    return counts


def print_counts(counts: Counter, path: Path) -> None:
    total = counts["tickets"]
    solved = counts["status:solved"] + counts["status:closed"]
    print(
        f"{path}: {total} tickets, {counts['messages']} messages, {counts['customers']} customers, "
        f"{path.stat().st_size / 1e6:.2f} MB"
    )
    print(f"solved+closed: {solved} ({100 * solved / total:.1f}%)")
    for prefix in ("source", "status", "source_status", "team", "channel", "priority", "segment"):
        items = sorted(
            (k.split(":", 1)[1], v) for k, v in counts.items() if k.startswith(prefix + ":")
        )
        print(f"  {prefix}: " + ", ".join(f"{k}={v}" for k, v in items))
    companies = sorted(
        ((k.split(":", 1)[1], v) for k, v in counts.items() if k.startswith("company:")),
        key=lambda kv: (-kv[1], kv[0]),
    )
    print(
        f"  companies: {len(companies)}; most tickets: "
        + ", ".join(f"{k}={v}" for k, v in companies[:8])
    )
    intents = [v for k, v in counts.items() if k.startswith("intent:")]
    if intents:
        print(
            f"  bitext intents: {len(intents)} (min {min(intents)}, max {max(intents)} per intent)"
        )


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--source",
        type=Path,
        default=DEFAULT_SOURCE,
        help="folder holding the public data sets (default: ../shared/data from the repo root)",
    )
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output JSON Lines file")
    ap.add_argument(
        "--check-only", action="store_true", help="only validate an existing output file"
    )
    args = ap.parse_args(argv)
    out = args.out if args.out.is_absolute() else Path.cwd() / args.out

    if args.check_only:
        print_counts(validate(out), out)
        return 0

    source = args.source.resolve()
    for rel, digest in SOURCE_FILES.items():
        actual = sha256_file(source / rel)
        if actual != digest:
            sys.exit(f"{source / rel}: sha256 {actual} differs from the documented {digest}")

    book = CustomerBook()
    twcs, skipped_twcs = build_twcs(source, book)
    bitext, skipped_bitext = build_bitext(source, book)
    ibm, skipped_ibm, pseudo = build_ibm(source, book)
    tickets = twcs + bitext + ibm
    profiles = {cid: book.profile(cid) for cid in sorted(book.first_seen)}
    for t in tickets:
        t["customer"] = profiles[t["customer"]]
    tickets.sort(key=lambda t: (t["created_at"], t["external_id"]))

    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8", newline="\n") as fh:
        for t in tickets:
            fh.write(json.dumps(t, ensure_ascii=False, separators=(",", ":")) + "\n")

    for reason, n in sorted((skipped_twcs + skipped_bitext + skipped_ibm).items()):
        print(f"skipped {n:5d}  {reason}")
    print(f"IBM: {len(pseudo.handles)} Twitter handles pseudonymised")
    print_counts(validate(out, pseudo.handles), out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
