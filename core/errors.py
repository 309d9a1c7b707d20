"""The domain's error type: services raise it, the API and the views turn it into a 400/409."""

from __future__ import annotations


class DomainError(Exception):
    """A rule of the domain refused the operation; nothing was changed.

    ``field`` names the input at fault (so the API can answer 400 naming it), ``code`` is a stable
    machine-readable reason.
    """

    def __init__(self, message: str, *, field: str | None = None, code: str = "invalid") -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.code = code

    def as_dict(self) -> dict[str, list[str]]:
        return {self.field or "non_field_errors": [self.message]}


class Conflict(DomainError):
    """The operation is valid in general but not in the object's current state (HTTP 409)."""
