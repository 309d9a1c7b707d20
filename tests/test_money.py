"""Money as people read it: localised figures, the currency code in capitals."""

from decimal import Decimal

from django.template import Context, Template
from django.utils import translation

from core.money import money_format, money_format_whole


def test_amounts_are_grouped_with_the_currency_code_in_capitals() -> None:
    assert money_format(amount=Decimal("1514.5"), currency="eur") == "1,514.50 EUR"
    assert money_format_whole(Decimal("1514.2"), "eur") == "1,514 EUR"
    assert money_format(amount=Decimal("12"), currency="") == "12.00"


def test_the_figure_follows_the_active_locale() -> None:
    with translation.override("de"):
        assert money_format(amount=Decimal("1514.5"), currency="EUR") == "1.514,50 EUR"


def test_the_money_filter_formats_and_leaves_no_amount_empty() -> None:
    template = Template("{% load money %}{{ a|money:'eur' }}|{{ b|money:'EUR'|default:'—' }}")

    assert template.render(Context({"a": Decimal("2500"), "b": None})) == "2,500.00 EUR|—"
