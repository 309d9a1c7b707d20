"""Consent is honoured where the work starts; erasure leaves nothing identifying; retention."""

from collections.abc import Callable
from io import StringIO
from typing import Any

import pytest
import redis
from django.conf import settings
from django.contrib.admin.models import LogEntry
from django.core.management import call_command
from django.db import transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import Team, User
from copilot.engine import index_store
from copilot.models import AnalysisStatus, MessageAnalysis, SolvedCase
from copilot.selectors import intent_training_examples
from copilot.services.analysis import analysis_run
from copilot.services.cases import case_index_rebuild
from copilot.services.drafts import draft_reply_send
from copilot.services.intake import customer_message_receive
from privacy.erasure import customer_erase
from privacy.models import PrivacyEvent, PrivacyEventKind
from privacy.services import RETENTION_REDACTED, consent_record, retention_enforce
from privacy.verify import erasure_verify
from recovery.catalogue import action_catalogue_ensure
from recovery.models import AuditEvent, Recommendation, RecoveryAction
from recovery.services import recommendation_add
from recovery.tasks import propose_recommendations
from tests.factories import CustomerFactory, MessageAnalysisFactory, TicketFactory, UserFactory
from tickets.consent import ConsentPurpose, consent_granted, consent_states
from tickets.customer_data import ERASED_BEFORE_ANALYSIS
from tickets.models import AuthorKind, Customer, Message, Status, Ticket
from tickets.services import message_append

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("copilot_dirs")]


def customer_writes(ticket: Ticket, body: str) -> MessageAnalysis:
    """The message arrives and its analysis is queued: the state before any opt-out."""
    with transaction.atomic():
        message = customer_message_receive(ticket=ticket, body=body)
    return MessageAnalysis.objects.get(ticket=ticket, transcript_version=message.sequence)


def run(analysis: MessageAnalysis) -> MessageAnalysis:
    done = analysis_run(
        ticket_id=analysis.ticket_id, transcript_version=analysis.transcript_version
    )
    assert done is not None and done.status == AnalysisStatus.DONE
    # What the analysis queues once it commits (pytest-django's transaction never does here).
    propose_recommendations(analysis_id=done.pk)
    return done


def opt_out(customer: Customer, purpose: str, by: User | None = None) -> None:
    consent_record(customer=customer, purpose=purpose, granted=False, source="test", by=by)


def test_personalisation_opt_out_applies_to_work_queued_before_it(
    ticket_a: Ticket, admin_user: User
) -> None:
    action_catalogue_ensure()
    queued = customer_writes(ticket_a, "This is awful, I want a refund for my broken order!")

    opt_out(ticket_a.customer, ConsentPurpose.PERSONALISATION, admin_user)
    analysis = run(queued)

    recommendations = list(Recommendation.objects.filter(analysis=analysis))
    assert recommendations
    assert not any(r.personalised for r in recommendations)
    assert all("opted out" in r.explanation for r in recommendations)
    # What this conversation says only: nothing of the customer's profile or history.
    assert all(
        {"sentiment", "sentiment_score"}
        <= set(r.evidence["signals"])
        <= {"sentiment", "sentiment_score", "conversation_level"}
        for r in recommendations
    )


def test_similar_cases_opt_out_removes_the_customer_from_evidence_and_index(
    ticket_a: Ticket, team_a: Team, eager_tasks: None, django_capture_on_commit_callbacks
) -> None:
    private = TicketFactory(
        team=team_a,
        status=Status.SOLVED,
        solved_at=timezone.now(),
        first_message="My order has not arrived yet, where is my parcel?",
        resolution="We re-sent the parcel of Mrs Private by courier.",
    )
    case_index_rebuild(progress=None)
    assert private.pk in index_store().load().index.ids()
    queued = customer_writes(ticket_a, "Where is my parcel? It has not arrived.")

    with django_capture_on_commit_callbacks(execute=True):
        opt_out(private.customer, ConsentPurpose.SIMILAR_CASES)
    analysis = run(queued)

    assert private.pk not in [c["ticket_id"] for c in analysis.similar_cases]
    assert "Mrs Private" not in analysis.draft_reply
    assert not SolvedCase.objects.filter(ticket=private).exists()
    assert private.pk not in index_store().load().index.ids()  # the sync ran after commit
    # And a rebuild does not bring it back.
    case_index_rebuild(progress=None)
    assert private.pk not in index_store().load().index.ids()


def test_training_opt_out_excludes_the_customer_from_the_next_training(team_a: Team) -> None:
    keen, shy = CustomerFactory(), CustomerFactory()
    for customer in (keen, shy):
        for text in ("my parcel is lost", "I forgot my password"):
            TicketFactory(team=team_a, customer=customer, first_message=text, intent=text[:9])
    before = intent_training_examples(min_examples=1)[0]

    opt_out(shy, ConsentPurpose.TRAINING)
    after = intent_training_examples(min_examples=1)[0]

    assert len(before) == 4 and len(after) == 2


def test_consent_states_take_each_purposes_newest_record_in_one_query(
    ticket_a: Ticket, django_assert_num_queries: Callable[..., Any]
) -> None:
    customer = ticket_a.customer
    opt_out(customer, ConsentPurpose.TRAINING)
    consent_record(
        customer=customer, purpose=ConsentPurpose.TRAINING, granted=True, source="x", by=None
    )
    opt_out(customer, ConsentPurpose.SIMILAR_CASES)

    with django_assert_num_queries(1):
        states = consent_states(customer=customer)

    assert states == {
        "personalisation": True,
        "training": True,
        "similar_cases": False,
        "proactive_contact": True,
    }
    assert states[ConsentPurpose.SIMILAR_CASES] == consent_granted(
        customer=customer, purpose=ConsentPurpose.SIMILAR_CASES
    )


def test_consent_changes_are_logged_without_personal_data(
    ticket_a: Ticket, admin_user: User
) -> None:
    consent_record(
        customer=ticket_a.customer,
        purpose=ConsentPurpose.TRAINING,
        granted=False,
        source="e-mail",
        note="Asked by phone, reference of their complaint",
        by=admin_user,
    )

    event = PrivacyEvent.objects.get(kind=PrivacyEventKind.CONSENT_CHANGED)
    assert event.data == {"purpose": "training", "granted": False, "was": True, "source": "e-mail"}
    assert event.actor == admin_user


def test_erasure_leaves_nothing_identifying_in_tables_index_or_redis(
    team_a: Team, agent: User, admin_user: User
) -> None:
    action_catalogue_ensure()
    customer = CustomerFactory(
        name="Zoltan Quibbleworth", email="zoltan.q@example.org", external_id="shop-88231"
    )
    solved = TicketFactory(
        team=team_a,
        customer=customer,
        status=Status.SOLVED,
        solved_at=timezone.now(),
        subject="Zoltan Quibbleworth's order",
        first_message="Hello, Zoltan Quibbleworth here, order shop-88231 is missing",
        resolution="Dear Zoltan Quibbleworth, we re-sent it to zoltan.q@example.org.",
    )
    open_ticket = TicketFactory(team=team_a, customer=customer, first_message="Zoltan again!")
    case_index_rebuild(progress=None)
    run(customer_writes(open_ticket, "Zoltan Quibbleworth: where is shop-88231??"))
    recommendation_add(
        ticket=open_ticket,
        user=agent,
        action=RecoveryAction.objects.get(key="escalation"),
        reason="Zoltan Quibbleworth asked for a manager",
    )
    terms = ["Zoltan Quibbleworth", "zoltan.q@example.org", "shop-88231", "Quibbleworth"]
    before = erasure_verify(customer_id=customer.pk, terms=terms)
    assert not before.clean  # the check finds what is there
    assert any("tickets_message.body" in f for f in before.found)
    assert any("index generation" in f or "solvedcase" in f for f in before.found)
    # A Redis value holding the name is found too (the broker's own keys hold ids only).
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    broker.set("copilot-test-canary", "Zoltan Quibbleworth")
    assert any("redis" in f for f in erasure_verify(customer_id=customer.pk, terms=terms).found)
    broker.delete("copilot-test-canary")

    receipt = customer_erase(customer=customer, by=admin_user)

    report = erasure_verify(customer_id=customer.pk, terms=terms)
    assert report.clean, report.found
    assert any(c.startswith("database column tickets_message.body") for c in report.checked)
    assert any(c.startswith("similar-case index generation") for c in report.checked)
    assert any(c.startswith("redis ") for c in report.checked)
    assert receipt.counts["messages"] == 3 and receipt.counts["solved_cases"] == 1
    assert index_store().generations() == [index_store().current_generation()]
    # What must stay stays, without the person: the tickets and the decisions taken.
    assert Ticket.objects.filter(customer=customer).count() == 2
    kept = AuditEvent.objects.get(ticket=open_ticket, kind="recommendation_added")
    assert (kept.actor, kept.reason) == (agent, "[erased]")
    erased = PrivacyEvent.objects.get(kind=PrivacyEventKind.ERASED)
    assert "Zoltan" not in str(erased.data) and erased.actor == admin_user
    assert solved.pk not in index_store().load().index.ids()


def test_verify_erasure_command_prints_what_it_checked(ticket_a: Ticket) -> None:
    customer_erase(customer=ticket_a.customer, by=None)
    out = StringIO()

    call_command("verify_erasure", ticket_a.customer_id, term=["Parcel never"], stdout=out)

    text = out.getvalue()
    assert "database column tickets_message.body" in text
    assert "Nothing identifying the customer remains." in text


def test_retention_redacts_old_transcripts_and_drafts(
    ticket_a: Ticket, team_a: Team, settings
) -> None:
    settings.PRIVACY_TRANSCRIPT_RETENTION_DAYS = 30
    settings.PRIVACY_ANALYSIS_RETENTION_DAYS = 30
    long_ago = timezone.now() - timezone.timedelta(days=40)
    old = TicketFactory(
        team=team_a,
        status=Status.CLOSED,
        solved_at=long_ago,
        resolution="Refunded.",
        first_message="My card 1234 was charged twice",
    )
    MessageAnalysisFactory(
        ticket=old,
        requested_at=long_ago,
        sentiment="negative",
        draft_reply="Hi, sorry about card 1234",
    )
    MessageAnalysis.objects.filter(ticket=old).update(requested_at=long_ago)

    done = retention_enforce()
    again = retention_enforce()

    assert (done["messages"], done["analyses"]) == (1, 1)
    assert again == {"messages": 0, "analyses": 0, "decisions": 0}
    assert Message.objects.get(ticket=old).body == RETENTION_REDACTED
    analysis = MessageAnalysis.objects.get(ticket=old)
    assert (analysis.draft_reply, analysis.sentiment) == ("", "negative")
    assert ticket_a.messages.get().body == "My order has not arrived yet."  # open: kept


def test_consent_api_for_a_shops_systems(
    api: Callable[[User | None], APIClient], admin_user: User, agent: User, ticket_a: Ticket
) -> None:
    url = reverse("api:customer-consents", args=[ticket_a.customer_id])

    refused = api(agent).post(url, {"purpose": "training", "granted": False}, format="json")
    bad = api(admin_user).post(url, {"purpose": "marketing", "granted": False}, format="json")
    made = api(admin_user).post(
        url, {"purpose": "personalisation", "granted": False, "source": "shop"}, format="json"
    )
    read = api(admin_user).get(url)

    assert refused.status_code == 403
    assert (bad.status_code, list(bad.data)) == (400, ["purpose"])
    assert made.status_code == 201
    assert read.data["current"] == {
        "personalisation": False,
        "training": True,
        "proactive_contact": True,
        "similar_cases": True,
    }


@pytest.mark.parametrize("who", ["anonymous", "agent", "supervisor", "admin_user"])
def test_privacy_pages_are_for_admins_only(
    request: pytest.FixtureRequest, client: Client, ticket_a: Ticket, who: str
) -> None:
    if who != "anonymous":
        client.force_login(request.getfixturevalue(who))
    customer_id = ticket_a.customer_id

    pages = [
        client.get(reverse("privacy:customers")),
        client.get(reverse("privacy:customer", args=[customer_id])),
        client.get(reverse("privacy:log")),
    ]
    change = client.post(
        reverse("privacy:consent", args=[customer_id]),
        {"purpose": "training", "granted": "no", "source": "phone"},
    )
    erase = client.post(reverse("privacy:erase", args=[customer_id]), {"confirm": "ERASE"})

    expected = {"anonymous": 302, "agent": 403, "supervisor": 403, "admin_user": None}[who]
    ticket_a.customer.refresh_from_db()
    if expected is None:
        assert [p.status_code for p in pages] == [200, 200, 200]
        assert (change.status_code, erase.status_code) == (302, 302)
        assert ticket_a.customer.name == "Erased customer"
    else:
        assert {p.status_code for p in [*pages, change, erase]} == {expected}
        assert ticket_a.customer.name != "Erased customer"
        assert not PrivacyEvent.objects.exists()


def test_agent_sees_that_the_customer_opted_out_and_nothing_more(
    login: Callable[[User], Client], agent: User, ticket_a: Ticket
) -> None:
    consent_record(
        customer=ticket_a.customer,
        purpose=ConsentPurpose.TRAINING,
        granted=False,
        source="phone",
        note="secret note",
        by=None,
    )

    response = login(agent).get(reverse("desk:ticket", args=[ticket_a.pk]))

    assert b"Opted out of: model training." in response.content
    assert b"secret note" not in response.content and b"phone" not in response.content


def test_analysis_of_an_erased_customers_message_writes_nothing_personal(
    ticket_a: Ticket, admin_user: User
) -> None:
    action_catalogue_ensure()
    customer_erase(customer=ticket_a.customer, by=admin_user)
    # A message reaches the erased row afterwards (an integration still holding its id).
    queued = customer_writes(ticket_a, "Zoltan Quibbleworth again: I want a refund, awful!")

    done = analysis_run(ticket_id=queued.ticket_id, transcript_version=queued.transcript_version)

    assert done is not None
    assert (done.status, done.error) == (AnalysisStatus.NOT_ANALYSABLE, ERASED_BEFORE_ANALYSIS)
    assert (done.draft_reply, done.draft_reasons, done.sentiment) == ("", [], "")
    assert not Recommendation.objects.filter(ticket=ticket_a).exists()
    assert not AuditEvent.objects.filter(ticket=ticket_a).exists()


def test_verify_erasure_finds_admin_log_and_erasure_clears_it(client: Client, team_a: Team) -> None:
    zoltan = CustomerFactory(
        name="Zoltan Quibbleworth", email="zoltan.q@example.org", external_id="shop-88231"
    )
    TicketFactory(team=team_a, customer=zoltan, subject="Where is my parcel?")
    root = UserFactory(username="root", is_staff=True, is_superuser=True)
    client.force_login(root)
    edited = client.post(
        reverse("admin:tickets_customer_change", args=[zoltan.pk]),
        {
            "external_id": "shop-88231",
            "name": "Zoltan Quibbleworth",
            "email": "zoltan.q@example.org",
            "segment": "vip",
            "signup_date": "2024-05-01",
            "lifetime_spend": "120.50",
            "order_count": "3",
        },
    )
    assert edited.status_code == 302
    assert LogEntry.objects.get().object_repr == "Zoltan Quibbleworth"
    terms = ["Zoltan Quibbleworth", "zoltan.q@example.org"]

    before = erasure_verify(customer_id=zoltan.pk, terms=terms)
    customer_erase(customer=zoltan, by=None)
    after = erasure_verify(customer_id=zoltan.pk, terms=terms)

    assert "django_admin_log.object_repr: 1 row(s) contain 'Zoltan Quibbleworth'" in before.found
    entry = LogEntry.objects.get()
    assert (entry.object_repr, entry.change_message, entry.user) == ("[erased]", "", root)
    assert after.clean, after.found
    # Django's own tables and third-party apps' are searched, found from the database itself.
    for column in (
        "django_admin_log.change_message",
        "accounts_user.email",
        "axes_accesslog.user_agent",
        "authtoken_token.key",
        "django_session.session_data",
    ):
        assert f"database column {column}" in after.checked
    assert "database column copilot_solvedcase.embedding" not in after.checked  # bytes


def test_verify_erasure_finds_the_customer_in_a_stored_session(
    client: Client, agent: User, ticket_a: Ticket
) -> None:
    client.force_login(agent)
    session = client.session
    session["last_search"] = "zoltan.q@example.org"
    session.save()

    report = erasure_verify(customer_id=ticket_a.customer_id, terms=["zoltan.q@example.org"])

    assert [f for f in report.found if f.startswith("django_session")] == [
        f"django_session {session.session_key[:8]}… contains 'zoltan.q@example.org'"
    ]


def test_erasure_redacts_the_customer_copied_into_other_customers_drafts(
    team_a: Team, team_b: Team, agent: User, other_agent: User
) -> None:
    action_catalogue_ensure()
    zoltan = CustomerFactory(
        name="Zoltan Quibbleworth", email="zoltan.q@example.org", external_id="twcs-88231"
    )
    solved = TicketFactory(
        team=team_a,
        customer=zoltan,
        status=Status.SOLVED,
        solved_at=timezone.now(),
        external_id="twcs-4410",
        first_message="My parcel never arrived, where is it? Order ZQ-55310",
        resolution=(
            "Sorry for the wait. We re-sent the parcel by courier and Zoltan confirmed the "
            "address from zoltan.q@example.org. Zoltan Quibbleworth, @88231, it is on its way."
        ),
    )
    case_index_rebuild(progress=None)
    anna = CustomerFactory(name="Anna Berg", email="anna@example.net")
    theirs = TicketFactory(team=team_a, customer=anna, first_message="Hello")
    analysis = run(customer_writes(theirs, "My parcel has not arrived yet, where is it?"))
    assert solved.pk in [c["ticket_id"] for c in analysis.similar_cases]
    # Drafts are de-identified now, but those stored before that copied the case's text as it
    # was: such a copy is what this erasure must find.
    assert "Zoltan" not in analysis.draft_reply
    MessageAnalysis.objects.filter(pk=analysis.pk).update(
        draft_reply=f"Hi Anna, {solved.resolution}"
    )
    analysis.refresh_from_db()
    # The agent sends it, adding the old case's order number and handle by hand.
    decision = draft_reply_send(
        analysis=analysis,
        agent=agent,
        body=analysis.draft_reply + " It follows order ZQ-55310, as for @88231.",
    )
    # Elsewhere, with no link to his case: a colleague pasted his e-mail into another reply.
    elsewhere = TicketFactory(team=team_b, first_message="Is my refund through?")
    message_append(
        ticket=elsewhere,
        body="Checked with zoltan.q@example.org's case: yes.",
        author_kind=AuthorKind.AGENT,
        author_user=other_agent,
    )
    terms = ["Zoltan Quibbleworth", "Quibbleworth", "zoltan.q@example.org", "ZQ-55310", "@88231"]
    assert len(erasure_verify(customer_id=zoltan.pk, terms=terms).found) >= 6

    receipt = customer_erase(customer=zoltan, by=None)

    report = erasure_verify(customer_id=zoltan.pk, terms=[*terms, "Zoltan confirmed"])
    assert report.clean, report.found
    analysis.refresh_from_db()
    decision.refresh_from_db()
    sent = decision.message
    sent.refresh_from_db()
    # Anna's records stay hers: only Zoltan's identifiers are gone, her own name stays.
    assert analysis.draft_reply.startswith("Hi Anna,")
    assert analysis.draft_reply.endswith(
        "[erased] confirmed the address from [erased]. [erased], [erased], it is on its way."
    )
    assert (
        decision.final_text
        == sent.body
        == analysis.draft_reply + " It follows order [erased], as for [erased]."
    )
    # The draft as it was offered to the agent: signed with their name.
    offered = f"{analysis.draft_reply}\n\n{agent.first_name}"
    assert decision.proposed_text == offered
    event = AuditEvent.objects.get(kind="draft_decided", ticket=theirs)
    assert event.proposed == {"text": offered}
    assert event.final == {"decision": "edited", "text": sent.body}
    assert elsewhere.messages.get(author_kind=AuthorKind.AGENT).body == (
        "Checked with [erased]'s case: yes."
    )
    # Her draft, the decision, the reply sent, its audit event; the pasted e-mail.
    assert receipt.counts["copied_elsewhere"] == 5
