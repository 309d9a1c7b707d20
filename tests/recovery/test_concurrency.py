"""Two agents approving the same recommendation at the same moment: it runs once."""

import threading

import pytest
from django.db import connection

from accounts.models import Role, User
from core.errors import Conflict
from recovery.catalogue import action_catalogue_ensure
from recovery.models import AuditEvent, AuditKind, Recommendation, RecoveryExecution
from recovery.services import recommendation_approve, recommendations_propose
from tests.factories import MessageAnalysisFactory, UserFactory
from tickets.models import Ticket

pytestmark = pytest.mark.django_db(transaction=True)


def test_double_approval_at_once_executes_once(
    ticket_a: Ticket, agent: User, eager_tasks: None
) -> None:
    action_catalogue_ensure()
    colleague = UserFactory(username="carol", role=Role.AGENT, teams=[ticket_a.team])
    analysis = MessageAnalysisFactory(
        ticket=ticket_a,
        sentiment="negative",
        sentiment_score=-0.8,
        intent="get_refund",
    )
    recommendations_propose(analysis=analysis)
    recommendation = Recommendation.objects.get(action__key="refund-partial")
    start = threading.Barrier(2)
    outcomes: list[str] = []

    def approve(user: User) -> None:
        try:
            start.wait()
            recommendation_approve(recommendation=recommendation, user=user)
            outcomes.append("approved")
        except Conflict:
            outcomes.append("conflict")
        finally:
            connection.close()

    threads = [threading.Thread(target=approve, args=(u,)) for u in (agent, colleague)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(outcomes) == ["approved", "conflict"]
    assert RecoveryExecution.objects.filter(recommendation=recommendation).count() == 1
    assert AuditEvent.objects.filter(kind=AuditKind.RECOMMENDATION_APPROVED).count() == 1
    assert AuditEvent.objects.filter(kind=AuditKind.EXECUTED).count() == 1
    assert ticket_a.messages.filter(author_kind="system").count() == 1
