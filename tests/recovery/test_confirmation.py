"""Money above RECOVERY_CONFIRM_ABOVE is approved only when the approver confirms it: the page's
checkbox (shown above the line), the API's `confirm: true`; without it nothing is approved."""

from collections.abc import Callable
from decimal import Decimal

import pytest
from django.conf import settings as django_settings
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.models import User
from core.errors import DomainError
from recovery.catalogue import action_catalogue_ensure
from recovery.models import Recommendation, RecommendationStatus, RecoveryAction, RecoveryExecution
from recovery.services import recommendation_add, recommendation_approve, recommendations_propose
from tests.factories import MessageAnalysisFactory
from tickets.models import Ticket

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def refund(ticket_a: Ticket) -> Recommendation:
    """A partial refund proposed at 60 EUR: above the default line of 50."""
    action_catalogue_ensure()
    analysis = MessageAnalysisFactory(
        ticket=ticket_a, sentiment="negative", sentiment_score=-0.7, intent="get_refund"
    )
    proposals = recommendations_propose(analysis=analysis)
    found = next(r for r in proposals if r.action.key == "refund-partial")
    Recommendation.objects.filter(pk=found.pk).update(amount=Decimal("60"))
    found.refresh_from_db()
    return found


def _unchanged(recommendation: Recommendation) -> None:
    recommendation.refresh_from_db()
    assert recommendation.status == RecommendationStatus.PROPOSED
    assert recommendation.decided_by is None
    assert not RecoveryExecution.objects.exists()


def test_the_line_is_a_setting() -> None:
    assert Decimal("50") == django_settings.RECOVERY_CONFIRM_ABOVE


# --- services --------------------------------------------------------------------------------


def test_approve_above_the_line_needs_confirmed(agent: User, refund: Recommendation) -> None:
    with pytest.raises(DomainError, match=r"Confirm sending 60\.00 EUR") as refused:
        recommendation_approve(recommendation=refund, user=agent)

    assert refused.value.field == "confirm"
    _unchanged(refund)
    approved = recommendation_approve(recommendation=refund, user=agent, confirmed=True)
    assert approved.status == RecommendationStatus.APPROVED


def test_approve_at_or_below_the_line_needs_no_confirmation(
    agent: User, refund: Recommendation
) -> None:
    approved = recommendation_approve(
        recommendation=refund, user=agent, amount="50", reason="the line itself"
    )

    assert approved.status == RecommendationStatus.APPROVED


def test_the_policy_is_named_before_the_confirmation(agent: User, refund: Recommendation) -> None:
    with pytest.raises(DomainError) as refused:
        recommendation_approve(recommendation=refund, user=agent, amount="101", reason="x")

    assert refused.value.field == "amount"


def test_add_above_the_line_needs_confirmed(agent: User, ticket_a: Ticket, refund: object) -> None:
    action = RecoveryAction.objects.get(key="refund-partial")
    count = Recommendation.objects.count()

    with pytest.raises(DomainError) as refused:
        recommendation_add(ticket=ticket_a, user=agent, action=action, amount="60", reason="x")

    assert refused.value.field == "confirm"
    assert Recommendation.objects.count() == count
    added = recommendation_add(
        ticket=ticket_a, user=agent, action=action, amount="60", reason="x", confirmed=True
    )
    assert added.status == RecommendationStatus.APPROVED


# --- the page --------------------------------------------------------------------------------


def test_the_form_shows_a_required_checkbox_above_the_line_only(
    login: Callable[[User], Client], agent: User, ticket_a: Ticket, refund: Recommendation
) -> None:
    html = login(agent).get(reverse("desk:ticket", args=[ticket_a.pk])).content.decode()
    article = html.split(f'id="recommendation-{refund.pk}"')[1].split("</article>")[0]
    assert "I confirm sending 60.00 EUR to the customer" in article
    assert 'name="confirm" value="on" required' in article

    Recommendation.objects.filter(pk=refund.pk).update(amount=Decimal("15"))
    html = login(agent).get(reverse("desk:ticket", args=[ticket_a.pk])).content.decode()
    article = html.split(f'id="recommendation-{refund.pk}"')[1].split("</article>")[0]
    assert "I confirm sending" not in article


@pytest.mark.parametrize("htmx", [True, False])
def test_approving_above_the_line_without_the_checkbox_names_the_field(
    login: Callable[[User], Client],
    agent: User,
    ticket_a: Ticket,
    refund: Recommendation,
    htmx: bool,
) -> None:
    response = login(agent).post(
        reverse("desk:recommendation-decide", args=[ticket_a.pk, refund.pk]),
        {"decision": "approve"},
        **(HX if htmx else {}),
    )

    assert response.status_code == 422
    assert "confirm: Confirm sending 60.00 EUR to the customer" in response.content.decode()
    _unchanged(refund)


def test_approving_above_the_line_with_the_checkbox(
    login: Callable[[User], Client], agent: User, ticket_a: Ticket, refund: Recommendation
) -> None:
    response = login(agent).post(
        reverse("desk:recommendation-decide", args=[ticket_a.pk, refund.pk]),
        {"decision": "approve", "confirm": "on"},
        **HX,
    )

    assert response.status_code == 200
    refund.refresh_from_db()
    assert refund.status == RecommendationStatus.APPROVED


def test_approving_below_the_line_needs_no_checkbox(
    login: Callable[[User], Client], agent: User, ticket_a: Ticket, refund: Recommendation
) -> None:
    response = login(agent).post(
        reverse("desk:recommendation-decide", args=[ticket_a.pk, refund.pk]),
        {"decision": "approve", "amount": "20", "reason": "less is enough"},
        **HX,
    )

    assert response.status_code == 200
    refund.refresh_from_db()
    assert refund.status == RecommendationStatus.APPROVED


def test_rejecting_needs_no_checkbox(
    login: Callable[[User], Client], agent: User, ticket_a: Ticket, refund: Recommendation
) -> None:
    response = login(agent).post(
        reverse("desk:recommendation-decide", args=[ticket_a.pk, refund.pk]),
        {"decision": "reject", "reason": "not needed"},
        **HX,
    )

    assert response.status_code == 200
    refund.refresh_from_db()
    assert refund.status == RecommendationStatus.REJECTED


def test_adding_above_the_line_on_the_page_needs_the_checkbox(
    login: Callable[[User], Client], agent: User, ticket_a: Ticket, refund: object
) -> None:
    url = reverse("desk:recommendation-add", args=[ticket_a.pk])
    count = Recommendation.objects.count()
    data = {"action": "refund-partial", "amount": "60", "reason": "broken"}

    refused = login(agent).post(url, data, **HX)
    assert refused.status_code == 422
    assert "confirm: " in refused.content.decode()
    assert Recommendation.objects.count() == count

    assert login(agent).post(url, {**data, "confirm": "on"}, **HX).status_code == 200
    assert Recommendation.objects.count() == count + 1


# --- the API ---------------------------------------------------------------------------------


def test_api_approval_above_the_line_needs_confirm_true(
    api: Callable[[User | None], APIClient], agent: User, refund: Recommendation
) -> None:
    url = reverse("api:recommendation-decision", args=[refund.pk])

    refused = api(agent).post(url, {"decision": "approve"}, format="json")
    assert refused.status_code == 400
    assert list(refused.data) == ["confirm"]
    _unchanged(refund)

    approved = api(agent).post(url, {"decision": "approve", "confirm": True}, format="json")
    assert approved.status_code == 200
    assert approved.data["status"] == RecommendationStatus.APPROVED


def test_api_approval_below_the_line_needs_no_confirm(
    api: Callable[[User | None], APIClient], agent: User, refund: Recommendation
) -> None:
    response = api(agent).post(
        reverse("api:recommendation-decision", args=[refund.pk]),
        {"decision": "approve", "amount": "20", "reason": "less is enough"},
        format="json",
    )

    assert response.status_code == 200


def test_api_add_above_the_line_needs_confirm_true(
    api: Callable[[User | None], APIClient], agent: User, ticket_a: Ticket, refund: object
) -> None:
    url = reverse("api:ticket-recommendations", args=[ticket_a.pk])
    data = {"action": "refund-partial", "amount": "60", "reason": "broken"}
    count = Recommendation.objects.count()

    refused = api(agent).post(url, data, format="json")
    assert refused.status_code == 400 and "confirm" in refused.data
    assert Recommendation.objects.count() == count

    assert api(agent).post(url, {**data, "confirm": True}, format="json").status_code == 201
