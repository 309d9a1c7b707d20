"""Intents read as people name them: admins' names first, else the key in words."""

from collections.abc import Callable

import pytest
from django.template import Context, Template
from django.test import Client
from django.urls import reverse

from accounts.models import User
from copilot.labels import intent_label, intent_label_default
from copilot.models import IntentLabel

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("key", "label"),
    [
        ("track_order", "Track order"),
        ("get_refund", "Get refund"),
        ("damaged-item", "Damaged item"),
    ],
)
def test_an_intent_nobody_named_reads_as_its_key_in_words(key: str, label: str) -> None:
    assert intent_label_default(key=key) == label
    assert intent_label(key=key) == label


def test_an_admins_name_wins_over_the_key() -> None:
    IntentLabel.objects.create(key="track_order", label="Where is my order")

    assert intent_label(key="track_order") == "Where is my order"
    assert intent_label(key="get_refund") == "Get refund"
    assert intent_label(key="") == ""


def test_the_filter_shows_the_label_escaped() -> None:
    IntentLabel.objects.create(key="odd", label="<b>Odd</b>")
    template = Template(
        "{% load labels %}"
        "{{ a|intent_label }}|{{ b|intent_label }}|{{ c|intent_label|default:'—' }}"
    )

    html = template.render(Context({"a": "track_order", "b": "odd", "c": ""}))

    assert html == "Track order|&lt;b&gt;Odd&lt;/b&gt;|—"


def test_renaming_in_the_admin_shows_at_once(
    login: Callable[[User], Client], admin_user: User
) -> None:
    User.objects.filter(pk=admin_user.pk).update(is_staff=True, is_superuser=True)
    label = IntentLabel.objects.create(key="track_order", label="Track parcel")
    assert intent_label(key="track_order") == "Track parcel"  # now cached

    response = login(admin_user).post(
        reverse("admin:copilot_intentlabel_change", args=[label.pk]),
        {"key": "track_order", "label": "Where is my order"},
    )

    assert response.status_code == 302
    assert intent_label(key="track_order") == "Where is my order"
