"""The supervisor's audit of overrides: the review queue, reviews, override rates, fairness."""

import datetime as dt
import threading
from collections.abc import Callable
from decimal import Decimal
from unittest import mock

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from pytest_django.fixtures import Settings

from accounts.models import Role, Team, User
from accounts.selectors import team_ids_for_supervisor
from copilot.models import DraftDecision, DraftDecisionEvent, MessageAnalysis
from core.errors import Conflict, DomainError, Forbidden, NotFound
from recovery.events import (
    audit_draft_decided,
    audit_override_reviewed,
    audit_recommendation_added,
    audit_recommendation_decided,
    audit_recommendation_shown,
)
from recovery.fairness import fairness_report_for_user
from recovery.models import (
    ActionKind,
    AuditEvent,
    AuditKind,
    Recommendation,
    RecommendationStatus,
    RecoveryAction,
)
from recovery.override_rates import OverrideRate, override_rates_for_user
from recovery.overrides import override_get_for_user, override_queue_for_user, override_review
from tests.factories import CustomerFactory, MessageAnalysisFactory, TicketFactory, UserFactory
from tickets.models import Segment, Ticket

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}
XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'


# --- building the trail ------------------------------------------------------------------------


@pytest.fixture
def refund() -> RecoveryAction:
    return RecoveryAction.objects.create(
        key="refund_partial",
        name="Partial refund",
        kind=ActionKind.REFUND_PARTIAL,
        monetary=True,
        default_amount=Decimal("20.00"),
    )


@pytest.fixture
def apology() -> RecoveryAction:
    return RecoveryAction.objects.create(key="apology", name="Apology", kind=ActionKind.APOLOGY)


@pytest.fixture
def carol(team_a: Team) -> User:
    return UserFactory(username="carol", role=Role.AGENT, teams=[team_a])


@pytest.fixture
def other_supervisor(team_a: Team) -> User:
    return UserFactory(username="sue", role=Role.SUPERVISOR, teams=[team_a])


def _analysis(
    ticket: Ticket, intent: str = "late_delivery", *, level: str = "", sentiment: str = ""
) -> MessageAnalysis:
    version = ticket.analyses.count() + 1
    return MessageAnalysisFactory(
        ticket=ticket,
        transcript_version=version,
        message=ticket.messages.first(),
        finished_at=timezone.now(),
        intent=intent,
        conversation_level=level,
        sentiment=sentiment,
    )


def _recommendation(
    ticket: Ticket,
    action: RecoveryAction,
    *,
    intent: str = "late_delivery",
    analysis: MessageAnalysis | None = None,
    amount: str | None = "20.00",
    status: str = RecommendationStatus.PROPOSED,
    final: str | None = None,
    added_by: User | None = None,
) -> Recommendation:
    return Recommendation.objects.create(
        ticket=ticket,
        analysis=analysis or _analysis(ticket, intent),
        action=action,
        amount=None if amount is None else Decimal(amount),
        final_amount=None if final is None else Decimal(final),
        currency="EUR" if amount is not None else "",
        status=status,
        added_by=added_by,
    )


def _approved(rec: Recommendation, actor: User, *, amount: str | None = None) -> AuditEvent:
    final = rec.amount if amount is None else Decimal(amount)
    rec.status, rec.final_amount, rec.decided_by = RecommendationStatus.APPROVED, final, actor
    rec.save()
    reason = "" if final == rec.amount else "Customer waited two weeks"
    return audit_recommendation_decided(
        recommendation=rec, actor=actor, amount=final, reason=reason
    )


def _rejected(rec: Recommendation, actor: User, *, reason: str = "Not warranted") -> AuditEvent:
    rec.status, rec.decided_by = RecommendationStatus.REJECTED, actor
    rec.save()
    return audit_recommendation_decided(recommendation=rec, actor=actor, amount=None, reason=reason)


def _added(ticket: Ticket, action: RecoveryAction, actor: User, **kwargs: object) -> AuditEvent:
    rec = _recommendation(
        ticket, action, status=RecommendationStatus.APPROVED, added_by=actor, **kwargs
    )
    return audit_recommendation_added(recommendation=rec, actor=actor, reason="Goodwill")


def _draft(
    ticket: Ticket, actor: User, decision: str, *, intent: str = "late_delivery"
) -> AuditEvent:
    analysis = _analysis(ticket, intent)
    event = DraftDecisionEvent.objects.create(
        analysis=analysis,
        agent=actor,
        decision=decision,
        proposed_text="Sorry for the wait.",
        final_text="" if decision == DraftDecision.DISCARDED else "Sorry! A courier is on the way.",
    )
    return audit_draft_decided(decision=event)


def _reviews_of(event: AuditEvent) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(kind=AuditKind.OVERRIDE_REVIEWED, reviewed_event=event))


@pytest.fixture
def rejected_a(ticket_a: Ticket, refund: RecoveryAction, agent: User) -> AuditEvent:
    """An override in team A: alice rejected the refund the copilot proposed."""
    return _rejected(_recommendation(ticket_a, refund), agent, reason="Parcel already found")


@pytest.fixture
def rejected_b(ticket_b: Ticket, refund: RecoveryAction, other_agent: User) -> AuditEvent:
    return _rejected(_recommendation(ticket_b, refund), other_agent)


# --- the queue ---------------------------------------------------------------------------------


def test_queue_lists_only_own_teams_unreviewed_overrides(
    ticket_a: Ticket,
    refund: RecoveryAction,
    agent: User,
    supervisor: User,
    admin_user: User,
    other_supervisor: User,
    rejected_a: AuditEvent,
    rejected_b: AuditEvent,
) -> None:
    accepted = _approved(_recommendation(ticket_a, refund), agent)  # no override
    edited = _approved(_recommendation(ticket_a, refund), agent, amount="15.00")
    discarded = _draft(ticket_a, agent, DraftDecision.DISCARDED)
    added = _added(ticket_a, refund, agent)
    already = _rejected(_recommendation(ticket_a, refund), agent)
    audit_override_reviewed(event=already, supervisor=other_supervisor, verdict="accepted", note="")

    mine = list(override_queue_for_user(user=supervisor))
    everything = list(override_queue_for_user(user=admin_user))

    assert not accepted.is_override
    assert mine == [added, discarded, edited, rejected_a]  # newest first
    assert everything == [added, discarded, edited, rejected_b, rejected_a]


def test_queue_is_empty_for_an_agent_whatever_their_team(
    agent: User, rejected_a: AuditEvent
) -> None:
    assert list(override_queue_for_user(user=agent)) == []


def test_queue_period_filter(
    ticket_a: Ticket, refund: RecoveryAction, agent: User, supervisor: User
) -> None:
    with mock.patch(
        "django.utils.timezone.now", return_value=timezone.now() - dt.timedelta(days=40)
    ):
        old = _rejected(_recommendation(ticket_a, refund), agent)
    recent = _rejected(_recommendation(ticket_a, refund), agent)

    last_30 = list(
        override_queue_for_user(user=supervisor, since=timezone.now() - dt.timedelta(30))
    )

    assert last_30 == [recent]
    assert list(override_queue_for_user(user=supervisor)) == [recent, old]


def test_queue_page_full_and_htmx_fragment(
    login: Callable[[User], Client], supervisor: User, rejected_a: AuditEvent
) -> None:
    client = login(supervisor)

    page = client.get(reverse("supervision:overrides"))
    fragment = client.get(reverse("supervision:overrides"), {"period": "7"}, **HX)

    assert page.status_code == fragment.status_code == 200
    assert b"<html" in page.content and b'id="override-queue"' in page.content
    assert b"{%" not in page.content and b"{#" not in page.content
    assert b"<html" not in fragment.content
    assert fragment.content.lstrip().startswith(b'<div id="override-queue">')
    for content in (page.content, fragment.content):
        assert f'id="override-{rejected_a.pk}"'.encode() in content
        assert b"Parcel already found" in content and b"Partial refund" in content
        assert b"1 override waiting" in content
    assert (page.context["period"], fragment.context["period"]) == ("all", "7")


def test_queue_page_query_count_does_not_grow_with_rows(
    login: Callable[[User], Client],
    supervisor: User,
    agent: User,
    carol: User,
    team_a: Team,
    refund: RecoveryAction,
    apology: RecoveryAction,
    django_assert_max_num_queries: Callable[..., object],
) -> None:
    for i in range(8):
        ticket = TicketFactory(team=team_a)
        _rejected(_recommendation(ticket, refund), agent if i % 2 else carol)
        _approved(_recommendation(ticket, apology, amount=None), carol)  # not an override
        _draft(ticket, agent, DraftDecision.EDITED)
        _added(ticket, refund, carol)
    client = login(supervisor)

    # session + user + groups + teams + count + the page (ticket, customer, team, actor,
    # recommendation and action joined in) + the count of stuck executions + the intent
    # labels (read once, then cached)
    with django_assert_max_num_queries(8):
        response = client.get(reverse("supervision:overrides"))

    assert response.content.count(b'<li id="override-') == 24


def test_hostile_text_in_a_reason_is_escaped(
    login: Callable[[User], Client],
    supervisor: User,
    ticket_a: Ticket,
    refund: RecoveryAction,
    agent: User,
) -> None:
    ticket_a.subject = XSS
    ticket_a.save()
    event = _rejected(_recommendation(ticket_a, refund), agent, reason=XSS)

    response = login(supervisor).get(reverse("supervision:overrides"))

    assert XSS.encode() not in response.content
    assert b"&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in response.content
    assert b"<img src=x" not in response.content
    assert f'id="override-{event.pk}"'.encode() in response.content


# --- reviewing ---------------------------------------------------------------------------------


def test_accept_records_a_review_and_leaves_the_queue(
    supervisor: User, rejected_a: AuditEvent
) -> None:
    review = override_review(
        event_id=rejected_a.pk, supervisor=supervisor, verdict="accepted", note="  "
    )

    assert (review.kind, review.actor, review.reviewed_event) == (
        AuditKind.OVERRIDE_REVIEWED,
        supervisor,
        rejected_a,
    )
    assert (review.final, review.reason, review.team_id, review.ticket_id) == (
        {"verdict": "accepted"},
        "",
        rejected_a.team_id,
        rejected_a.ticket_id,
    )
    assert not review.is_override
    assert list(override_queue_for_user(user=supervisor)) == []


def test_coaching_records_the_note(supervisor: User, rejected_a: AuditEvent) -> None:
    review = override_review(
        event_id=rejected_a.pk,
        supervisor=supervisor,
        verdict="coaching",
        note=" Offer at least the shipping back. ",
    )

    assert (review.final, review.reason) == (
        {"verdict": "coaching"},
        "Offer at least the shipping back.",
    )
    assert _reviews_of(rejected_a) == [review]


@pytest.mark.parametrize(
    ("verdict", "note", "field"),
    [("coaching", "   ", "note"), ("approve", "fine", "verdict"), ("", "", "verdict")],
)
def test_invalid_review_is_refused_and_records_nothing(
    supervisor: User, rejected_a: AuditEvent, verdict: str, note: str, field: str
) -> None:
    with pytest.raises(DomainError) as refused:
        override_review(event_id=rejected_a.pk, supervisor=supervisor, verdict=verdict, note=note)

    assert refused.value.field == field
    assert _reviews_of(rejected_a) == []
    assert list(override_queue_for_user(user=supervisor)) == [rejected_a]


def test_second_review_is_refused_and_records_nothing(
    supervisor: User, other_supervisor: User, rejected_a: AuditEvent
) -> None:
    first = override_review(
        event_id=rejected_a.pk, supervisor=other_supervisor, verdict="accepted", note=""
    )

    with pytest.raises(Conflict):
        override_review(
            event_id=rejected_a.pk, supervisor=supervisor, verdict="coaching", note="Hmm"
        )

    assert _reviews_of(rejected_a) == [first]
    assert AuditEvent.objects.filter(kind=AuditKind.OVERRIDE_REVIEWED).count() == 1


def test_other_teams_override_is_a_404_and_records_nothing(
    supervisor: User, rejected_b: AuditEvent
) -> None:
    with pytest.raises(NotFound):
        override_review(event_id=rejected_b.pk, supervisor=supervisor, verdict="accepted", note="")

    assert _reviews_of(rejected_b) == []


def test_an_event_that_is_no_override_is_a_404(
    supervisor: User, ticket_a: Ticket, refund: RecoveryAction, agent: User
) -> None:
    accepted = _approved(_recommendation(ticket_a, refund), agent)

    with pytest.raises(NotFound):
        override_review(event_id=accepted.pk, supervisor=supervisor, verdict="accepted", note="")

    assert _reviews_of(accepted) == []


def test_an_agent_may_not_review_even_an_override_of_their_team(
    agent: User, rejected_a: AuditEvent
) -> None:
    with pytest.raises(Forbidden):
        override_review(event_id=rejected_a.pk, supervisor=agent, verdict="accepted", note="")

    assert _reviews_of(rejected_a) == []


def test_an_override_of_another_team_is_not_found_by_the_selector(
    supervisor: User, rejected_a: AuditEvent, rejected_b: AuditEvent
) -> None:
    mine = override_get_for_user(user=supervisor, event_id=rejected_a.pk)
    theirs = override_get_for_user(user=supervisor, event_id=rejected_b.pk)

    assert mine == rejected_a and mine.review is None  # type: ignore[attr-defined]
    assert theirs is None


def test_agents_supervise_no_team_and_admins_every_team(
    agent: User, supervisor: User, admin_user: User, team_a: Team, team_b: Team
) -> None:
    assert team_ids_for_supervisor(user=agent) == set()
    assert team_ids_for_supervisor(user=supervisor) == {team_a.pk}
    assert team_ids_for_supervisor(user=admin_user) == {team_a.pk, team_b.pk}


def test_nobody_reviews_their_own_override(
    supervisor: User, ticket_a: Ticket, refund: RecoveryAction
) -> None:
    own = _rejected(_recommendation(ticket_a, refund), supervisor)

    with pytest.raises(DomainError) as refused:
        override_review(event_id=own.pk, supervisor=supervisor, verdict="accepted", note="")

    assert refused.value.code == "own_override"
    assert _reviews_of(own) == []


def test_admin_reviews_any_team(admin_user: User, rejected_b: AuditEvent) -> None:
    review = override_review(
        event_id=rejected_b.pk, supervisor=admin_user, verdict="accepted", note=""
    )

    assert _reviews_of(rejected_b) == [review]


@pytest.mark.django_db(transaction=True)
def test_concurrent_reviews_record_one(
    supervisor: User, other_supervisor: User, rejected_a: AuditEvent
) -> None:
    """Two supervisors click at the same moment: the row lock lets one through, the other gets a
    Conflict (on SQLite the IMMEDIATE transactions serialise the same way)."""
    start = threading.Barrier(2)
    outcomes: list[str] = []

    def review(who: User) -> None:
        start.wait()
        try:
            override_review(event_id=rejected_a.pk, supervisor=who, verdict="accepted", note="")
            outcomes.append("recorded")
        except Conflict:
            outcomes.append("conflict")
        finally:
            connection.close()

    threads = [threading.Thread(target=review, args=(u,)) for u in (supervisor, other_supervisor)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(outcomes) == ["conflict", "recorded"]
    assert len(_reviews_of(rejected_a)) == 1


def test_review_with_htmx_swaps_the_row_to_its_reviewed_state(
    login: Callable[[User], Client], supervisor: User, rejected_a: AuditEvent
) -> None:
    response = login(supervisor).post(
        reverse("supervision:override-review", args=[rejected_a.pk]),
        {"verdict": "coaching", "note": "Check the tracking first."},
        **HX,
    )

    assert response.status_code == 200
    assert b"<html" not in response.content
    assert response.content.lstrip().startswith(f'<li id="override-{rejected_a.pk}"'.encode())
    assert b"Flagged for coaching</strong>" in response.content
    assert b"Check the tracking first." in response.content
    assert b"<form" not in response.content
    [review] = _reviews_of(rejected_a)
    assert (review.actor, review.final) == (supervisor, {"verdict": "coaching"})


def test_review_with_htmx_updates_the_queue_counter_in_place(
    login: Callable[[User], Client],
    supervisor: User,
    agent: User,
    ticket_a: Ticket,
    refund: RecoveryAction,
    rejected_a: AuditEvent,
    rejected_b: AuditEvent,
) -> None:
    # Given three overrides waiting in team A (team B's is not counted)
    for _ in range(2):
        _rejected(_recommendation(ticket_a, refund), agent)
    client = login(supervisor)
    page = client.get(reverse("supervision:overrides")).content.decode()
    assert "3 overrides waiting for a review." in page

    # When one is reviewed through htmx
    response = client.post(
        reverse("supervision:override-review", args=[rejected_a.pk]),
        {"verdict": "accepted", "note": "", "period": "all"},
        **HX,
    )

    # Then the answer also swaps the counter out of band, already down by one
    content = response.content.decode()
    assert response.status_code == 200
    assert (
        '<p id="override-queue-count" class="queue-count" role="status" hx-swap-oob="true">'
        "2 overrides waiting for a review.</p>"
    ) in content
    assert 'id="override-queue-count"' in page and "hx-swap-oob" not in page


def test_refused_review_with_htmx_leaves_the_queue_counter_as_it_was(
    login: Callable[[User], Client], supervisor: User, rejected_a: AuditEvent
) -> None:
    response = login(supervisor).post(
        reverse("supervision:override-review", args=[rejected_a.pk]),
        {"verdict": "coaching", "note": ""},
        **HX,
    )

    assert response.status_code == 422
    assert "1 override waiting for a review.</p>" in response.content.decode()
    assert _reviews_of(rejected_a) == []


def test_review_without_htmx_redirects_back_to_the_queue(
    login: Callable[[User], Client], supervisor: User, rejected_a: AuditEvent
) -> None:
    client = login(supervisor)

    response = client.post(
        reverse("supervision:override-review", args=[rejected_a.pk]),
        {"verdict": "accepted", "note": "", "period": "30", "page": "1"},
    )

    assert response.status_code == 302
    assert response["Location"] == reverse("supervision:overrides") + "?period=30&page=1"
    assert len(_reviews_of(rejected_a)) == 1
    followed = client.get(response["Location"])
    assert b"Review recorded." in followed.content
    assert f'id="override-{rejected_a.pk}"'.encode() not in followed.content


def test_redirect_back_keeps_only_known_parameters(
    login: Callable[[User], Client], supervisor: User, rejected_a: AuditEvent
) -> None:
    response = login(supervisor).post(
        reverse("supervision:override-review", args=[rejected_a.pk]),
        {"verdict": "accepted", "period": "//evil.example", "page": "x"},
    )

    assert response["Location"] == reverse("supervision:overrides")


def test_coaching_without_note_with_htmx_shows_the_error_in_the_row(
    login: Callable[[User], Client], supervisor: User, rejected_a: AuditEvent
) -> None:
    response = login(supervisor).post(
        reverse("supervision:override-review", args=[rejected_a.pk]),
        {"verdict": "coaching", "note": ""},
        **HX,
    )

    assert response.status_code == 422
    assert b"coaching needs a note" in response.content
    assert b"<form" in response.content  # still reviewable
    assert _reviews_of(rejected_a) == []


def test_coaching_without_note_without_htmx_redirects_with_the_error(
    login: Callable[[User], Client], supervisor: User, rejected_a: AuditEvent
) -> None:
    client = login(supervisor)

    response = client.post(
        reverse("supervision:override-review", args=[rejected_a.pk]), {"verdict": "coaching"}
    )

    assert response.status_code == 302
    assert b"coaching needs a note" in client.get(response["Location"]).content
    assert _reviews_of(rejected_a) == []


def test_second_review_in_the_page_shows_the_first_and_records_nothing(
    login: Callable[[User], Client],
    supervisor: User,
    other_supervisor: User,
    rejected_a: AuditEvent,
) -> None:
    first = override_review(
        event_id=rejected_a.pk, supervisor=other_supervisor, verdict="accepted", note=""
    )
    client = login(supervisor)
    url = reverse("supervision:override-review", args=[rejected_a.pk])

    fragment = client.post(url, {"verdict": "coaching", "note": "No"}, **HX)
    plain = client.post(url, {"verdict": "coaching", "note": "No"})

    assert fragment.status_code == 200
    assert b"already been reviewed" in fragment.content
    assert b"Accepted</strong>" in fragment.content and b"by sue" in fragment.content
    assert plain.status_code == 302
    assert b"already been reviewed" in client.get(plain["Location"]).content
    assert _reviews_of(rejected_a) == [first]


@pytest.mark.parametrize("headers", [{}, HX])
def test_reviewing_another_teams_override_is_a_404(
    login: Callable[[User], Client], supervisor: User, rejected_b: AuditEvent, headers: dict
) -> None:
    response = login(supervisor).post(
        reverse("supervision:override-review", args=[rejected_b.pk]),
        {"verdict": "accepted"},
        **headers,
    )

    assert response.status_code == 404
    assert _reviews_of(rejected_b) == []


# --- who may see what --------------------------------------------------------------------------

PAGES = [
    ("get", "supervision:overrides", {}),
    ("get", "supervision:overrides", HX),
    ("get", "supervision:rates", {}),
    ("get", "supervision:fairness", {}),
    ("post", "supervision:override-review", {}),
    ("post", "supervision:override-review", HX),
]


@pytest.mark.parametrize("who", ["anonymous", "no_role_user", "agent", "other_agent"])
@pytest.mark.parametrize(("method", "name", "headers"), PAGES)
def test_only_supervisors_and_admins_reach_the_supervisor_pages(
    request: pytest.FixtureRequest,
    client: Client,
    rejected_a: AuditEvent,
    who: str,
    method: str,
    name: str,
    headers: dict[str, str],
) -> None:
    if who != "anonymous":
        client.force_login(request.getfixturevalue(who))
    args = [rejected_a.pk] if name == "supervision:override-review" else []
    url = reverse(name, args=args)

    if method == "get":
        response = client.get(url, **headers)
    else:
        response = client.post(url, {"verdict": "accepted"}, **headers)

    if who == "anonymous":
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))
    else:
        assert response.status_code == 403
    assert _reviews_of(rejected_a) == []


@pytest.mark.parametrize("who", ["supervisor", "admin_user"])
@pytest.mark.parametrize(
    "name", ["supervision:overrides", "supervision:rates", "supervision:fairness"]
)
def test_supervisors_and_admins_see_the_pages(
    request: pytest.FixtureRequest, client: Client, rejected_a: AuditEvent, who: str, name: str
) -> None:
    client.force_login(request.getfixturevalue(who))

    response = client.get(reverse(name))

    assert response.status_code == 200
    assert b'aria-label="Supervision"' in response.content


# --- override rates ----------------------------------------------------------------------------


@pytest.fixture
def crafted_rates(
    team_a: Team,
    agent: User,
    carol: User,
    other_agent: User,
    ticket_b: Ticket,
    refund: RecoveryAction,
    apology: RecoveryAction,
) -> dict[str, dt.datetime]:
    """alice (three weeks ago) and carol (three days ago) in team A; bob in team B.

    alice: refund approved as is, refund changed, apology rejected, draft used, draft discarded,
    one refund added (+ her later decision on it, which is no decision on a suggestion).
    carol: refund rejected, draft edited, apology approved.
    """
    now = timezone.now()
    weeks = {"alice": now - dt.timedelta(days=20), "carol": now - dt.timedelta(days=3)}
    late, damaged = "late_delivery", "damaged_item"

    def ticket() -> Ticket:
        return TicketFactory(team=team_a)

    with mock.patch("django.utils.timezone.now", return_value=weeks["alice"]):
        _approved(_recommendation(ticket(), refund, intent=late), agent)
        _approved(_recommendation(ticket(), refund, intent=late), agent, amount="10.00")
        _rejected(_recommendation(ticket(), apology, intent=late, amount=None), agent)
        _draft(ticket(), agent, DraftDecision.ACCEPTED, intent=late)
        _draft(ticket(), agent, DraftDecision.DISCARDED, intent=damaged)
        added = _added(ticket(), refund, agent, intent=damaged)
        audit_recommendation_decided(
            recommendation=added.recommendation, actor=agent, amount=Decimal("20.00"), reason=""
        )
        audit_recommendation_shown(recommendation=_recommendation(ticket(), refund))
    with mock.patch("django.utils.timezone.now", return_value=weeks["carol"]):
        _rejected(_recommendation(ticket(), refund, intent=damaged), carol)
        _draft(ticket(), carol, DraftDecision.EDITED, intent=damaged)
        _approved(_recommendation(ticket(), apology, intent=damaged, amount=None), carol)
        _rejected(_recommendation(ticket_b, refund, intent=late), other_agent)
    return weeks


RATE_FIELDS = ("label", "decisions", "accepted", "overridden", "rejected", "changed", "added")


def _counts(rate: OverrideRate) -> tuple[object, ...]:
    return tuple(getattr(rate, name) for name in RATE_FIELDS)


def test_override_rates_on_a_crafted_set(
    supervisor: User, crafted_rates: dict[str, dt.datetime]
) -> None:
    rates = override_rates_for_user(user=supervisor)

    assert _counts(rates.total) == ("All decisions", 8, 3, 5, 3, 2, 1)
    assert (rates.total.acceptance_rate, rates.total.override_rate) == (3 / 8, 5 / 8)
    assert [_counts(r) for r in rates.by_agent] == [
        ("alice", 5, 2, 3, 2, 1, 1),
        ("carol", 3, 1, 2, 1, 1, 0),
    ]
    assert rates.by_agent[0].override_rate == 0.6
    assert [_counts(r) for r in rates.by_action] == [
        ("Partial refund", 3, 1, 2, 1, 1, 1),
        ("Drafted reply", 3, 1, 2, 1, 1, 0),
        ("Apology", 2, 1, 1, 1, 0, 0),
    ]
    assert [_counts(r) for r in rates.by_intent] == [
        ("Damaged item", 4, 1, 3, 2, 1, 1),
        ("Late delivery", 4, 2, 2, 1, 1, 0),
    ]
    alice_week, carol_week = (crafted_rates[n].isocalendar() for n in ("alice", "carol"))
    assert [_counts(r) for r in rates.by_week] == [
        (f"{alice_week[0]}-W{alice_week[1]:02d}", 5, 2, 3, 2, 1, 1),
        (f"{carol_week[0]}-W{carol_week[1]:02d}", 3, 1, 2, 1, 1, 0),
    ]


def test_override_rates_since(supervisor: User, crafted_rates: dict[str, dt.datetime]) -> None:
    rates = override_rates_for_user(user=supervisor, since=timezone.now() - dt.timedelta(days=7))

    assert _counts(rates.total) == ("All decisions", 3, 1, 2, 1, 1, 0)
    assert [r.label for r in rates.by_agent] == ["carol"]


def test_override_rates_of_admin_include_every_team(
    admin_user: User, crafted_rates: dict[str, dt.datetime]
) -> None:
    rates = override_rates_for_user(user=admin_user)

    assert _counts(rates.total) == ("All decisions", 9, 3, 6, 4, 2, 1)
    assert [r.label for r in rates.by_agent] == ["alice", "carol", "bob"]


def test_override_rates_queries_do_not_grow_with_events(
    supervisor: User,
    crafted_rates: dict[str, dt.datetime],
    django_assert_max_num_queries: Callable[..., object],
) -> None:
    supervisor.has_role(Role.SUPERVISOR)  # the role lookup is the view's, not the selector's
    # teams + total + 4 groupings + action names + intent labels (then cached)
    with django_assert_max_num_queries(8):
        override_rates_for_user(user=supervisor)


def test_rates_page_draws_one_chart_per_grouping(
    login: Callable[[User], Client], supervisor: User, crafted_rates: dict[str, dt.datetime]
) -> None:
    response = login(supervisor).get(reverse("supervision:rates"), {"period": "all"})

    content = response.content.decode()
    assert response.status_code == 200
    assert content.count("<svg") == 4
    assert '<title id="chart-agent-title">Override rate by agent</title>' in content
    assert "60% overridden · 3 of 5 · 1 added" in content  # alice
    # alice: 2 of 5 accepted = 120 of the 300 units, the 3 overridden the remaining 180
    assert 'class="bar-accepted" x="210" y="4" width="120"' in content
    assert 'class="bar-overridden" x="330" y="4" width="180"' in content
    assert "style=" not in content and "<script" not in content.split("</head>")[1]


def test_rates_page_default_period_is_30_days(
    login: Callable[[User], Client], supervisor: User, crafted_rates: dict[str, dt.datetime]
) -> None:
    week = login(supervisor).get(reverse("supervision:rates"), {"period": "7"})
    default = login(supervisor).get(reverse("supervision:rates"))

    assert week.context["rates"].total.decisions == 3
    assert default.context["rates"].total.decisions == 8


# --- fairness ----------------------------------------------------------------------------------


def _case(
    team: Team,
    segment: str,
    intent: str,
    offers: list[tuple[RecoveryAction, str, str | None]],
) -> None:
    """One analysed message of a customer of `segment`, with its recommendations."""
    ticket = TicketFactory(team=team, customer=CustomerFactory(segment=segment))
    analysis = _analysis(ticket, intent)
    for action, status, final in offers:
        _recommendation(
            ticket,
            action,
            analysis=analysis,
            amount=None if not action.monetary else (final or "20.00"),
            status=status,
            final=final,
        )


APPROVED, EXECUTED = RecommendationStatus.APPROVED, RecommendationStatus.EXECUTED
REJECTED, PROPOSED = RecommendationStatus.REJECTED, RecommendationStatus.PROPOSED
AWAITING = RecommendationStatus.AWAITING_COAPPROVAL


def _cases(
    team: Team,
    refund: RecoveryAction,
    segment: str,
    *,
    cases: int,
    amounts: list[str],
    intent: str = "late_delivery",
    level: str = "frustrated",
    sentiment: str = "",
) -> None:
    """`cases` analysed messages of `segment` customers, a refund on each: approved with the
    given amounts on the first ones, rejected on the rest."""
    for i in range(cases):
        ticket = TicketFactory(team=team, customer=CustomerFactory(segment=segment))
        analysis = _analysis(ticket, intent, level=level, sentiment=sentiment)
        offered = i < len(amounts)
        _recommendation(
            ticket,
            refund,
            analysis=analysis,
            amount=amounts[i] if offered else "20.00",
            status=APPROVED if offered else REJECTED,
            final=amounts[i] if offered else None,
        )


def _flags(report: object) -> dict[tuple[str, str, str], tuple[bool, bool]]:
    return {
        (i.intent, i.severity, c.segment): (c.rate_flagged, c.amount_flagged)
        for i in report.intents  # type: ignore[attr-defined]
        for c in i.segments
    }


@pytest.fixture
def fairness_settings(settings: Settings) -> Settings:
    settings.RECOVERY_FAIRNESS_GAP = 0.25
    settings.RECOVERY_FAIRNESS_MIN_SAMPLES = 5
    settings.RECOVERY_FAIRNESS_ALPHA = 0.05
    return settings


def test_fairness_single_money_offer_flags_nothing(
    supervisor: User, team_a: Team, refund: RecoveryAction, fairness_settings: Settings
) -> None:
    # Given one money offer in the data, to a new customer, among 50 cases of three segments
    _cases(team_a, refund, Segment.NEW, cases=10, amounts=["125.00"])
    _cases(team_a, refund, Segment.STANDARD, cases=20, amounts=[])
    _cases(team_a, refund, Segment.VIP, cases=20, amounts=[])

    report = fairness_report_for_user(user=supervisor)

    assert report.flagged_count == 0
    assert set(_flags(report).values()) == {(False, False)}
    new = report.intents[0].segments[0]
    assert new.rate_words == (
        "Offered money in 1 of 10 cases (10%) against 0 of 40 (0%) in the other segments; "
        "difference +10 points, 95% CI -2 to +40; could be chance, p = 0.200."
    )
    assert new.amount_words == (
        "Too few offers to compare amounts: 1 here and 0 in the other segments "
        "(at least 5 on each side)."
    )


def test_fairness_below_the_minimum_sample_on_either_side_flags_nothing(
    supervisor: User, team_a: Team, refund: RecoveryAction, fairness_settings: Settings
) -> None:
    # Given standard customers always offered money, VIPs (4 cases, under the minimum) never
    fairness_settings.RECOVERY_FAIRNESS_GAP = 0.05
    _cases(team_a, refund, Segment.STANDARD, cases=40, amounts=["20.00"] * 40)
    _cases(team_a, refund, Segment.VIP, cases=4, amounts=[])

    report = fairness_report_for_user(user=supervisor)

    # Then neither is flagged: the standard segment's other side is the 4 VIP cases
    assert report.flagged_count == 0
    assert _flags(report) == {
        ("late_delivery", "frustrated", "standard"): (False, False),
        ("late_delivery", "frustrated", "vip"): (False, False),
    }
    assert report.intents[0].segments[0].rate_words == (
        "Too few cases to compare: 40 here and 4 in the other segments (at least 5 on each side)."
    )


def test_fairness_flags_a_significant_gap_with_its_test_in_words(
    supervisor: User, team_a: Team, refund: RecoveryAction, fairness_settings: Settings
) -> None:
    # Given new customers offered money in 4 of 20 cases, the others in 60 of 80, and at-risk
    # customers offered about a third of what standard customers get
    _cases(team_a, refund, Segment.NEW, cases=20, amounts=["20.00"] * 4)
    _cases(team_a, refund, Segment.STANDARD, cases=40, amounts=["28.00", "30.00", "32.00"] * 10)
    _cases(team_a, refund, Segment.AT_RISK, cases=40, amounts=["9.00", "10.00", "11.00"] * 10)

    report = fairness_report_for_user(user=supervisor)

    assert _flags(report) == {
        ("late_delivery", "frustrated", "at_risk"): (False, True),
        ("late_delivery", "frustrated", "new"): (True, False),
        ("late_delivery", "frustrated", "standard"): (False, True),
    }
    assert report.flagged_count == 3
    at_risk, new, _standard = report.intents[0].segments
    assert new.rate_words == (
        "Offered money in 4 of 20 cases (20%) against 60 of 80 (75%) in the other segments; "
        "difference -55 points, 95% CI -69 to -31; unlikely to be chance, p < 0.001."
    )
    assert at_risk.amount_words == (
        "Mean offered 10.00 EUR over 30 offers against 28.82 EUR over 34 in the other segments; "
        "difference -18.82 EUR, 95% CI -20.12 to -17.53; unlikely to be chance, p < 0.001."
    )
    assert at_risk.amount_test is not None and at_risk.amount_test.p_value < 0.001


def test_fairness_significant_gap_smaller_than_the_limit_is_not_flagged(
    supervisor: User, team_a: Team, refund: RecoveryAction, fairness_settings: Settings
) -> None:
    # Given a clear gap (20% against 80%) and a limit of 80% of the other side's figure: new
    # customers get 60 points less than 80% (75% of it), standard ones 60 more than 20% (300%)
    fairness_settings.RECOVERY_FAIRNESS_GAP = 0.8
    _cases(team_a, refund, Segment.NEW, cases=20, amounts=["20.00"] * 4)
    _cases(team_a, refund, Segment.STANDARD, cases=20, amounts=["20.00"] * 16)

    report = fairness_report_for_user(user=supervisor)

    new, standard = report.intents[0].segments
    assert (new.rate_flagged, standard.rate_flagged, report.flagged_count) == (False, True, 1)
    assert new.rate_words.endswith(
        "unlikely to be chance, p < 0.001, but too small a difference to flag."
    )


def test_fairness_gap_within_chance_is_not_flagged(
    supervisor: User, team_a: Team, refund: RecoveryAction, fairness_settings: Settings
) -> None:
    # Given 2 of 6 new customers offered money against 5 of 6 standard ones: a wide gap on
    # samples too small to tell it from chance
    _cases(team_a, refund, Segment.NEW, cases=6, amounts=["20.00"] * 2)
    _cases(team_a, refund, Segment.STANDARD, cases=6, amounts=["20.00"] * 5)

    report = fairness_report_for_user(user=supervisor)

    assert report.flagged_count == 0
    new, _standard = report.intents[0].segments
    assert new.rate_test is not None and new.rate_test.p_value == pytest.approx(0.2424, abs=1e-4)
    assert new.rate_words.endswith("could be chance, p = 0.242.")


def test_fairness_compares_within_the_same_intent_and_severity(
    supervisor: User, team_a: Team, refund: RecoveryAction, fairness_settings: Settings
) -> None:
    # Given calm customers never offered money and customers at risk of leaving always, with
    # new customers mostly calm and VIPs mostly at risk: pooled, new customers get 25% and VIPs
    # 75%; at each severity both get the same
    for segment, calm, at_risk in ((Segment.NEW, 30, 10), (Segment.VIP, 10, 30)):
        _cases(team_a, refund, segment, cases=calm, amounts=[], level="calm")
        _cases(team_a, refund, segment, cases=at_risk, amounts=["20.00"] * at_risk, level="at_risk")
    # and, in another intent, analyses without a conversation level fall back on sentiment
    _cases(
        team_a,
        refund,
        Segment.NEW,
        cases=5,
        amounts=[],
        intent="damaged_item",
        level="",
        sentiment="negative",
    )

    report = fairness_report_for_user(user=supervisor)

    assert report.flagged_count == 0
    assert [(i.intent, i.severity, i.severity_label, i.overall.cases) for i in report.intents] == [
        ("late_delivery", "at_risk", "At risk of leaving", 40),
        ("late_delivery", "calm", "Calm", 40),
        ("damaged_item", "negative", "Negative", 5),
    ]
    assert [(c.segment, c.cases, c.offers) for c in report.intents[0].segments] == [
        ("new", 10, 10),
        ("vip", 30, 30),
    ]
    assert report.intents[2].segments[0].rate_words == (
        "The only segment here: nothing to compare it with."
    )


def test_fairness_uses_the_segment_the_customer_had_at_the_time(
    supervisor: User, ticket_a: Ticket, refund: RecoveryAction
) -> None:
    rec = _recommendation(ticket_a, refund, status=APPROVED, final="20.00")
    audit_recommendation_shown(recommendation=rec)  # recorded while the customer was standard
    ticket_a.customer.segment = Segment.VIP
    ticket_a.customer.save()

    [late] = fairness_report_for_user(user=supervisor).intents

    assert [(c.segment, c.offers) for c in late.segments] == [("standard", 1)]


def test_fairness_page_shows_each_test_in_words_and_no_bare_percentage(
    login: Callable[[User], Client],
    supervisor: User,
    team_a: Team,
    refund: RecoveryAction,
    fairness_settings: Settings,
) -> None:
    _cases(team_a, refund, Segment.NEW, cases=20, amounts=["20.00"] * 4)
    _cases(team_a, refund, Segment.STANDARD, cases=40, amounts=["28.00", "30.00", "32.00"] * 10)
    _cases(team_a, refund, Segment.VIP, cases=10, amounts=["125.00"])

    response = login(supervisor).get(reverse("supervision:fairness"), {"period": "all"})

    content = response.content.decode()
    assert response.status_code == 200
    assert "3 segments flagged." in content  # new and VIP get less, standard more
    assert content.count("Flagged: offer rate") == 3
    assert content.count("Flagged: mean amount") == 0
    assert "Intent: Late delivery · severity: Frustrated" in content
    assert (
        "Offered money in 4 of 20 cases (20%) against 31 of 50 (62%) in the other segments; "
        "difference -42 points, 95% CI -59 to -16; unlikely to be chance, p = 0.001."
    ) in content
    assert (
        "Too few offers to compare amounts: 1 here and 34 in the other segments "
        "(at least 5 on each side)."
    ) in content  # VIP's one offer of 125.00: no amount gap shown
    assert "% above" not in content and "% below" not in content
    assert "style=" not in content
