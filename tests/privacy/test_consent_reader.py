"""The tickets app reads consent through the reader the privacy app registers, and never
assumes consent when none is registered."""

from collections.abc import Iterator
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db.models import QuerySet

from privacy.selectors import ConsentRecordReader, PrivacyLogErasures
from tests.factories import CustomerFactory
from tickets.consent import (
    ConsentPurpose,
    consent_granted,
    consent_reader_register,
    consent_states,
    customer_ids_opted_out,
)
from tickets.customer_data import customer_ids_erased, customer_is_erased, erasure_log_register
from tickets.models import Customer

pytestmark = pytest.mark.django_db


class RecordingReader:
    """Answers no to everything and remembers what it was asked."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, object]] = []

    def granted(self, customer_id: int, purpose: str) -> bool:
        self.asked.append(("granted", (customer_id, purpose)))
        return False

    def states(self, customer_id: int) -> dict[str, bool]:
        self.asked.append(("states", customer_id))
        return dict.fromkeys(ConsentPurpose.values, False)

    def opted_out_ids(self, purpose: str) -> QuerySet[Any]:
        self.asked.append(("opted_out_ids", purpose))
        return Customer.objects.values("pk")


@pytest.fixture
def no_readers() -> Iterator[None]:
    consent = consent_reader_register(reader=None)
    erasures = erasure_log_register(log=None)
    yield
    consent_reader_register(reader=consent)
    erasure_log_register(log=erasures)


def test_the_privacy_app_registers_its_readers_when_django_starts() -> None:
    previous = consent_reader_register(reader=None)
    consent_reader_register(reader=previous)
    erasures = erasure_log_register(log=None)
    erasure_log_register(log=erasures)

    assert isinstance(previous, ConsentRecordReader)
    assert isinstance(erasures, PrivacyLogErasures)


def test_consent_reads_delegate_to_the_registered_reader(no_readers: None) -> None:
    customer = CustomerFactory()
    reader = RecordingReader()
    consent_reader_register(reader=reader)

    granted = consent_granted(customer=customer, purpose=ConsentPurpose.TRAINING)
    states = consent_states(customer=customer)
    opted_out = list(customer_ids_opted_out(purpose=ConsentPurpose.SIMILAR_CASES))

    assert granted is False
    assert states == {
        "personalisation": False,
        "training": False,
        "similar_cases": False,
        "proactive_contact": False,
    }
    assert opted_out == [{"pk": customer.pk}]
    assert reader.asked == [
        ("granted", (customer.pk, "training")),
        ("states", customer.pk),
        ("opted_out_ids", "similar_cases"),
    ]


def test_consent_reads_without_a_registered_reader_fail_loudly(no_readers: None) -> None:
    customer = CustomerFactory()

    with pytest.raises(ImproperlyConfigured, match="No consent reader is registered"):
        consent_granted(customer=customer, purpose=ConsentPurpose.PERSONALISATION)
    with pytest.raises(ImproperlyConfigured):
        consent_states(customer=customer)
    with pytest.raises(ImproperlyConfigured):
        customer_ids_opted_out(purpose=ConsentPurpose.TRAINING)


def test_erasure_reads_without_a_registered_log_fail_loudly(no_readers: None) -> None:
    customer = CustomerFactory()

    with pytest.raises(ImproperlyConfigured, match="No erasure log is registered"):
        customer_is_erased(customer=customer)
    with pytest.raises(ImproperlyConfigured):
        customer_ids_erased()
