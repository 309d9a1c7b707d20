"""The recovery API: recommendations, decisions, co-approvals and the audit trail."""

from collections.abc import Callable

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import User
from recovery.catalogue import action_catalogue_ensure
from recovery.models import AuditEvent, Recommendation, RecommendationStatus, RecoveryExecution
from recovery.services import recommendations_propose
from tests.factories import MessageAnalysisFactory
from tickets.models import Ticket

pytestmark = pytest.mark.django_db
Api = Callable[[User | None], APIClient]


def propose(ticket: Ticket) -> Recommendation:
    action_catalogue_ensure()
    analysis = MessageAnalysisFactory(
        ticket=ticket,
        sentiment="negative",
        sentiment_score=-0.7,
        intent="get_refund",
    )
    recommendations_propose(analysis=analysis)
    return Recommendation.objects.get(ticket=ticket, action__key="refund-partial")


def test_list_decide_and_read_the_trail(
    api: Api, agent: User, supervisor: User, ticket_a: Ticket
) -> None:
    recommendation = propose(ticket_a)

    listed = api(agent).get(reverse("api:ticket-recommendations", args=[ticket_a.pk]))
    decided = api(agent).post(
        reverse("api:recommendation-decision", args=[recommendation.pk]),
        {"decision": "approve", "amount": "18.50", "reason": "three days late"},
        format="json",
    )
    trail = api(supervisor).get(reverse("api:audit-event-list"), {"overrides": "true"})

    assert listed.status_code == 200
    assert {r["action"] for r in listed.data} >= {"refund-partial"}
    assert decided.status_code == 200
    assert (decided.data["status"], decided.data["final_amount"]) == ("approved", "18.50")
    assert trail.status_code == 200
    [event] = trail.data["results"]
    assert (event["kind"], event["actor"], event["reason"]) == (
        "recommendation_edited",
        "alice",
        "three days late",
    )


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"decision": "maybe"}, "decision"),
        ({"decision": "approve", "amount": "ten"}, "amount"),
        ({"decision": "approve", "amount": "-1", "reason": "x"}, "amount"),
        ({"decision": "approve", "amount": "10", "currency": "USD", "reason": "x"}, "currency"),
        ({"decision": "approve", "amount": "101", "reason": "x"}, "amount"),  # policy max 100
        ({"decision": "reject"}, "reason"),
    ],
)
def test_bad_decisions_get_a_400_naming_the_field(
    api: Api, agent: User, ticket_a: Ticket, payload: dict[str, str], field: str
) -> None:
    recommendation = propose(ticket_a)

    response = api(agent).post(
        reverse("api:recommendation-decision", args=[recommendation.pk]), payload, format="json"
    )

    assert response.status_code == 400
    assert field in response.data
    recommendation.refresh_from_db()
    assert recommendation.status == RecommendationStatus.PROPOSED


def test_amount_above_the_coapproval_line_waits_for_a_supervisor(
    api: Api, agent: User, supervisor: User, ticket_a: Ticket
) -> None:
    recommendation = propose(ticket_a)  # partial refund: co-approval above 75

    waiting = api(agent).post(
        reverse("api:recommendation-decision", args=[recommendation.pk]),
        {"decision": "approve", "amount": "99", "reason": "lost twice", "confirm": True},
        format="json",
    )
    # A supervisor of the team co-approves (sam is not the one who approved).
    done = api(supervisor).post(
        reverse("api:recommendation-coapproval", args=[recommendation.pk]),
        {"approve": True},
        format="json",
    )

    assert (waiting.status_code, waiting.data["status"]) == (200, "awaiting_coapproval")
    assert (done.status_code, done.data["status"]) == (200, "approved")


def test_second_decision_is_a_409(api: Api, agent: User, ticket_a: Ticket) -> None:
    recommendation = propose(ticket_a)
    url = reverse("api:recommendation-decision", args=[recommendation.pk])
    api(agent).post(url, {"decision": "reject", "reason": "no"}, format="json")

    again = api(agent).post(url, {"decision": "approve"}, format="json")

    assert again.status_code == 409


def test_agents_cannot_read_the_trail_or_coapprove(api: Api, agent: User, ticket_a: Ticket) -> None:
    recommendation = propose(ticket_a)

    trail = api(agent).get(reverse("api:audit-event-list"))
    coapproval = api(agent).post(
        reverse("api:recommendation-coapproval", args=[recommendation.pk]),
        {"approve": True},
        format="json",
    )

    assert (trail.status_code, coapproval.status_code) == (403, 403)


def test_trail_is_scoped_to_the_supervisors_teams(
    api: Api, supervisor: User, admin_user: User, ticket_a: Ticket, ticket_b: Ticket
) -> None:
    propose(ticket_a)
    propose(ticket_b)

    mine = api(supervisor).get(reverse("api:audit-event-list"))
    everything = api(admin_user).get(reverse("api:audit-event-list"))

    assert {e["ticket_id"] for e in mine.data["results"]} == {ticket_a.pk}
    assert {e["ticket_id"] for e in everything.data["results"]} == {ticket_a.pk, ticket_b.pk}
    assert everything.data["count"] == AuditEvent.objects.count()


def test_approve_and_add_on_a_closed_ticket_are_a_409_and_change_nothing(
    api: Api, agent: User, ticket_a: Ticket
) -> None:
    recommendation = propose(ticket_a)
    Ticket.objects.filter(pk=ticket_a.pk).update(status="closed", solved_at=timezone.now())
    events_before = AuditEvent.objects.count()

    approved = api(agent).post(
        reverse("api:recommendation-decision", args=[recommendation.pk]),
        {"decision": "approve"},
        format="json",
    )
    added = api(agent).post(
        reverse("api:ticket-recommendations", args=[ticket_a.pk]),
        {"action": "refund-partial", "amount": "10", "reason": "late"},
        format="json",
    )

    closed = ["This ticket is closed: no recovery action can be approved or added on it."]
    assert (approved.status_code, approved.data) == (409, {"ticket": closed})
    assert (added.status_code, added.data) == (409, {"ticket": closed})
    recommendation.refresh_from_db()
    assert (recommendation.status, recommendation.decided_by) == ("proposed", None)
    assert Recommendation.objects.filter(ticket=ticket_a).count() == 3
    assert AuditEvent.objects.count() == events_before
    assert not RecoveryExecution.objects.exists()
