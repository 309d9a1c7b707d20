"""The ticket page of an erased customer: nothing to send, nothing to decide, as a full page and
as the fragments htmx asks for; the decisions posted anyway are refused and change nothing."""

from collections.abc import Callable

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import User
from privacy.erasure import customer_erase
from recovery.catalogue import action_catalogue_ensure
from recovery.models import Recommendation, RecommendationStatus, RecoveryExecution
from recovery.services import recommendations_propose
from tests.factories import MessageAnalysisFactory
from tickets.customer_data import ERASED_NOTHING_SENT
from tickets.models import Message, Ticket

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("copilot_dirs")]
HX = {"HTTP_HX_REQUEST": "true"}
NOTE = ERASED_NOTHING_SENT.replace("'", "&#x27;")


@pytest.fixture
def erased(ticket_a: Ticket, admin_user: User) -> list[Recommendation]:
    """Proposals made before the customer was erased (an apology among them)."""
    action_catalogue_ensure()
    analysis = MessageAnalysisFactory(
        ticket=ticket_a, sentiment="negative", sentiment_score=-0.7, intent="get_refund"
    )
    proposals = recommendations_propose(analysis=analysis)
    assert proposals
    customer_erase(customer=ticket_a.customer, by=admin_user)
    ticket_a.refresh_from_db()
    return proposals


def _no_controls(html: str, ticket: Ticket, proposals: list[Recommendation]) -> None:
    assert 'name="decision"' not in html
    assert reverse("desk:recommendation-add", args=[ticket.pk]) not in html
    for recommendation in proposals:
        assert f'id="recommendation-{recommendation.pk}"' in html
        assert (
            reverse("desk:recommendation-decide", args=[ticket.pk, recommendation.pk]) not in html
        )


def test_full_page_has_no_reply_box_and_no_recovery_controls(
    login: Callable[[User], Client], agent: User, ticket_a: Ticket, erased: list
) -> None:
    response = login(agent).get(reverse("desk:ticket", args=[ticket_a.pk]))

    html = response.content.decode()
    assert response.status_code == 200
    assert NOTE in html
    assert 'name="body"' not in html and "Send reply" not in html
    _no_controls(html, ticket_a, erased)


def test_recovery_fragment_has_no_controls(
    login: Callable[[User], Client], agent: User, ticket_a: Ticket, erased: list
) -> None:
    response = login(agent).get(reverse("desk:recovery-panel", args=[ticket_a.pk]), **HX)

    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html
    assert "data was erased" in html
    _no_controls(html, ticket_a, erased)


def test_a_supervisor_sees_no_coapproval_form(
    login: Callable[[User], Client], supervisor: User, ticket_a: Ticket, erased: list
) -> None:
    Recommendation.objects.filter(pk=erased[0].pk).update(
        status=RecommendationStatus.AWAITING_COAPPROVAL
    )

    html = login(supervisor).get(reverse("desk:ticket", args=[ticket_a.pk])).content.decode()

    assert 'name="approve"' not in html


@pytest.mark.parametrize("htmx", [True, False])
def test_a_reply_posted_anyway_is_refused(
    login: Callable[[User], Client], agent: User, ticket_a: Ticket, erased: list, htmx: bool
) -> None:
    before = Message.objects.filter(ticket=ticket_a).count()

    response = login(agent).post(
        reverse("desk:ticket-reply", args=[ticket_a.pk]),
        {"body": "Sorry about that."},
        **(HX if htmx else {}),
    )

    assert response.status_code == 422
    assert NOTE in response.content.decode()
    assert Message.objects.filter(ticket=ticket_a).count() == before


@pytest.mark.parametrize("htmx", [True, False])
def test_an_approval_posted_anyway_is_refused(
    login: Callable[[User], Client], agent: User, ticket_a: Ticket, erased: list, htmx: bool
) -> None:
    apology = next(r for r in erased if not r.action.monetary)

    response = login(agent).post(
        reverse("desk:recommendation-decide", args=[ticket_a.pk, apology.pk]),
        {"decision": "approve"},
        **(HX if htmx else {}),
    )

    assert response.status_code == 422
    assert NOTE in response.content.decode()
    apology.refresh_from_db()
    assert apology.status == RecommendationStatus.PROPOSED
    assert not RecoveryExecution.objects.exists()


def test_an_added_action_posted_anyway_is_refused(
    login: Callable[[User], Client], agent: User, ticket_a: Ticket, erased: list
) -> None:
    count = Recommendation.objects.count()

    response = login(agent).post(
        reverse("desk:recommendation-add", args=[ticket_a.pk]),
        {"action": "callback", "reason": "asked for a call"},
        **HX,
    )

    assert response.status_code == 422
    assert Recommendation.objects.count() == count
