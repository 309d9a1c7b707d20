"""`{{ rec.amount|money:rec.currency }}` → "1,514.00 EUR", localised (core.money)."""

from decimal import Decimal

from django import template

from core.money import money_format

register = template.Library()


@register.filter
def money(amount: Decimal | int | float | None, currency: str = "") -> str:
    """An amount and its currency code; nothing for no amount (for `default`)."""
    if amount is None or amount == "":
        return ""
    return money_format(amount=amount, currency=currency or "")
