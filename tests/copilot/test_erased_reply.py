"""No reply is sent to an erased customer, from the page's service or through the API."""

from collections.abc import Callable

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.models import User
from copilot.services.intake import agent_reply_send, message_receive
from core.errors import DomainError
from privacy.erasure import customer_erase
from tickets.customer_data import ERASED_NOTHING_SENT
from tickets.models import AuthorKind, Message, Ticket

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("copilot_dirs")]


@pytest.fixture
def erased(ticket_a: Ticket, admin_user: User) -> Ticket:
    customer_erase(customer=ticket_a.customer, by=admin_user)
    ticket_a.refresh_from_db()
    return ticket_a


def test_agent_reply_send_is_refused(agent: User, erased: Ticket) -> None:
    before = list(Message.objects.values_list("pk", "body"))

    with pytest.raises(DomainError) as refused:
        agent_reply_send(ticket=erased, body="Sorry about that.", agent=agent)

    assert refused.value.message == ERASED_NOTHING_SENT
    assert list(Message.objects.values_list("pk", "body")) == before


def test_message_receive_of_an_agent_message_is_refused(agent: User, erased: Ticket) -> None:
    before = Message.objects.count()

    with pytest.raises(DomainError, match="data was erased"):
        message_receive(
            ticket=erased, body="Sorry.", author_kind=AuthorKind.AGENT, by=agent, via="token"
        )

    assert Message.objects.count() == before


def test_the_api_answers_400_and_writes_nothing(
    api: Callable[[User | None], APIClient], agent: User, erased: Ticket
) -> None:
    before = Message.objects.count()

    response = api(agent).post(
        reverse("api:message-create", args=[erased.pk]),
        {"body": "Sorry.", "author_kind": "agent"},
        format="json",
    )

    assert response.status_code == 400
    assert response.data == {"customer": [ERASED_NOTHING_SENT]}
    assert Message.objects.count() == before
