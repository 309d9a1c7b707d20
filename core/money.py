"""Amounts of money as people read them, in one place: screens and stored explanations alike.

The figure follows the active locale (grouping and decimal mark, Django's localisation); the
currency is its ISO code in capitals after it ("1,514 EUR" in en-gb, "1.514 EUR" in de), which
reads the same in every locale, unlike a symbol whose place changes with the language.
"""

from __future__ import annotations

from decimal import Decimal

from django.utils.formats import number_format


def money_format(*, amount: Decimal | int | float, currency: str, decimals: int = 2) -> str:
    """`Decimal("1514.2")`, "eur", decimals=0 → "1,514 EUR"."""
    figure = number_format(amount, decimal_pos=decimals, use_l10n=True, force_grouping=True)
    code = currency.strip().upper()
    return f"{figure} {code}" if code else figure


def money_format_whole(amount: Decimal, currency: str) -> str:
    """Rounded to the unit, for sums where cents say nothing ("1,514 EUR spent")."""
    return money_format(amount=amount, currency=currency, decimals=0)
