"""Where an approved recovery action meets the shop's own systems.

RECOVERY_EXECUTION_HOOK names a callable taking keyword arguments (idempotency_key, action,
kind, amount, currency, ticket_id, customer_external_id) and returning a JSON-able dict of what
the shop did (a refund id, a voucher code). It must honour the idempotency key: called twice
with the same key it must act once. Raise HookTemporaryError for a failure worth retrying (a
timeout); anything else marks the execution failed for an admin to look at.
"""

from decimal import Decimal
from typing import Any


class HookTemporaryError(Exception):
    """The shop's system could not be reached; try again later with the same key."""


def record_only(
    *,
    idempotency_key: str,
    action: str,
    kind: str,
    amount: Decimal | None,
    currency: str,
    ticket_id: int,
    customer_external_id: str,
) -> dict[str, Any]:
    """The default: nothing outside is called; the execution is recorded for the agent to carry
    out by hand (and for the audit)."""
    return {"status": "recorded", "idempotency_key": idempotency_key}
