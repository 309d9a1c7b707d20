"""Where an approved recovery action meets the shop's own systems.

RECOVERY_EXECUTION_HOOK names a callable of the `ExecutionHook` shape: keyword arguments
(idempotency_key, action, kind, amount, currency, ticket_id, customer_external_id), returning a
JSON-able dict of what the shop did (a refund id, a voucher code). It is called outside any
database transaction, and it must:

- honour the idempotency key: called twice with the same key it acts once and answers the same
  (a worker that died after the shop acted calls it again with the same key);
- time out well within `recovery.services.EXECUTION_STALE_SECONDS`, after which another worker
  may take the execution over;
- raise `HookPermanentError` when the shop refused for good and did nothing (an unknown order,
  a closed account): the execution is marked failed for a person to look at;
- raise `HookTemporaryError` when it is worth trying again (a timeout, a 503). Any other
  exception is treated the same way, since the shop may or may not have acted: the execution is
  tried again with the same key, never recorded as failed.
"""

from decimal import Decimal
from typing import Any, Protocol


class ExecutionHook(Protocol):
    def __call__(
        self,
        *,
        idempotency_key: str,
        action: str,
        kind: str,
        amount: Decimal | None,
        currency: str,
        ticket_id: int,
        customer_external_id: str,
    ) -> dict[str, Any]: ...


class HookTemporaryError(Exception):
    """The shop's system could not be reached; try again later with the same key."""


class HookPermanentError(Exception):
    """The shop refused the action for good and did nothing; retrying would not help."""


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


# The default must have the shape every hook is checked against.
_default_conforms: ExecutionHook = record_only
