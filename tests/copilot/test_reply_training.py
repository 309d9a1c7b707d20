"""The response selector learns from the organisation's own (request, agent reply) pairs."""

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.utils import timezone
from pytest_django.fixtures import Settings

from accounts.models import Team
from copilot.engine import get_selector, reset_engine
from copilot.nlp.selector_branch import SHIPPED, load_selector, load_selector_branch
from copilot.selectors import reply_training_pairs
from privacy.services import consent_record
from tests.factories import TicketFactory
from tickets.consent import ConsentPurpose
from tickets.models import AuthorKind, Message, Ticket

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("copilot_dirs")]


def add(ticket: Ticket, kind: str, body: str) -> None:
    sequence = ticket.messages.count() + 1
    Message.objects.create(
        ticket=ticket,
        sequence=sequence,
        author_kind=kind,
        author_name="Agent Smith" if kind == AuthorKind.AGENT else ticket.customer.name,
        body=body,
        created_at=timezone.now(),
    )


def test_pairs_are_each_request_and_the_deidentified_reply_that_followed(team_a: Team) -> None:
    ticket = TicketFactory(team=team_a, first_message="Where is order 12345678?")
    first_name = ticket.customer.name.split()[0]
    add(ticket, AuthorKind.AGENT, f"Hi {first_name}, your order ships today. Mail me at a@b.co")
    add(ticket, AuthorKind.CUSTOMER, "Thanks!")
    add(ticket, AuthorKind.CUSTOMER, "And can I change the address?")
    add(ticket, AuthorKind.AGENT, "Yes, reply with the new address.")

    pairs = reply_training_pairs()

    assert [(p.ticket_id, p.team_id) for p in pairs] == [(ticket.pk, team_a.pk)] * 2
    assert pairs[0].request == "Where is order 12345678?"
    assert first_name not in pairs[0].reply and "a@b.co" not in pairs[0].reply
    assert "{customer_first_name}" in pairs[0].reply and "{email}" in pairs[0].reply
    assert pairs[1].request == "Thanks!\nAnd can I change the address?"


def test_customers_who_opted_out_of_training_are_left_out(team_a: Team) -> None:
    kept = TicketFactory(team=team_a, first_message="My card was charged twice")
    add(kept, AuthorKind.AGENT, "We have refunded the second charge.")
    shy = TicketFactory(team=team_a, first_message="Cancel my subscription")
    add(shy, AuthorKind.AGENT, "Done, it is cancelled.")
    consent_record(
        customer=shy.customer,
        purpose=ConsentPurpose.TRAINING,
        granted=False,
        source="test",
        by=None,
    )

    assert [p.ticket_id for p in reply_training_pairs()] == [kept.pk]


REQUESTS = [
    ("My parcel has not arrived", "Sorry about the delay, we will resend the parcel today."),
    ("I was charged twice", "We refunded the duplicate charge; it shows in 3-5 days."),
    ("How do I reset my password?", "Use 'Forgot password' on the sign-in page."),
    ("Cancel my subscription please", "Your subscription is cancelled; no further charges."),
    ("The app crashes on start", "Please update the app to the latest version and retry."),
]


def test_train_intent_trains_and_saves_the_selector(
    team_a: Team, copilot_dirs: Path, settings: Settings
) -> None:
    for round_ in range(5):
        for label, (request, reply) in enumerate(REQUESTS):
            ticket = TicketFactory(
                team=team_a, intent=f"intent-{label}", first_message=f"{request} ({round_})"
            )
            add(ticket, AuthorKind.AGENT, f"{reply} Ref {round_}.")
    out = StringIO()

    settings.COPILOT_SELECTOR_MODEL_DIR = str(copilot_dirs / "selector")
    settings.COPILOT_SELECTOR_SHIPPED = True  # as installed (the test settings turn it off)
    reset_engine()
    shipped = get_selector()  # nothing trained: the shipped selector ranks
    assert shipped is not None and shipped.request_branch is not None
    assert shipped.version == load_selector(SHIPPED.parent).version

    call_command("train_intent", stdout=out)

    saved = load_selector(copilot_dirs / "selector")
    assert f"Saved response selector {saved.version}" in out.getvalue()
    assert saved.training["n_pairs"] == 25
    # Fine-tuned from the shipped branch, not from the bare encoder.
    assert saved.training["started_from"] == load_selector_branch(SHIPPED).version
    assert saved.request_branch is not None and saved.version != shipped.version
    reset_engine()
    selector = get_selector()
    assert selector is not None and selector.version == saved.version


def test_without_the_shipped_selector_suggestions_rank_by_cosine_until_trained(
    settings: Settings, copilot_dirs: Path
) -> None:
    settings.COPILOT_SELECTOR_MODEL_DIR = str(copilot_dirs / "selector")
    settings.COPILOT_SELECTOR_SHIPPED = False
    reset_engine()
    assert get_selector() is None
