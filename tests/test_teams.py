"""Teams created by name (import, demo data): distinct names never end up as one team."""

import pytest

from accounts.models import Team
from accounts.services import team_get_or_create

pytestmark = pytest.mark.django_db


def test_team_names_with_an_empty_slug_never_merge() -> None:
    names = ["???", "!!!", "Поддержка", "サポート", "★"]

    teams = [team_get_or_create(name=name) for name in names]

    assert [t.name for t in teams] == names
    assert [t.slug for t in teams] == ["team", "team-2", "team-3", "team-4", "team-5"]
    assert Team.objects.count() == 5


def test_team_names_with_the_same_slug_never_merge() -> None:
    orders = team_get_or_create(name="Orders")
    shouting = team_get_or_create(name="Orders!")
    spaced = team_get_or_create(name="Orders ")

    assert (orders.slug, shouting.slug, spaced.slug) == ("orders", "orders-2", "orders-3")
    assert len({orders.pk, shouting.pk, spaced.pk}) == 3


def test_team_name_finds_its_team_whatever_the_case_or_slug() -> None:
    existing = Team.objects.create(name="Orders & Delivery", slug="delivery")
    team_get_or_create(name="???")

    assert team_get_or_create(name="orders & delivery") == existing
    assert team_get_or_create(name="???") == Team.objects.get(slug="team")
    assert Team.objects.count() == 2


def test_team_slug_of_a_long_name_keeps_its_number_within_the_column() -> None:
    first = team_get_or_create(name="x" * 99 + "!")
    second = team_get_or_create(name="x" * 99 + "?")

    assert (first.slug, second.slug) == ("x" * 99, "x" * 98 + "-2")
