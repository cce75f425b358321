"""Who calls: a user of a tenant, and the one rule about what they may do (admin or not).

The API layer builds an `Identity` from a verified token; services and repositories only read
it, so they need neither Flask nor a request.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from commons.domain.errors import Forbidden


@dataclass(frozen=True)
class Actor:
    """The caller: a user of a tenant, as the token (or personal access token) presents them."""

    user_id: str
    tenant_id: str
    email: str | None = None
    name: str | None = None
    #: Admin by the token's own claims.
    is_admin: bool = False
    session_id: str | None = None
    #: Admin by the directory as it is now: asked only when a rule needs it (a directory read),
    #: at most once per request, never cached across requests (a revoke holds at once).
    directory_admin: Callable[[], bool] | None = field(default=None, compare=False, repr=False)


#: The name the services use for the caller.
Identity = Actor


def is_admin(identity: Identity) -> bool:
    """An admin by the token's claims, or by the directory."""
    if identity.is_admin:
        return True
    return identity.directory_admin is not None and identity.directory_admin()


def require_admin(identity: Identity) -> None:
    """Forbidden unless the caller is an admin."""
    if not is_admin(identity):
        raise Forbidden("You don't have enough permissions.")
