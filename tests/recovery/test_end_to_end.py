"""The whole recovery workflow on real demo conversations with the real models: a customer
asks for their money back, the copilot analyses and proposes, an agent approves, it runs once."""

import json
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from accounts.models import User
from accounts.services import team_get_or_create
from copilot.services.analysis import analysis_run
from copilot.services.intake import customer_message_receive
from recovery.models import AuditEvent, AuditKind, Recommendation, RecommendationStatus
from recovery.services import recommendation_approve
from tests.factories import UserFactory
from tickets.models import AuthorKind, Message, Ticket

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("copilot_dirs", "eager_tasks")]
DEMO = Path(settings.BASE_DIR) / "data" / "demo" / "tickets.jsonl"
MONEY = {"get_refund", "track_refund", "payment_issue", "check_refund_policy"}


@pytest.fixture
def billing_history(tmp_path: Path) -> Path:
    """The demo's real billing conversations (Bitext), solved ones and open ones."""
    rows = [json.loads(line) for line in DEMO.read_text().splitlines()]
    picked = [r for r in rows if r["intent"] in MONEY]
    path = tmp_path / "billing.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in picked))
    return path


def test_refund_request_is_analysed_proposed_approved_and_executed_once(
    billing_history: Path, django_capture_on_commit_callbacks
) -> None:
    call_command("seed_demo", file=billing_history, no_progress=True, stdout=None)
    # The demo reads as recent: its newest message a few minutes old, not years.
    newest = Message.objects.aggregate(newest=Max("created_at"))["newest"]
    assert timezone.now() - timedelta(minutes=10) < newest < timezone.now()
    team = team_get_or_create(name="Billing & Payments")
    agent: User = UserFactory(username="bea", role="agent", teams=[team])
    ticket = Ticket.objects.filter(team=team, status="new").order_by("pk").first()
    assert ticket is not None

    with transaction.atomic():
        message = customer_message_receive(
            ticket=ticket,
            body="This is the third time I ask: I was charged twice for order 77812 and I "
            "want my money back now. Really disappointed.",
        )
    # Proposals come from their own task, queued (eager here) when the analysis commits.
    with django_capture_on_commit_callbacks(execute=True):
        analysis = analysis_run(ticket_id=ticket.pk, transcript_version=message.sequence)

    assert analysis is not None and analysis.status == "done"
    assert analysis.sentiment == "negative"
    assert analysis.intent in MONEY
    assert analysis.similar_cases and "77812" in analysis.draft_reply
    proposals = list(analysis.recommendations.order_by("rank"))
    assert proposals, "a refund request by an upset customer gets proposals"
    assert any(p.action.monetary for p in proposals)
    money = next(p for p in proposals if p.action.monetary)
    assert money.explanation and money.evidence["signals"]["sentiment"] == "negative"

    with django_capture_on_commit_callbacks(execute=True):
        recommendation_approve(recommendation=money, user=agent)

    money.refresh_from_db()
    assert money.status == RecommendationStatus.EXECUTED
    assert ticket.messages.filter(author_kind=AuthorKind.SYSTEM).count() == 1
    kinds = set(AuditEvent.objects.filter(ticket=ticket).values_list("kind", flat=True))
    assert {AuditKind.RECOMMENDATION_SHOWN, AuditKind.RECOMMENDATION_APPROVED} <= kinds
    assert AuditKind.EXECUTED in kinds
    assert Recommendation.objects.filter(ticket=ticket, status="executed").count() == 1
