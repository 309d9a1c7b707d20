"""Proposing on the database: the customer's ask, informational questions, the team's evidence
and cold-start customers, through recommendations_propose."""

from decimal import Decimal

import pytest
from django.utils import timezone

from copilot.models import MessageAnalysis
from recovery.catalogue import action_catalogue_ensure
from recovery.models import CustomerSignals, Recommendation, RecommendationStatus, RecoveryAction
from recovery.services import recommendations_propose
from tests.factories import CustomerFactory, MessageAnalysisFactory, TicketFactory
from tickets.models import Status, Team, Ticket

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager_tasks")]


@pytest.fixture(autouse=True)
def catalogue(db: None) -> None:
    action_catalogue_ensure()


def analysed(
    ticket: Ticket, *, intent: str, score: float = -0.8, similar: list[Ticket] | None = None
) -> MessageAnalysis:
    return MessageAnalysisFactory(
        ticket=ticket,
        sentiment="negative" if score < -0.2 else "neutral",
        sentiment_score=score,
        intent=intent,
        similar_cases=[{"ticket_id": t.pk, "similarity": 0.8} for t in similar or []],
    )


def solved_with(team: Team, given: list[str]) -> Ticket:
    """A solved ticket of `team` on which an agent gave these actions."""
    ticket = TicketFactory(
        team=team, status=Status.SOLVED, solved_at=timezone.now(), resolution="Sorted."
    )
    for rank, key in enumerate(given, start=1):
        Recommendation.objects.create(
            ticket=ticket,
            action=RecoveryAction.objects.get(key=key),
            rank=rank,
            status=RecommendationStatus.EXECUTED,
        )
    return ticket


def test_propose_ranks_the_requested_replacement_first_with_what_the_team_gave(
    team_a: Team, team_b: Team
) -> None:
    ticket = TicketFactory(
        team=team_a,
        first_message="My blender arrived cracked. Please send me a replacement.",
    )
    same_team = [solved_with(team_a, ["replacement"]), solved_with(team_a, ["apology"])]
    other_team = solved_with(team_b, ["replacement", "refund-full"])

    proposals = recommendations_propose(
        analysis=analysed(ticket, intent="complaint", similar=[*same_team, other_team])
    )

    first = proposals[0]
    assert first.action.key == "replacement"
    assert first.explanation.startswith("The customer asked for a replacement; ")
    assert "agents of this team gave it on 1 of 2 similar solved cases" in first.explanation
    assert first.evidence["asked_for"] == ["replacement"]
    assert first.evidence["team_similar_solved"] == 2
    assert first.evidence["team_given"] == 1


def test_propose_offers_no_money_for_a_payment_error_question(team_a: Team) -> None:
    customer = CustomerFactory(lifetime_spend=Decimal("2500"), order_count=12)
    ticket = TicketFactory(
        team=team_a, customer=customer, first_message="where could i notify of payment errors"
    )

    proposals = recommendations_propose(
        analysis=analysed(ticket, intent="payment_issue", score=-0.71)
    )

    assert proposals == []
    assert not Recommendation.objects.filter(ticket=ticket, action__monetary=True).exists()


def test_propose_for_a_first_time_customer_says_no_history_instead_of_a_churn_risk(
    team_a: Team,
) -> None:
    newcomer = CustomerFactory(lifetime_spend=Decimal("0"), order_count=0)
    ticket = TicketFactory(
        team=team_a, customer=newcomer, first_message="My order is late and nobody answers."
    )

    proposals = recommendations_propose(analysis=analysed(ticket, intent="complaint"))

    assert proposals
    for r in proposals:
        assert "no history: a first contact, so no value or churn risk is used" in (
            r.explanation.lower()
        )
        assert "churn risk (" not in r.explanation
        assert r.evidence["signals"]["history"] is False
        assert "churn_risk" not in r.evidence["signals"]
    # Nothing was computed for them: there is nothing to compute it from.
    assert not CustomerSignals.objects.filter(customer=newcomer).exists()


def test_propose_explanation_keeps_the_case_of_action_names_and_currency(team_a: Team) -> None:
    customer = CustomerFactory(lifetime_spend=Decimal("2500"), order_count=12)
    ticket = TicketFactory(team=team_a, customer=customer, first_message="I want my $13 back")

    proposals = recommendations_propose(analysis=analysed(ticket, intent="delete_account"))

    assert proposals[0].explanation.startswith(
        "The customer asked for a refund, which the policy does not allow here "
        "(Full refund: not for this intent; Partial refund: not for this intent)"
    )
    assert "high-value customer (2,500 EUR spent)" in proposals[0].explanation


def test_propose_escalates_for_a_customer_at_risk_across_the_conversation(team_a: Team) -> None:
    # The last message reads neutral; the analysis read a threat to leave earlier on.
    ticket = TicketFactory(team=team_a, first_message="ok, I'll wait then.")
    analysis = MessageAnalysisFactory(
        ticket=ticket,
        sentiment="neutral",
        sentiment_score=0.1,
        intent="complaint",
        conversation_level="at_risk",
        conversation_score=0.9,
    )

    proposals = recommendations_propose(analysis=analysis)

    first = proposals[0]
    assert first.action.key == "escalation"
    assert first.explanation.startswith("At risk of leaving: the customer threatened to leave")
    assert first.evidence["signals"]["conversation_level"] == "at_risk"
    assert "apology" in [r.action.key for r in proposals]
    # Words, not money: nothing monetary for a message that is not upset and asks for nothing.
    assert not any(r.action.monetary for r in proposals)
