"""Recovery actions on the ticket page: full page and htmx fragments, errors in place."""

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import User
from privacy.models import ConsentRecord
from recovery.catalogue import action_catalogue_ensure
from recovery.models import AuditEvent, AuditKind, Recommendation, RecommendationStatus
from recovery.services import (
    recommendation_approve,
    recommendation_coapprove,
    recommendations_propose,
)
from tests.factories import MessageAnalysisFactory
from tickets.consent import ConsentPurpose
from tickets.models import Ticket

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}
XSS = '<script>alert("x")</script>'


@pytest.fixture
def proposals(ticket_a: Ticket) -> list[Recommendation]:
    action_catalogue_ensure()
    analysis = MessageAnalysisFactory(
        ticket=ticket_a,
        sentiment="negative",
        sentiment_score=-0.7,
        intent="get_refund",
    )
    return recommendations_propose(analysis=analysis)


def refund(proposals: list[Recommendation]) -> Recommendation:
    return next(r for r in proposals if r.action.key == "refund-partial")


def test_ticket_page_lists_proposals_with_their_reasons(
    login: Callable[[User], Client], agent: User, ticket_a: Ticket, proposals: list
) -> None:
    response = login(agent).get(reverse("desk:ticket", args=[ticket_a.pk]))

    html = response.content.decode()
    assert f'id="ticket-{ticket_a.pk}-recovery"' in html
    for recommendation in proposals:
        assert f'id="recommendation-{recommendation.pk}"' in html
    assert "Why: " in html and "upset" in html
    assert "opted out" not in html


def test_opt_out_is_shown_without_more_detail(
    login: Callable[[User], Client], agent: User, ticket_a: Ticket
) -> None:
    ConsentRecord.objects.create(
        customer=ticket_a.customer,
        purpose=ConsentPurpose.PERSONALISATION,
        granted=False,
        source="api",
        note="private reason the agent must not see",
    )

    response = login(agent).get(reverse("desk:ticket", args=[ticket_a.pk]))

    assert b"this customer opted out of personalisation" in response.content
    assert b"private reason" not in response.content


def test_reject_with_htmx_updates_the_section_in_place(
    login: Callable[[User], Client], agent: User, ticket_a: Ticket, proposals: list
) -> None:
    recommendation = refund(proposals)
    url = reverse("desk:recommendation-decide", args=[ticket_a.pk, recommendation.pk])

    response = login(agent).post(url, {"decision": "reject", "reason": XSS}, **HX)

    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith(f'<section id="ticket-{ticket_a.pk}-recovery"')
    assert "&lt;script&gt;" in html and XSS not in html
    recommendation.refresh_from_db()
    assert (recommendation.status, recommendation.decision_reason) == ("rejected", XSS)


def test_reject_without_reason_answers_422_and_changes_nothing(
    login: Callable[[User], Client], agent: User, ticket_a: Ticket, proposals: list
) -> None:
    recommendation = refund(proposals)
    url = reverse("desk:recommendation-decide", args=[ticket_a.pk, recommendation.pk])

    response = login(agent).post(url, {"decision": "reject", "reason": ""}, **HX)

    assert response.status_code == 422
    assert b"Say why you reject it." in response.content
    recommendation.refresh_from_db()
    assert recommendation.status == RecommendationStatus.PROPOSED
    assert not AuditEvent.objects.filter(kind=AuditKind.RECOMMENDATION_REJECTED).exists()


def test_approve_without_javascript_redirects_to_the_ticket(
    login: Callable[[User], Client], agent: User, ticket_a: Ticket, proposals: list
) -> None:
    recommendation = refund(proposals)
    url = reverse("desk:recommendation-decide", args=[ticket_a.pk, recommendation.pk])

    response = login(agent).post(url, {"decision": "approve", "amount": "15.00"})

    assert response.status_code == 302
    assert response["Location"] == reverse("desk:ticket", args=[ticket_a.pk])
    recommendation.refresh_from_db()
    assert recommendation.status == RecommendationStatus.APPROVED


def test_negative_amount_is_refused_in_place(
    login: Callable[[User], Client], agent: User, ticket_a: Ticket, proposals: list
) -> None:
    recommendation = refund(proposals)
    url = reverse("desk:recommendation-decide", args=[ticket_a.pk, recommendation.pk])

    response = login(agent).post(url, {"decision": "approve", "amount": "-10", "reason": "x"}, **HX)

    assert response.status_code == 422
    assert b"The amount cannot be negative." in response.content


def test_add_an_action(
    login: Callable[[User], Client], agent: User, ticket_a: Ticket, proposals: list
) -> None:
    response = login(agent).post(
        reverse("desk:recommendation-add", args=[ticket_a.pk]),
        {"action": "callback", "reason": "asked for a call"},
        **HX,
    )

    assert response.status_code == 200
    added = Recommendation.objects.get(added_by=agent)
    assert added.action.key == "callback"
    assert f'id="recommendation-{added.pk}"' in response.content.decode()


def test_a_recommendation_of_another_ticket_cannot_be_decided_through_this_one(
    login: Callable[[User], Client], agent: User, ticket_a: Ticket, proposals: list
) -> None:
    from tests.factories import TicketFactory

    other = TicketFactory(team=ticket_a.team)
    recommendation = refund(proposals)

    response = login(agent).post(
        reverse("desk:recommendation-decide", args=[other.pk, recommendation.pk]),
        {"decision": "approve"},
        **HX,
    )

    assert response.status_code == 422
    recommendation.refresh_from_db()
    assert recommendation.status == RecommendationStatus.PROPOSED


def test_a_recommendation_of_another_ticket_cannot_be_coapproved_through_this_one(
    login: Callable[[User], Client], supervisor: User, ticket_a: Ticket, proposals: list
) -> None:
    from tests.factories import TicketFactory

    other = TicketFactory(team=ticket_a.team)
    recommendation = refund(proposals)
    Recommendation.objects.filter(pk=recommendation.pk).update(
        status=RecommendationStatus.AWAITING_COAPPROVAL, final_amount="90.00"
    )
    events = AuditEvent.objects.count()

    response = login(supervisor).post(
        reverse("desk:recommendation-coapprove", args=[other.pk, recommendation.pk]),
        {"approve": "yes", "reason": "fine"},
        **HX,
    )

    assert response.status_code == 422
    recommendation.refresh_from_db()
    assert recommendation.status == RecommendationStatus.AWAITING_COAPPROVAL
    assert AuditEvent.objects.count() == events


def test_panel_fragment_polls_while_an_approved_action_runs(
    login: Callable[[User], Client], agent: User, ticket_a: Ticket, proposals: list
) -> None:
    Recommendation.objects.filter(pk=refund(proposals).pk).update(
        status=RecommendationStatus.APPROVED
    )

    response = login(agent).get(reverse("desk:recovery-panel", args=[ticket_a.pk]), **HX)

    assert response.status_code == 200
    assert b'hx-trigger="every 2s"' in response.content


def test_a_changed_amount_heads_the_card_with_the_proposed_one_beside_it(
    login: Callable[[User], Client], agent: User, ticket_a: Ticket, proposals: list
) -> None:
    partial = refund(proposals)
    proposed = partial.amount
    recommendation_approve(recommendation=partial, user=agent, amount="12", reason="half")

    response = login(agent).get(reverse("desk:recovery-panel", args=[ticket_a.pk]), **HX)

    card = response.content.decode().split(f'id="recommendation-{partial.pk}"')[1]
    header = card.split("</h3>")[0]
    assert '<span class="amount">12.00 EUR</span>' in header
    assert f"(proposed {proposed:.2f} EUR)" in header


def test_a_coapproved_action_names_the_supervisor_who_coapproved_it(
    login: Callable[[User], Client],
    agent: User,
    supervisor: User,
    ticket_a: Ticket,
    proposals: list,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    User.objects.filter(pk=supervisor.pk).update(first_name="Sam", last_name="Supervisor")
    supervisor.refresh_from_db()
    partial = refund(proposals)
    recommendation_approve(
        recommendation=partial, user=agent, confirmed=True, amount="90", reason="twice late"
    )
    with django_capture_on_commit_callbacks(execute=True):
        recommendation_coapprove(recommendation=partial, supervisor=supervisor, approve=True)

    response = login(agent).get(reverse("desk:recovery-panel", args=[ticket_a.pk]), **HX)

    card = response.content.decode().split(f'id="recommendation-{partial.pk}"')[1]
    assert "Co-approved by Sam Supervisor" in card.split("</article>")[0]
    assert "90.00 EUR" in card.split("</h3>")[0]


def test_explanations_name_the_intent_as_people_read_it(proposals: list) -> None:
    explanations = " ".join(r.explanation for r in proposals)

    assert "suits the intent “Get refund”" in explanations
    assert "get_refund" not in explanations
