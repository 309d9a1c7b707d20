"""Predictive support: the solves' features and labels, the backtest and training, the
queue (consent honoured), the agents' decisions, outcomes, emerging issues, the page and API."""

import datetime as dt
import random
from io import StringIO
from typing import Any

import numpy as np
import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import Team, User
from copilot.models import SolvedCase
from core.errors import Conflict, DomainError
from privacy.erasure import customer_erase
from privacy.services import consent_record
from recovery.models import (
    EmergingIssue,
    EmergingIssueKind,
    ProactiveDecision,
    ProactiveEntry,
    ProactiveModelRun,
    ProactiveStatus,
)
from recovery.proactive.emerging import (
    emerging_clusters_detect,
    emerging_exposed_customers,
    emerging_intents_detect,
)
from recovery.proactive.features import solve_rows
from recovery.proactive.queue import (
    proactive_entry_dismiss,
    proactive_entry_send,
    proactive_entry_snooze,
    proactive_outcomes_update,
    proactive_queue_refresh,
)
from recovery.proactive.service import proactive_model_train
from tests.factories import CustomerFactory, TicketFactory
from tickets.consent import ConsentPurpose
from tickets.models import AuthorKind, Customer, Message, Status, Ticket, TicketEvent
from tickets.services import ticket_change_status

pytestmark = pytest.mark.django_db

NOW = timezone.now()


def solved_ticket(
    *,
    customer: Customer,
    team: Team,
    created: dt.datetime,
    wait_hours: float = 1.0,
    intent: str = "",
    status: str = Status.SOLVED,
) -> Ticket:
    """A ticket the customer opened at `created`, answered after `wait_hours`, solved an hour
    after the answer."""
    answered = created + dt.timedelta(hours=wait_hours)
    ticket = TicketFactory(
        customer=customer,
        team=team,
        created_at=created,
        status=status,
        intent=intent,
        solved_at=answered + dt.timedelta(hours=1),
        resolution="Sorted out.",
        last_message_at=answered,
        transcript_version=2,
    )
    Message.objects.create(
        ticket=ticket,
        sequence=2,
        author_kind=AuthorKind.AGENT,
        body="We have sorted it out.",
        created_at=answered,
    )
    return ticket


def writes(customer: Customer, team: Team, at: dt.datetime) -> Ticket:
    return TicketFactory(customer=customer, team=team, created_at=at, status=Status.NEW)


def opt_out(customer: Customer, purpose: str) -> None:
    consent_record(customer=customer, purpose=purpose, granted=False, source="test", by=None)


# --- features and labels -----------------------------------------------------------------------


def test_solve_features_read_only_the_history_before_the_solve(team_a: Team) -> None:
    customer = CustomerFactory()
    first = solved_ticket(
        customer=customer, team=team_a, created=NOW - dt.timedelta(days=20), intent="track_refund"
    )
    second = solved_ticket(
        customer=customer,
        team=team_a,
        created=NOW - dt.timedelta(days=10),
        intent="track_refund",
        wait_hours=6,
    )
    # The first ticket came back after its solve once.
    TicketEvent.objects.create(
        ticket=first, kind="status_changed", data={"from": "solved", "to": "open"}
    )
    TicketEvent.objects.filter(ticket=first).update(created_at=NOW - dt.timedelta(days=15))
    writes(customer, team_a, NOW - dt.timedelta(days=7))  # 3 days after the second solve

    rows = {r.ticket_id: r for r in solve_rows(end=NOW)}

    f = rows[second.pk].features
    assert (f.same_intent_30d, f.tickets_30d, f.reopened_before, f.prior_tickets) == (1, 2, 1, 1)
    assert f.wait_hours == pytest.approx(6.0)
    assert f.intent == "track_refund"
    assert rows[second.pk].label == 1
    # The first solve: nothing before it, and nobody wrote within 7 days of it.
    assert rows[first.pk].features.tickets_30d == 1
    assert rows[first.pk].label == 0


def test_a_solve_whose_window_is_not_over_has_no_label_yet(team_a: Team) -> None:
    ticket = solved_ticket(
        customer=CustomerFactory(), team=team_a, created=NOW - dt.timedelta(days=2)
    )

    [row] = solve_rows(end=NOW)

    assert (row.ticket_id, row.label) == (ticket.pk, None)


# --- training and the backtest -----------------------------------------------------------------


def history(team: Team, *, n: int = 260, seed: int = 3) -> None:
    """`n` customers with one solve each over 120 days: the longer they waited on us, the
    likelier they wrote again within a week (the baseline's signal is absent)."""
    rng = random.Random(seed)
    for i in range(n):
        customer = CustomerFactory()
        created = NOW - dt.timedelta(days=125) + dt.timedelta(hours=i * 11)
        wait = rng.choice([0.5, 1.0, 2.0, 30.0, 60.0])
        ticket = solved_ticket(customer=customer, team=team, created=created, wait_hours=wait)
        if rng.random() < (0.5 if wait > 10 else 0.05):
            assert ticket.solved_at is not None
            writes(customer, team, ticket.solved_at + dt.timedelta(days=2))


def test_backtest_beats_the_baseline_on_a_signal_it_does_not_see(team_a: Team) -> None:
    history(team_a)

    result = proactive_model_train()

    b = result.backtest
    assert b.n_train + b.n_test < b.n_labelled  # a window-long gap between the periods
    assert b.train_until + dt.timedelta(days=7) == b.test_from
    assert b.model.auc is not None and b.baseline.auc is not None
    assert b.model.auc > 0.65
    assert b.baseline.auc == pytest.approx(0.5)  # nobody contacted us twice in 30 days
    assert b.model.precision_at[20] > b.baseline.precision_at[20]
    assert ProactiveModelRun.objects.get().version == result.run.version


def test_training_twice_on_the_same_data_keeps_one_run(team_a: Team) -> None:
    history(team_a, n=200)

    first = proactive_model_train().run
    second = proactive_model_train().run

    assert first.pk == second.pk
    assert ProactiveModelRun.objects.count() == 1


def test_train_command_prints_both_figures_with_sample_sizes(team_a: Team) -> None:
    history(team_a)
    out = StringIO()

    call_command("train_proactive", stdout=out)

    text = out.getvalue()
    assert "predictor (calibrated)" in text
    assert "baseline: 2+ contacts in 30 days" in text
    assert "Test: " in text and "wrote again" in text


def test_too_little_history_is_refused_and_nothing_recorded(team_a: Team) -> None:
    solved_ticket(customer=CustomerFactory(), team=team_a, created=NOW - dt.timedelta(days=30))

    with pytest.raises(CommandError, match="solve"):
        call_command("train_proactive", stdout=StringIO())
    with pytest.raises(DomainError):
        proactive_model_train()
    assert ProactiveModelRun.objects.count() == 0


# --- the queue ---------------------------------------------------------------------------------


@pytest.fixture
def recent_solves(team_a: Team) -> list[Ticket]:
    """Three customers solved in the last days, each of whom contacted us twice in 30 days
    about the same thing (the heuristic puts them on the queue)."""
    tickets = []
    for days in (3, 4, 5):
        customer = CustomerFactory(name=f"Customer {days}")
        solved_ticket(
            customer=customer,
            team=team_a,
            created=NOW - dt.timedelta(days=20),
            intent="track_refund",
        )
        tickets.append(
            solved_ticket(
                customer=customer,
                team=team_a,
                created=NOW - dt.timedelta(days=days),
                intent="track_refund",
            )
        )
    return tickets


def test_queue_has_one_entry_per_customer_with_reasons_and_a_filled_message(
    recent_solves: list[Ticket],
) -> None:
    proactive_queue_refresh(now=NOW)
    proactive_queue_refresh(now=NOW)  # twice: still one entry each

    entries = list(ProactiveEntry.objects.order_by("customer__name"))
    assert [e.customer.name for e in entries] == ["Customer 3", "Customer 4", "Customer 5"]
    entry = entries[0]
    assert entry.ticket_id == recent_solves[0].pk
    assert entry.reasons[0].startswith(("Likely to write again", "Very likely to write again"))
    assert "Wrote 2 times about track refund in the last 30 days" in entry.reasons
    assert entry.suggested_message.startswith("Hi Customer,")
    assert "{agent_name}" in entry.suggested_message  # filled for the agent who opens it


def test_opted_out_customers_are_never_on_the_queue_and_are_counted(
    recent_solves: list[Ticket], team_a: Team
) -> None:
    opt_out(recent_solves[0].customer, ConsentPurpose.PROACTIVE)
    opt_out(recent_solves[1].customer, ConsentPurpose.PERSONALISATION)

    run = proactive_queue_refresh(now=NOW)

    assert list(ProactiveEntry.objects.values_list("customer_id", flat=True)) == [
        recent_solves[2].customer_id
    ]
    assert run.counts[str(team_a.pk)]["left_out_consent"] == 2


def test_a_customer_who_opts_out_after_being_queued_disappears_from_the_queue(
    recent_solves: list[Ticket], supervisor: User
) -> None:
    proactive_queue_refresh(now=NOW)
    opt_out(recent_solves[0].customer, ConsentPurpose.PROACTIVE)
    client = Client()
    client.force_login(supervisor)

    page = client.get(reverse("desk:proactive")).content.decode()

    assert "Customer 3" not in page
    assert "Customer 4" in page
    assert "1 left out because they opted out" in page


def test_a_customer_who_wrote_since_the_solve_is_not_queued(
    recent_solves: list[Ticket], team_a: Team
) -> None:
    writes(recent_solves[0].customer, team_a, NOW - dt.timedelta(days=1))

    proactive_queue_refresh(now=NOW)

    assert recent_solves[0].customer_id not in set(
        ProactiveEntry.objects.values_list("customer_id", flat=True)
    )


# --- decisions ---------------------------------------------------------------------------------


def test_send_goes_out_as_the_agents_reply_and_is_audited(
    recent_solves: list[Ticket], agent: User
) -> None:
    proactive_queue_refresh(now=NOW)
    entry = ProactiveEntry.objects.get(customer=recent_solves[0].customer)

    proactive_entry_send(entry=entry, agent=agent, body="Hi, is your refund through now?")

    entry.refresh_from_db()
    assert entry.status == ProactiveStatus.SENT
    message = entry.sent_message
    assert message is not None
    assert (message.ticket_id, message.author_kind, message.author_user_id) == (
        recent_solves[0].pk,
        AuthorKind.AGENT,
        agent.pk,
    )
    [decision] = ProactiveDecision.objects.filter(entry=entry)
    assert (decision.kind, decision.actor_id, decision.body) == (
        "edited",
        agent.pk,
        "Hi, is your refund through now?",
    )
    with pytest.raises(Conflict):
        proactive_entry_send(entry=entry, agent=agent, body="Again")
    assert Message.objects.filter(ticket=recent_solves[0], author_kind="agent").count() == 2


def test_send_on_a_closed_ticket_opens_a_new_one(team_a: Team, agent: User) -> None:
    customer = CustomerFactory()
    solved_ticket(customer=customer, team=team_a, created=NOW - dt.timedelta(days=15), intent="x")
    closed = solved_ticket(
        customer=customer,
        team=team_a,
        created=NOW - dt.timedelta(days=3),
        intent="x",
        status=Status.CLOSED,
    )
    proactive_queue_refresh(now=NOW)
    entry = ProactiveEntry.objects.get(customer=customer)

    proactive_entry_send(entry=entry, agent=agent, body="Checking in.")

    entry.refresh_from_db()
    assert entry.sent_message is not None
    assert entry.sent_message.ticket_id != closed.pk
    assert entry.sent_message.ticket.subject.startswith("Following up:")


def test_send_is_refused_when_consent_was_withdrawn_and_nothing_changes(
    recent_solves: list[Ticket], agent: User
) -> None:
    proactive_queue_refresh(now=NOW)
    entry = ProactiveEntry.objects.get(customer=recent_solves[0].customer)
    opt_out(entry.customer, ConsentPurpose.PROACTIVE)
    before = Message.objects.count()

    with pytest.raises(DomainError) as caught:
        proactive_entry_send(entry=entry, agent=agent, body="Hello")

    assert caught.value.field == "decision"
    assert Message.objects.count() == before
    assert ProactiveDecision.objects.count() == 0


def test_a_reply_with_an_unfilled_slot_is_refused(recent_solves: list[Ticket], agent: User) -> None:
    proactive_queue_refresh(now=NOW)
    entry = ProactiveEntry.objects.get(customer=recent_solves[0].customer)

    with pytest.raises(DomainError):
        proactive_entry_send(entry=entry, agent=agent, body="Your order [order number] is fine.")

    entry.refresh_from_db()
    assert entry.status == ProactiveStatus.OPEN


def test_snooze_and_dismiss_are_recorded_and_validated(
    recent_solves: list[Ticket], agent: User
) -> None:
    proactive_queue_refresh(now=NOW)
    one, two = ProactiveEntry.objects.order_by("id")[:2]

    with pytest.raises(DomainError) as caught:
        proactive_entry_snooze(entry=one, agent=agent, days=0)
    assert caught.value.field == "days"
    proactive_entry_snooze(entry=one, agent=agent, days=2)
    proactive_entry_dismiss(entry=two, agent=agent, reason="Already called them.")

    kinds = list(ProactiveDecision.objects.order_by("id").values_list("kind", "reason"))
    assert kinds == [("snoozed", ""), ("dismissed", "Already called them.")]
    one.refresh_from_db()
    assert one.status == ProactiveStatus.SNOOZED and one.snoozed_until is not None


def test_outcome_records_whether_the_customer_wrote_within_the_window(
    recent_solves: list[Ticket], agent: User, team_a: Team
) -> None:
    proactive_queue_refresh(now=NOW)
    wrote, silent = ProactiveEntry.objects.order_by("id")[:2]
    proactive_entry_dismiss(entry=wrote, agent=agent)
    proactive_entry_dismiss(entry=silent, agent=agent)
    writes(wrote.customer, team_a, NOW + dt.timedelta(days=2))

    assert proactive_outcomes_update(now=NOW + dt.timedelta(days=3)) == 0  # window running
    assert proactive_outcomes_update(now=NOW + dt.timedelta(days=8)) == 2
    assert proactive_outcomes_update(now=NOW + dt.timedelta(days=9)) == 0  # checked once

    wrote.refresh_from_db()
    silent.refresh_from_db()
    assert (wrote.wrote_again, silent.wrote_again) == (True, False)


def test_erasure_removes_the_texts_of_the_customers_entries(
    recent_solves: list[Ticket], agent: User, admin_user: User
) -> None:
    proactive_queue_refresh(now=NOW)
    sent = ProactiveEntry.objects.get(customer=recent_solves[0].customer)
    proactive_entry_send(entry=sent, agent=agent, body="Hi Customer 3, all good?")

    customer_erase(customer=sent.customer, by=admin_user)

    sent.refresh_from_db()
    assert sent.reasons == [] and "Customer 3" not in sent.suggested_message
    assert "Customer 3" not in ProactiveDecision.objects.get(entry=sent).body


# --- emerging issues ---------------------------------------------------------------------------


def test_a_rising_intent_is_detected_and_a_steady_one_is_not(team_a: Team) -> None:
    rng = random.Random(1)
    for day in range(4, 31):  # the baseline: 10 tickets a day, 1 about refunds
        for i in range(10):
            intent = "track_refund" if i == 0 else rng.choice(["track_order", "delivery_period"])
            TicketFactory(team=team_a, intent=intent, created_at=NOW - dt.timedelta(days=day))
    for i in range(30):  # the last 3 days: 10 of 30 about refunds
        intent = "track_refund" if i < 10 else rng.choice(["track_order", "delivery_period"])
        TicketFactory(team=team_a, intent=intent, created_at=NOW - dt.timedelta(hours=2 * i + 1))

    found = emerging_intents_detect(now=NOW)

    assert [(i.kind, i.key, i.recent_count, i.recent_total) for i in found] == [
        (EmergingIssueKind.INTENT_RISE, "track_refund", 10, 30)
    ]
    assert found[0].p_value is not None and found[0].p_value < 0.001


def test_exposed_customers_are_those_with_the_intent_who_have_not_written_since(
    team_a: Team,
) -> None:
    quiet, talking = CustomerFactory(), CustomerFactory()
    for customer in (quiet, talking):
        TicketFactory(
            customer=customer,
            team=team_a,
            intent="track_refund",
            created_at=NOW - dt.timedelta(days=10),
        )
    writes(talking, team_a, NOW - dt.timedelta(days=1))
    EmergingIssue.objects.create(
        kind=EmergingIssueKind.INTENT_RISE,
        key="track_refund",
        label="track refund",
        detected_on=timezone.localdate(NOW),
        recent_count=10,
        recent_total=30,
    )

    [(issue, customers)] = emerging_exposed_customers(now=NOW)

    assert (issue.key, customers) == ("track_refund", [quiet.pk])


# --- the page and the API ----------------------------------------------------------------------


def test_page_and_htmx_decision_swap_only_the_entry(
    recent_solves: list[Ticket], agent: User, other_agent: User
) -> None:
    proactive_queue_refresh(now=NOW)
    entry = ProactiveEntry.objects.get(customer=recent_solves[0].customer)
    client = Client()
    client.force_login(agent)
    url = reverse("desk:proactive-decide", args=[entry.pk])

    page = client.get(reverse("desk:proactive"))
    fragment = client.post(
        url, {"decision": "dismiss", "reason": "<b>bold</b>"}, HTTP_HX_REQUEST="true"
    )

    assert page.status_code == 200
    assert "Wrote 2 times about track refund" in page.content.decode()
    assert fragment.status_code == 200
    body = fragment.content.decode()
    assert body.lstrip().startswith(f'<li id="proactive-{entry.pk}"')
    assert "Dismissed" in body
    other = Client()
    other.force_login(other_agent)
    assert other.post(url, {"decision": "dismiss"}).status_code == 404


def test_htmx_decision_with_bad_input_answers_422_naming_the_problem(
    recent_solves: list[Ticket], agent: User
) -> None:
    proactive_queue_refresh(now=NOW)
    entry = ProactiveEntry.objects.get(customer=recent_solves[0].customer)
    client = Client()
    client.force_login(agent)

    response = client.post(
        reverse("desk:proactive-decide", args=[entry.pk]),
        {"decision": "snooze", "days": "soon"},
        HTTP_HX_REQUEST="true",
    )

    assert response.status_code == 422
    assert "Snooze for a number of days." in response.content.decode()
    entry.refresh_from_db()
    assert entry.status == ProactiveStatus.OPEN


def test_api_lists_the_queue_and_records_a_decision(
    recent_solves: list[Ticket], agent: User
) -> None:
    opt_out(recent_solves[2].customer, ConsentPurpose.PROACTIVE)
    proactive_queue_refresh(now=NOW)
    client = APIClient()
    client.force_login(agent)

    listed = client.get(reverse("api:proactive-queue"))
    entry_id = listed.json()[0]["id"]
    bad = client.post(
        reverse("api:proactive-decision", args=[entry_id]), {"decision": "later"}, format="json"
    )
    sent = client.post(
        reverse("api:proactive-decision", args=[entry_id]),
        {"decision": "send", "body": "Is all well now?"},
        format="json",
    )

    assert listed.status_code == 200
    assert len(listed.json()) == 2
    assert listed["X-Left-Out-Consent"] == "1"
    assert (
        listed.json()[0]["likelihood"].endswith("write again")
        or "write again" in (listed.json()[0]["likelihood"])
    )
    assert bad.status_code == 400 and "decision" in bad.json()
    assert sent.status_code == 200 and sent.json()["status"] == "sent"
    assert sent.json()["sent_body"] == "Is all well now?"
    shop = client.get(reverse("api:proactive-queue"), {"status": "sent"})
    assert [e["id"] for e in shop.json()] == [entry_id]


def test_an_issue_template_is_the_outreach_for_its_exposed_customers(
    team_a: Team, agent: User
) -> None:
    customer = CustomerFactory(name="Dee Exposed")
    solved_ticket(
        customer=customer,
        team=team_a,
        created=NOW - dt.timedelta(days=12),
        intent="track_refund",
    )
    EmergingIssue.objects.create(
        kind=EmergingIssueKind.INTENT_RISE,
        key="track_refund",
        label="track refund",
        detected_on=timezone.localdate(NOW),
        recent_count=10,
        recent_total=30,
        outreach_template="Hi {customer_first_name}, refunds are delayed this week. {agent_name}",
    )

    proactive_queue_refresh(now=NOW)

    entry = ProactiveEntry.objects.get(customer=customer)
    assert entry.suggested_message == "Hi Dee, refunds are delayed this week. {agent_name}"
    assert entry.reasons[1].startswith("Exposed to a rising issue: track refund")
    assert entry.emerging_issue is not None
    client = Client()
    client.force_login(agent)
    page = client.get(reverse("desk:proactive")).content.decode()
    assert "10 of 30 new tickets" in page
    assert "1 exposed customer who has not written yet on the queue below" in page


def test_solving_a_ticket_scores_it_once_the_solve_commits(
    team_a: Team, agent: User, django_capture_on_commit_callbacks: Any, eager_tasks: None
) -> None:
    customer = CustomerFactory()
    solved_ticket(
        customer=customer,
        team=team_a,
        created=NOW - dt.timedelta(days=12),
        intent="track_refund",
    )
    ticket = TicketFactory(
        customer=customer,
        team=team_a,
        intent="track_refund",
        created_at=NOW - dt.timedelta(hours=5),
    )

    with django_capture_on_commit_callbacks(execute=True):
        ticket_change_status(ticket=ticket, status=Status.SOLVED, by=agent, resolution="Done.")

    assert ProactiveEntry.objects.get(customer=customer).ticket_id == ticket.pk


def test_fairness_report_shows_who_is_reached_by_segment_within_an_intent(
    recent_solves: list[Ticket], agent: User, supervisor: User
) -> None:
    Customer.objects.filter(pk=recent_solves[0].customer_id).update(segment="vip")
    proactive_queue_refresh(now=NOW)
    vip = ProactiveEntry.objects.get(customer=recent_solves[0].customer)
    proactive_entry_send(entry=vip, agent=agent, body="Checking in.")
    client = Client()
    client.force_login(supervisor)

    page = client.get(reverse("supervision:fairness")).content.decode()

    section = page[page.index("Proactive outreach") :]
    assert "<td>vip</td><td>1</td><td>1</td><td>100%</td>" in section
    assert "<td>standard</td><td>2</td><td>0</td><td>0%</td>" in section


def test_new_similar_requests_no_intent_covers_form_a_cluster(team_a: Team) -> None:
    rng = np.random.default_rng(0)
    theme = rng.normal(size=384)
    for i in range(9):
        # Six requests about one new thing (their vectors close), three about anything else.
        vector = theme + 0.3 * rng.normal(size=384) if i < 6 else rng.normal(size=384)
        vector = (vector / np.linalg.norm(vector)).astype(np.float32)
        ticket = solved_ticket(
            customer=CustomerFactory(),
            team=team_a,
            created=NOW - dt.timedelta(days=2, hours=i),
        )
        Ticket.objects.filter(pk=ticket.pk).update(
            subject="Voucher code rejected at checkout" if i < 6 else f"Other thing {i}"
        )
        SolvedCase.objects.create(
            ticket=ticket, text="x", embedding=vector.tobytes(), model_version="t"
        )

    [issue] = emerging_clusters_detect(now=NOW)

    assert (issue.kind, issue.recent_count, issue.recent_total) == (
        EmergingIssueKind.NEW_CLUSTER,
        6,
        9,
    )
    assert issue.label.startswith("New requests: ")
    words = issue.label[len("New requests: ") :].split(", ")
    assert len(words) == 3
    assert set(words) <= {"voucher", "code", "rejected", "checkout"}
