"""Nothing is approved, added or co-approved for an erased customer: the services refuse, with
a clear message, and write nothing (the page hides the controls; this is the rule)."""

from collections.abc import Callable

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.models import User
from core.errors import DomainError
from privacy.erasure import customer_erase
from recovery.catalogue import action_catalogue_ensure
from recovery.models import (
    AuditEvent,
    Recommendation,
    RecommendationStatus,
    RecoveryAction,
    RecoveryExecution,
)
from recovery.services import (
    recommendation_add,
    recommendation_approve,
    recommendation_coapprove,
    recommendations_propose,
)
from tests.factories import MessageAnalysisFactory
from tickets.models import Ticket

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("copilot_dirs")]


@pytest.fixture
def proposals(ticket_a: Ticket) -> list[Recommendation]:
    action_catalogue_ensure()
    analysis = MessageAnalysisFactory(
        ticket=ticket_a, sentiment="negative", sentiment_score=-0.7, intent="get_refund"
    )
    return recommendations_propose(analysis=analysis)


def _snapshot() -> tuple[list[tuple[int, str]], int, int]:
    return (
        sorted(Recommendation.objects.values_list("pk", "status")),
        RecoveryExecution.objects.count(),
        AuditEvent.objects.count(),
    )


def test_approve_is_refused(
    agent: User, admin_user: User, ticket_a: Ticket, proposals: list[Recommendation]
) -> None:
    apology = next(r for r in proposals if r.action.key == "apology")
    customer_erase(customer=ticket_a.customer, by=admin_user)
    before = _snapshot()

    with pytest.raises(DomainError, match="data was erased") as refused:
        recommendation_approve(recommendation=apology, user=agent)

    assert refused.value.field == "customer" and refused.value.code == "erased"
    assert _snapshot() == before


def test_add_is_refused(agent: User, admin_user: User, ticket_a: Ticket, proposals: list) -> None:
    customer_erase(customer=ticket_a.customer, by=admin_user)
    before = _snapshot()

    with pytest.raises(DomainError, match="data was erased"):
        recommendation_add(
            ticket=ticket_a,
            user=agent,
            action=RecoveryAction.objects.get(key="callback"),
            reason="asked for a call",
        )

    assert _snapshot() == before


def test_coapprove_is_refused(
    agent: User,
    supervisor: User,
    admin_user: User,
    ticket_a: Ticket,
    proposals: list[Recommendation],
) -> None:
    refund = next(r for r in proposals if r.action.key == "refund-partial")
    waiting = recommendation_approve(
        recommendation=refund, user=agent, amount="90", reason="twice late", confirmed=True
    )
    assert waiting.status == RecommendationStatus.AWAITING_COAPPROVAL
    customer_erase(customer=ticket_a.customer, by=admin_user)
    before = _snapshot()

    with pytest.raises(DomainError, match="data was erased"):
        recommendation_coapprove(recommendation=waiting, supervisor=supervisor, approve=True)

    assert _snapshot() == before


def test_api_approval_is_refused(
    api: Callable[[User | None], APIClient],
    agent: User,
    admin_user: User,
    ticket_a: Ticket,
    proposals: list[Recommendation],
) -> None:
    apology = next(r for r in proposals if r.action.key == "apology")
    customer_erase(customer=ticket_a.customer, by=admin_user)
    before = _snapshot()

    response = api(agent).post(
        reverse("api:recommendation-decision", args=[apology.pk]),
        {"decision": "approve"},
        format="json",
    )

    assert response.status_code == 400
    assert "customer" in response.data
    assert _snapshot() == before
