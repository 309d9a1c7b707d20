"""The domain's error types: services and selectors raise them, the API and the views turn them
into a 400/409 (DomainError, Conflict), 404 (NotFound) or 403 (Forbidden)."""

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


class NotFound(DomainError):
    """No such object among those the caller may see (HTTP 404): one answer for both, so a
    refusal never tells whether an id exists."""


class Forbidden(DomainError):
    """The caller's role may not do this at all (HTTP 403)."""
