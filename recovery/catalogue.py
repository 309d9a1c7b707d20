"""The starting catalogue of recovery actions, created once; admins change it from there.

Intent lists use the demo's labels (the Bitext set's); an organisation with its own labels edits
them in the admin. Amounts are in RECOVERY_CURRENCY.
"""

from decimal import Decimal

from recovery.models import ActionKind, RecoveryAction

MONEY_INTENTS = ["get_refund", "track_refund", "payment_issue", "check_refund_policy", "complaint"]
DELIVERY_INTENTS = ["track_order", "delivery_period", "change_order", "complaint"]

DEFAULT_ACTIONS: list[dict[str, object]] = [
    {
        "key": "apology",
        "name": "Apology",
        "kind": ActionKind.APOLOGY,
        "negative_only": True,
        "description": "Acknowledge the trouble and apologise personally.",
    },
    {
        "key": "refund-full",
        "name": "Full refund",
        "kind": ActionKind.REFUND_FULL,
        "monetary": True,
        "default_amount": Decimal("50"),
        "max_amount": Decimal("500"),
        "customer_limit": Decimal("500"),
        "coapproval_above": Decimal("150"),
        "intents": MONEY_INTENTS,
    },
    {
        "key": "refund-partial",
        "name": "Partial refund",
        "kind": ActionKind.REFUND_PARTIAL,
        "monetary": True,
        "default_amount": Decimal("15"),
        "max_amount": Decimal("100"),
        "customer_limit": Decimal("200"),
        "coapproval_above": Decimal("75"),
        "intents": MONEY_INTENTS + DELIVERY_INTENTS,
    },
    {
        "key": "store-credit",
        "name": "Store credit",
        "kind": ActionKind.STORE_CREDIT,
        "monetary": True,
        "default_amount": Decimal("10"),
        "max_amount": Decimal("50"),
        "customer_limit": Decimal("100"),
        "coapproval_above": Decimal("40"),
        "negative_only": True,
    },
    {
        "key": "replacement",
        "name": "Replacement",
        "kind": ActionKind.REPLACEMENT,
        "intents": ["track_order", "delivery_period", "complaint", "change_order"],
    },
    {
        "key": "expedited-shipping",
        "name": "Expedited shipping",
        "kind": ActionKind.EXPEDITED_SHIPPING,
        "intents": DELIVERY_INTENTS,
    },
    {
        "key": "discount",
        "name": "Discount on next order",
        "kind": ActionKind.DISCOUNT,
        "monetary": True,
        "default_amount": Decimal("5"),
        "max_amount": Decimal("25"),
        "customer_limit": Decimal("50"),
        "negative_only": True,
    },
    {
        "key": "escalation",
        "name": "Escalation to a specialist",
        "kind": ActionKind.ESCALATION,
        "intents": ["complaint", "payment_issue", "contact_human_agent", "delete_account"],
    },
    {
        "key": "callback",
        "name": "Proactive callback",
        "kind": ActionKind.CALLBACK,
        "negative_only": True,
        "segments": ["vip", "at_risk"],
    },
]


def action_catalogue_ensure() -> int:
    """Create the default actions that do not exist yet (by key); returns how many."""
    created = 0
    for spec in DEFAULT_ACTIONS:
        defaults = {k: v for k, v in spec.items() if k != "key"}
        _, was_created = RecoveryAction.objects.get_or_create(key=spec["key"], defaults=defaults)
        created += was_created
    return created
