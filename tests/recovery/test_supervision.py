"""The supervisor's audit of overrides: the review queue, reviews, override rates, fairness."""

import datetime as dt
import threading
from collections.abc import Callable
from decimal import Decimal
from unittest import mock

import pytest
from django.db import connection
from django.http import Http404
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from pytest_django.fixtures import Settings

from accounts.models import Role, Team, User
from copilot.models import DraftDecision, DraftDecisionEvent, MessageAnalysis
from core.errors import Conflict, DomainError
from recovery.events import (
    audit_draft_decided,
    audit_override_reviewed,
    audit_recommendation_added,
    audit_recommendation_decided,
    audit_recommendation_shown,
)
from recovery.models import (
    ActionKind,
    AuditEvent,
    AuditKind,
    Recommendation,
    RecommendationStatus,
    RecoveryAction,
)
from recovery.supervision import (
    OverrideRate,
    fairness_report_for_user,
    override_queue_for_user,
    override_rates_for_user,
    override_review,
)
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


def _analysis(ticket: Ticket, intent: str = "late_delivery") -> MessageAnalysis:
    version = ticket.analyses.count() + 1
    return MessageAnalysisFactory(
        ticket=ticket,
        transcript_version=version,
        message=ticket.messages.first(),
        finished_at=timezone.now(),
        intent=intent,
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
    # recommendation and action joined in) + the count of stuck executions
    with django_assert_max_num_queries(7):
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
    with pytest.raises(Http404):
        override_review(event_id=rejected_b.pk, supervisor=supervisor, verdict="accepted", note="")

    assert _reviews_of(rejected_b) == []


def test_an_event_that_is_no_override_is_a_404(
    supervisor: User, ticket_a: Ticket, refund: RecoveryAction, agent: User
) -> None:
    accepted = _approved(_recommendation(ticket_a, refund), agent)

    with pytest.raises(Http404):
        override_review(event_id=accepted.pk, supervisor=supervisor, verdict="accepted", note="")

    assert _reviews_of(accepted) == []


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
        ("damaged_item", 4, 1, 3, 2, 1, 1),
        ("late_delivery", 4, 2, 2, 1, 1, 0),
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
    with django_assert_max_num_queries(7):  # teams + total + 4 groupings + action names
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


@pytest.fixture
def fairness_data(
    settings: Settings,
    team_a: Team,
    team_b: Team,
    refund: RecoveryAction,
    apology: RecoveryAction,
) -> None:
    """late_delivery: new customers are offered money far less often than the others.
    damaged_item: at-risk customers are offered as often, but far less money."""
    settings.RECOVERY_FAIRNESS_GAP = 0.25
    settings.RECOVERY_FAIRNESS_MIN_SAMPLES = 4
    late, damaged = "late_delivery", "damaged_item"
    for segment in (Segment.STANDARD, Segment.VIP):
        for i in range(8):  # 6 of 8 offered 20.00: rate 0.75, mean 20.00
            if i < 3:
                offer = [(refund, APPROVED, "20.00"), (apology, APPROVED, None)]
            elif i < 6:
                offer = [(refund, EXECUTED, "20.00")]
            elif i == 6:
                offer = [(refund, REJECTED, None), (apology, EXECUTED, None)]
            else:
                offer = [(refund, AWAITING, None)]  # not offered (yet)
            _case(team_a, segment, late, offer)
    _case(team_a, Segment.NEW, late, [(refund, APPROVED, "5.00")])
    for _ in range(3):
        _case(team_a, Segment.NEW, late, [(refund, PROPOSED, None), (apology, APPROVED, None)])
    for _ in range(12):
        _case(team_a, Segment.STANDARD, damaged, [(refund, APPROVED, "30.00")])
    for _ in range(4):
        _case(team_a, Segment.AT_RISK, damaged, [(refund, EXECUTED, "10.00")])
    # Another team's customers, all new, get nothing: not in team A's report.
    for _ in range(6):
        _case(team_b, Segment.VIP, late, [(refund, REJECTED, None)])


def _cells(intent: object) -> dict[str, tuple[object, ...]]:
    return {
        c.segment: (c.cases, c.offers, c.gestures, c.total_amount, c.rate_flagged, c.amount_flagged)
        for c in intent.segments  # type: ignore[attr-defined]
    }


def test_fairness_flags_exactly_the_segment_offered_less(
    supervisor: User, fairness_data: None
) -> None:
    report = fairness_report_for_user(user=supervisor)

    late, damaged = report.intents  # most cases first
    assert (late.intent, damaged.intent) == ("late_delivery", "damaged_item")
    assert _cells(late) == {
        "new": (4, 1, 3, Decimal("5.00"), True, False),  # 1 offer: too few for the mean
        "standard": (8, 6, 4, Decimal("120.00"), False, False),
        "vip": (8, 6, 4, Decimal("120.00"), False, False),
    }
    overall = late.overall
    assert (overall.cases, overall.offers, overall.total_amount) == (20, 13, Decimal("245.00"))
    assert overall.offer_rate == 13 / 20 and overall.mean_amount == Decimal("18.85")
    new = late.segments[0]
    assert (new.offer_rate, new.mean_amount) == (0.25, Decimal("5.00"))
    assert new.rate_gap == pytest.approx((0.25 - 0.65) / 0.65)

    assert _cells(damaged) == {
        "at_risk": (4, 4, 0, Decimal("40.00"), False, True),
        "standard": (12, 12, 0, Decimal("360.00"), False, False),
    }
    assert damaged.overall.mean_amount == Decimal("25.00")
    assert damaged.segments[0].amount_gap == pytest.approx(-0.6)
    assert report.flagged_count == 2


def test_fairness_needs_enough_samples_to_flag(
    supervisor: User, fairness_data: None, settings: Settings
) -> None:
    settings.RECOVERY_FAIRNESS_MIN_SAMPLES = 5

    report = fairness_report_for_user(user=supervisor)

    assert report.flagged_count == 0  # new has 4 cases, at_risk 4 offers


@pytest.mark.parametrize(("limit", "flagged"), [(0.5, False), (0.49, True)])
def test_fairness_gap_of_exactly_the_limit_is_not_flagged(
    supervisor: User,
    team_a: Team,
    refund: RecoveryAction,
    settings: Settings,
    limit: float,
    flagged: bool,
) -> None:
    settings.RECOVERY_FAIRNESS_MIN_SAMPLES = 4
    settings.RECOVERY_FAIRNESS_GAP = limit
    # standard 3 of 4 offered, vip 1 of 4: overall 1/2, so both are exactly half off it.
    for segment, offered in ((Segment.STANDARD, 3), (Segment.VIP, 1)):
        for i in range(4):
            status, final = (APPROVED, "20.00") if i < offered else (REJECTED, None)
            _case(team_a, segment, "late_delivery", [(refund, status, final)])

    [late] = fairness_report_for_user(user=supervisor).intents

    assert [(c.segment, c.rate_gap, c.rate_flagged) for c in late.segments] == [
        ("standard", 0.5, flagged),
        ("vip", -0.5, flagged),
    ]


def test_fairness_uses_the_segment_the_customer_had_at_the_time(
    supervisor: User, ticket_a: Ticket, refund: RecoveryAction
) -> None:
    rec = _recommendation(ticket_a, refund, status=APPROVED, final="20.00")
    audit_recommendation_shown(recommendation=rec)  # recorded while the customer was standard
    ticket_a.customer.segment = Segment.VIP
    ticket_a.customer.save()

    [late] = fairness_report_for_user(user=supervisor).intents

    assert [(c.segment, c.offers) for c in late.segments] == [("standard", 1)]


def test_fairness_page_marks_flagged_cells_with_text(
    login: Callable[[User], Client], supervisor: User, fairness_data: None
) -> None:
    response = login(supervisor).get(reverse("supervision:fairness"), {"period": "all"})

    content = response.content.decode()
    assert response.status_code == 200
    assert "2 segments flagged." in content
    assert content.count("Flagged: offer rate") == 1
    assert content.count("Flagged: mean amount") == 1
    assert "Intent: late_delivery" in content and "Intent: damaged_item" in content
    assert "62% below" in content  # new: 25% against 65%
    assert "style=" not in content
