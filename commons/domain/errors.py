"""Domain errors. Services and repositories raise these; they know nothing of HTTP: the API maps
them to status codes in one table (`time_tracker_api/errors.py`)."""

from __future__ import annotations


class DomainError(Exception):
    """Base class: carries a message meant for the client."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        #: The body field or query parameter at fault: the answer then has `errors: {field: message}`.
        self.field = field


class Invalid(DomainError):
    """The request is malformed or breaks a validation rule."""


class Unauthorized(DomainError):
    """No valid credentials."""


class Forbidden(DomainError):
    """Valid credentials, not allowed."""


class NotFound(DomainError):
    """The item does not exist in the caller's tenant (or is deleted)."""


class Conflict(DomainError):
    """A uniqueness rule would break (duplicate name, second running entry)."""


class PreconditionFailed(DomainError):
    """`If-Match` does not match the stored version."""


class Unprocessable(DomainError):
    """The request is well formed but breaks a time rule (overlap, already stopped)."""


class Unavailable(DomainError):
    """The store or the directory cannot be reached now."""


class BadGateway(DomainError):
    """A service we depend on (the directory) answered with an error."""


class Contended(Unavailable):
    """Another writer changed what a decision rested on before it was written. Nothing was
    written: the service decides again on fresh data (`repository.decisions`), and only when
    that keeps happening does the client get the 503."""


class Locked(DomainError):
    """The time entry is in a locked period (TT-16): only an admin's explicit override writes it."""
