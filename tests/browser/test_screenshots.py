"""The README's screenshots, taken by tests so that they stay true.

Each test builds a readable scene (texts in the style of the demo data), checks what the page
must show, and, only when SCREENSHOTS_DIR is set, saves the first screen at 1440x900 there:
`SCREENSHOTS_DIR=docs/screenshots python -m pytest tests/browser/test_screenshots.py`.
Without it nothing is written, so a CI run leaves the tree as it was.
"""

import datetime as dt
import os
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from unittest import mock

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect
from pytest_django.fixtures import Settings

from accounts.models import Role, Team, User
from copilot.models import DraftDecision, TicketInsight
from privacy.services import consent_record
from recovery.catalogue import action_catalogue_ensure
from recovery.events import audit_recommendation_added, audit_recommendation_decided
from recovery.models import RecommendationStatus, RecoveryAction
from recovery.services import recommendations_propose
from tests.browser.conftest import log_in
from tests.factories import CustomerFactory, MessageAnalysisFactory, TicketFactory, UserFactory
from tests.recovery.test_supervision import _approved, _cases, _draft, _recommendation, _rejected
from tickets.models import AuthorKind, Channel, Message, Priority, Segment, Status, Ticket

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREEN = {"width": 1440, "height": 900}


def shoot(page: Page, name: str, *, full_page: bool = False) -> None:
    """Save the first screen (or the whole page) as `<SCREENSHOTS_DIR>/<name>.png`, only when
    asked to. With Pillow at hand the picture becomes a palette PNG, a third of the size."""
    target = os.environ.get("SCREENSHOTS_DIR")
    if not target:
        return
    folder = Path(target)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    # Let the fonts settle; the caret and animations are left out so the picture is stable.
    page.evaluate("document.fonts.ready")
    page.screenshot(path=str(path), animations="disabled", caret="hide", full_page=full_page)
    try:
        from PIL import Image  # an optional tool for this one job, not a dependency
    except ImportError:
        return
    with Image.open(path) as image:
        small = image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    small.save(path, optimize=True)


@pytest.fixture
def copilot_working() -> Iterator[None]:
    """The supervisor pages show the copilot's status; here it is a working one (no worker runs
    in these tests, which the panel would rightly report)."""
    checks = {
        "broker": {"ok": True},
        "workers": {
            "ok": True,
            "queues": {
                "copilot": {"last_heartbeat_seconds": 4},
                "recovery": {"last_heartbeat_seconds": 6},
            },
        },
        "backlog": {"ok": True, "waiting": {"copilot": 0, "recovery": 0}},
        "index": {"ok": True, "generation": 12},
        "recovery_executions": {"ok": True},
    }
    with mock.patch("desk.health.copilot_status", return_value=(True, checks)):
        yield


def open_as(page: Page, live_server, user: User, path: str) -> None:
    page.set_viewport_size(SCREEN)
    log_in(page, live_server.url, user)
    page.goto(f"{live_server.url}{path}")


def named(user: User, first: str, last: str) -> User:
    user.first_name, user.last_name = first, last
    user.save(update_fields=["first_name", "last_name"])
    return user


# Subjects, customers and first messages in the style of data/demo/tickets.jsonl.
INBOX = [
    (
        "Melissa Taylor",
        Segment.AT_RISK,
        Channel.SOCIAL,
        Priority.URGENT,
        "Charged for baggage although I booked with the airline's card",
        "I booked my flight using the card and was being charged for baggage at check-in.",
    ),
    (
        "Daniel Okafor",
        Segment.VIP,
        Channel.EMAIL,
        Priority.HIGH,
        "Order #48213 shows delivered but nothing arrived",
        "The tracking page says delivered yesterday at 14:02. Nothing at the door or with "
        "the neighbours.",
    ),
    (
        "Sofia Lindqvist",
        Segment.NEW,
        Channel.CHAT,
        Priority.NORMAL,
        "Zipper broken off on the suitcase after my return flight",
        "Just noticed the zipper was broken off; it wasn't like that when I left. Is there help?",
    ),
    (
        "Priya Raman",
        Segment.STANDARD,
        Channel.EMAIL,
        Priority.HIGH,
        "Charged twice for the same order",
        "My card statement shows two payments of 89.90 for order #47990.",
    ),
    (
        "Tom Becker",
        Segment.STANDARD,
        Channel.PHONE,
        Priority.NORMAL,
        "How do I change the delivery address?",
        "I am moving next week; can the parcel go to my new address instead?",
    ),
    (
        "Aiko Tanaka",
        Segment.VIP,
        Channel.CHAT,
        Priority.NORMAL,
        "Replacement headphones still not shipped",
        "You promised a replacement ten days ago and the order still says processing.",
    ),
    (
        "Lucas Moreau",
        Segment.NEW,
        Channel.SOCIAL,
        Priority.LOW,
        "Discount code WELCOME10 not accepted at checkout",
        "The code from your newsletter says expired but the e-mail came this morning.",
    ),
    (
        "Grace Mensah",
        Segment.STANDARD,
        Channel.EMAIL,
        Priority.NORMAL,
        "Wrong size delivered, need an exchange",
        "I ordered the jacket in M and received an XL. How do I exchange it?",
    ),
]


# What the copilot read in each of them: customer state, sentiment, intent.
SIGNALS = [
    ("at_risk", "negative", "refund_request"),
    ("frustrated", "negative", "where_is_my_order"),
    ("frustrated", "negative", "damaged_item"),
    ("frustrated", "negative", "refund_request"),
    ("calm", "neutral", "change_address"),
    ("frustrated", "negative", "where_is_my_order"),
    ("calm", "neutral", "discount_code"),
    ("calm", "neutral", "exchange"),
]

REASONS = {
    "at_risk": "Mentions cancelling",
    "frustrated": "Has asked twice",
    "calm": "First message, polite",
}


def test_inbox(live_server, page: Page, agent: User, team_a: Team) -> None:
    named(agent, "Alice", "Martin")
    now = timezone.now()
    rows = []
    for n, (name, segment, channel, priority, subject, body) in enumerate(INBOX):
        customer = CustomerFactory(name=name, segment=segment)
        created = now - dt.timedelta(minutes=7 + n * 23)
        ticket = TicketFactory(
            team=team_a,
            customer=customer,
            channel=channel,
            priority=priority,
            subject=subject,
            created_at=created,
            first_message=body,
            assignee=agent if n % 3 == 0 else None,
        )
        rows.append(ticket)
        level, sentiment, intent = SIGNALS[n]
        analysis = MessageAnalysisFactory(
            ticket=ticket,
            finished_at=created,
            conversation_level=level,
            conversation_score=0.5,
            sentiment=sentiment,
            sentiment_score=-0.6 if sentiment == "negative" else 0.1,
            sentiment_confidence=0.9,
            intent=intent,
            intent_confidence=0.85,
            conversation_reasons=[REASONS[level]],
        )
        # The worker writes this copy with the analysis; the inbox reads it.
        TicketInsight.objects.create(
            ticket=ticket,
            analysis=analysis,
            transcript_version=analysis.transcript_version,
            sentiment=sentiment,
            sentiment_score=analysis.sentiment_score,
            intent=intent,
            intent_confidence=0.85,
            conversation_level=level,
            conversation_score=0.5,
        )

    open_as(page, live_server, agent, "/")

    for ticket in rows:
        row = page.locator(f"#ticket-row-{ticket.pk}")
        expect(row).to_be_visible()
        expect(row).to_contain_text(ticket.subject)
    first = page.locator(f"#ticket-row-{rows[0].pk}")
    expect(first).to_contain_text("Melissa Taylor")
    expect(first.locator(".col-state")).to_contain_text("At risk of leaving")
    expect(first.locator(".col-intent")).to_have_text("Refund request")
    shoot(page, "inbox")


CONVERSATION = [
    (
        AuthorKind.CUSTOMER,
        "Hello, my order #48213 shows as delivered since Monday but nothing arrived. "
        "Nothing at the door, nothing with the neighbours.",
    ),
    (
        AuthorKind.AGENT,
        "Hi Daniel, sorry to hear that. I have opened an investigation with the carrier; "
        "they usually answer within 24 hours.",
    ),
    (
        AuthorKind.CUSTOMER,
        "It has been three days now. The tracking page still says delivered at 14:02 and the "
        "carrier's line hangs up on me.",
    ),
    (
        AuthorKind.AGENT,
        "Thank you for your patience. I am chasing the carrier again today.",
    ),
    (
        AuthorKind.CUSTOMER,
        "This is the second time this happens. It was a birthday present and the party is on "
        "Saturday. I want either the parcel or my money back, not another 'we are checking'.",
    ),
]


def test_ticket_with_copilot(live_server, page: Page, agent: User, team_a: Team) -> None:
    named(agent, "Alice", "Martin")
    action_catalogue_ensure()
    customer = CustomerFactory(
        name="Daniel Okafor",
        email="daniel.okafor@example.com",
        segment=Segment.VIP,
        lifetime_spend=Decimal("2140.00"),
        order_count=27,
    )
    solved = [
        TicketFactory(
            team=team_a,
            status=Status.SOLVED,
            subject=subject,
            resolution=resolution,
            solved_at=timezone.now() - dt.timedelta(days=days),
        )
        for subject, resolution, days in (
            (
                "Parcel marked delivered, never received",
                "Carrier confirmed a wrong drop-off; we re-sent by express and refunded shipping.",
                12,
            ),
            (
                "Tracking says delivered, nothing at the door",
                "Replacement sent next-day with a 15 EUR credit for the trouble.",
                30,
            ),
            (
                "Present lost in transit before a birthday",
                "Express replacement delivered before the date; partial refund on the order.",
                55,
            ),
        )
    ]
    ticket = TicketFactory(
        team=team_a,
        customer=customer,
        channel=Channel.EMAIL,
        priority=Priority.HIGH,
        assignee=agent,
        subject="Order #48213 shows delivered but nothing arrived",
        first_message=CONVERSATION[0][1],
        created_at=timezone.now() - dt.timedelta(days=3),
    )
    for sequence, (kind, body) in enumerate(CONVERSATION[1:], start=2):
        is_agent = kind == AuthorKind.AGENT
        Message.objects.create(
            ticket=ticket,
            sequence=sequence,
            author_kind=kind,
            author_user=agent if is_agent else None,
            author_name="Alice Martin" if is_agent else customer.name,
            body=body,
            created_at=timezone.now() - dt.timedelta(hours=(len(CONVERSATION) - sequence) * 14),
        )
    Ticket.objects.filter(pk=ticket.pk).update(transcript_version=len(CONVERSATION))
    ticket.refresh_from_db()
    analysis = MessageAnalysisFactory(
        ticket=ticket,
        transcript_version=len(CONVERSATION),
        message=ticket.messages.get(sequence=len(CONVERSATION)),
        finished_at=timezone.now(),
        duration_ms=180,
        sentiment="negative",
        sentiment_score=-0.82,
        sentiment_confidence=0.94,
        intent="where_is_my_order",
        intent_confidence=0.88,
        selector_version="cosine",
        suggestions=[
            {
                "entry_id": 7,
                "text": "Hi {customer_first_name}, I am sorry your parcel has not arrived. A "
                "replacement is on its way by express delivery; you will have the tracking "
                "number today.",
                "score": 0.83,
            },
            {
                "entry_id": 9,
                "text": "Hi {customer_first_name}, I have refunded order {order_number} in full; "
                "the money is back on your card within 3 to 5 working days.",
                "score": 0.71,
            },
        ],
        conversation_level="at_risk",
        conversation_score=0.86,
        conversation_reasons=[
            "Third message about the same parcel",
            "Asks for a refund",
            "Says it happened before",
        ],
        draft_reply=(
            "Hi Daniel,\n\nI am sorry: a present that does not arrive in time is the last thing "
            "you need. I have sent a replacement by express delivery today, so it reaches you "
            "before Saturday, and refunded the shipping on order [order number]. You will get "
            "the new tracking number by e-mail within the hour.\n\nBest,\n[agent name]"
        ),
        draft_reasons=[f"based on case #{solved[0].pk}", "customer asked for a refund"],
        similar_cases=[
            {"ticket_id": t.pk, "similarity": round(0.91 - n * 0.07, 2)}
            for n, t in enumerate(solved)
        ],
    )
    assert recommendations_propose(analysis=analysis)

    open_as(page, live_server, agent, f"/tickets/{ticket.pk}/")

    panel = page.locator(f"#ticket-{ticket.pk}-analysis")
    expect(panel.locator("li.suggestion")).to_have_count(2)
    expect(panel.locator("li.suggestion").first).to_contain_text("Hi Daniel, I am sorry")
    # The customer's own order number fills the slot; the single draft is no longer shown.
    expect(panel.locator("li.suggestion").last).to_contain_text("refunded order 48213")
    expect(panel.get_by_text("Drafted reply")).to_have_count(0)
    expect(panel).to_contain_text("Asks for a refund")
    expect(page.locator(".similar-case")).to_have_count(3)
    recovery = page.locator(f"#ticket-{ticket.pk}-recovery")
    expect(recovery.locator(".recommendation").first).to_be_visible()
    expect(recovery.locator("form.decide button[value='approve']").first).to_be_visible()
    expect(page.locator(f"#ticket-{ticket.pk}-transcript")).to_contain_text("birthday present")
    shoot(page, "ticket")


def test_override_rates(
    live_server, page: Page, agent: User, supervisor: User, team_a: Team, copilot_working: None
) -> None:
    named(supervisor, "Sam", "Keller")
    carol = UserFactory(username="carol", role=Role.AGENT, teams=[team_a])
    dev = UserFactory(username="dev", role=Role.AGENT, teams=[team_a])
    action_catalogue_ensure()
    refund = RecoveryAction.objects.get(key="refund-partial")
    apology = RecoveryAction.objects.get(key="apology")
    credit = RecoveryAction.objects.get(key="store-credit")
    intents = ("where_is_my_order", "damaged_item", "refund_request")

    def ticket() -> Ticket:
        return TicketFactory(team=team_a)

    now = timezone.now()
    # Three weeks of decisions: alice follows the copilot mostly, carol changes amounts often,
    # dev rejects refunds; drafts used, edited and discarded.
    plan = [
        (agent, ["ok", "ok", "ok", "change", "reject", "draft_ok", "draft_ok", "draft_edit"]),
        (carol, ["ok", "change", "change", "reject", "draft_edit", "draft_edit", "add"]),
        (dev, ["reject", "reject", "ok", "ok", "draft_discard", "draft_ok"]),
    ]
    for week in range(3):
        when = now - dt.timedelta(days=2 + 7 * week)
        with mock.patch("django.utils.timezone.now", return_value=when):
            for actor, moves in plan:
                for n, move in enumerate(moves[week % 2 :]):
                    intent = intents[(n + week) % len(intents)]
                    action = (refund, credit, apology)[n % 3]
                    amount = None if action is apology else "20.00"
                    if move == "ok":
                        _approved(
                            _recommendation(ticket(), action, intent=intent, amount=amount), actor
                        )
                    elif move == "change":
                        _approved(
                            _recommendation(ticket(), refund, intent=intent), actor, amount="35.00"
                        )
                    elif move == "reject":
                        _rejected(
                            _recommendation(ticket(), action, intent=intent, amount=amount),
                            actor,
                            reason="Parcel found by the carrier",
                        )
                    elif move == "add":
                        rec = _recommendation(
                            ticket(),
                            credit,
                            intent=intent,
                            status=RecommendationStatus.APPROVED,
                            added_by=actor,
                        )
                        audit_recommendation_added(
                            recommendation=rec, actor=actor, reason="Goodwill"
                        )
                        audit_recommendation_decided(
                            recommendation=rec, actor=actor, amount=Decimal("20.00"), reason=""
                        )
                    else:
                        decision = {
                            "draft_ok": DraftDecision.ACCEPTED,
                            "draft_edit": DraftDecision.EDITED,
                            "draft_discard": DraftDecision.DISCARDED,
                        }[move]
                        _draft(ticket(), actor, decision, intent=intent)

    open_as(page, live_server, supervisor, "/supervision/rates/?period=30")

    expect(page.locator("svg")).to_have_count(4)
    expect(page.locator("#chart-agent-title")).to_have_text("Override rate by agent")
    by_agent = page.get_by_role("region", name="By agent")
    expect(by_agent).to_contain_text("carol 88% overridden · 15 of 17 · 3 added")
    expect(by_agent).to_contain_text("alice 39% overridden · 9 of 23")
    expect(page.get_by_role("region", name="By action")).to_contain_text("Partial refund")
    expect(page.locator("#copilot-status h2")).to_have_text("Copilot: working")
    shoot(page, "override-rates")


def test_fairness_report(
    live_server,
    page: Page,
    supervisor: User,
    team_a: Team,
    settings: Settings,
    copilot_working: None,
) -> None:
    named(supervisor, "Sam", "Keller")
    settings.RECOVERY_FAIRNESS_GAP = 0.25
    settings.RECOVERY_FAIRNESS_MIN_SAMPLES = 5
    settings.RECOVERY_FAIRNESS_ALPHA = 0.05
    action_catalogue_ensure()
    refund = RecoveryAction.objects.get(key="refund-partial")
    # Late parcels, frustrated customers: new customers are offered money far less often, and
    # customers at risk of leaving get about a third of what standard customers get.
    _cases(team_a, refund, Segment.NEW, cases=20, amounts=["20.00"] * 4)
    _cases(team_a, refund, Segment.STANDARD, cases=30, amounts=["28.00", "30.00", "32.00"] * 7)
    _cases(team_a, refund, Segment.AT_RISK, cases=30, amounts=["9.00", "10.00", "11.00"] * 7)
    _cases(team_a, refund, Segment.VIP, cases=12, amounts=["30.00"] * 8)
    # Damaged items: offered alike.
    for segment in (Segment.STANDARD, Segment.VIP, Segment.NEW):
        _cases(
            team_a,
            refund,
            segment,
            cases=10,
            amounts=["25.00"] * 6,
            intent="damaged_item",
            level="frustrated",
        )

    open_as(page, live_server, supervisor, "/supervision/fairness/?period=all")

    expect(page.locator("h1")).to_contain_text("Fairness")
    expect(page.get_by_text("unlikely to be chance").first).to_be_visible()
    expect(page.get_by_text("Offered money in 4 of 20 cases (20%)").first).to_be_visible()
    expect(page.locator("#copilot-status h2")).to_have_text("Copilot: working")
    # The picture starts at the report, so that its first table is on it.
    page.locator("h1").evaluate("heading => heading.scrollIntoView()")
    shoot(page, "fairness")


def test_privacy_customer_page(live_server, page: Page, admin_user: User, team_a: Team) -> None:
    named(admin_user, "Ada", "Novak")
    customer = CustomerFactory(
        name="Melissa Taylor",
        email="melissataylor@example.com",
        external_id="twcs-115818",
        segment=Segment.AT_RISK,
    )
    TicketFactory(
        team=team_a,
        customer=customer,
        subject="Charged for baggage although I booked with the airline's card",
        first_message="I booked my flight using the card and was being charged for baggage.",
    )
    consent_record(
        customer=customer,
        purpose="training",
        granted=False,
        source="e-mail",
        by=admin_user,
        note="Asked not to have her messages used to train models.",
    )
    consent_record(
        customer=customer, purpose="personalisation", granted=True, source="api", by=None
    )

    open_as(page, live_server, admin_user, f"/privacy/customers/{customer.pk}/")

    consent = page.locator(f"#customer-{customer.pk}-consent")
    expect(consent.locator(".consent-training")).to_have_text("Opted out")
    expect(consent.locator(".consent-personalisation")).to_have_text("Consents")
    expect(consent).to_contain_text("Asked not to have her messages used to train models.")
    expect(page.get_by_role("button", name="Prepare an export")).to_be_visible()
    expect(page.get_by_role("button", name="Erase customer")).to_be_visible()
    shoot(page, "privacy-customer", full_page=True)
