"""Idempotency-Key claims (TT-15): the part of the repository contract that lives outside a
unit of work (`Store.idempotency`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class IdempotencyClaim:
    """An Idempotency-Key as stored: who holds it (`owner`, a nonce of the request that
    claimed it), for which request (`fingerprint`), and, once done, the first response."""

    fingerprint: str
    owner: str
    #: `in_flight` while the first request runs, `done` once its response is stored.
    state: str
    created_at: int
    #: An in-flight claim whose holder has not finished by then is presumed dead.
    locked_until: int
    expires_at: int
    status: int | None = None
    response: dict[str, Any] | None = None


class IdempotencyKeys(Protocol):
    """Idempotency-Key claims per tenant and user, each written atomically on its own (not in
    a unit of work: the claim must be visible to other requests before the work starts)."""

    def claim(self, tenant_id: str, user_id: str, key: str, wanted: IdempotencyClaim) -> IdempotencyClaim | None:
        """Store `wanted` unless a live claim holds the key (None: claimed by `wanted`);
        otherwise answer that claim. An expired claim, or an in-flight one past its
        `locked_until`, is taken over."""

    def get(self, tenant_id: str, user_id: str, key: str) -> IdempotencyClaim | None:
        """The claim of the key, if any."""

    def complete(
        self, tenant_id: str, user_id: str, key: str, owner: str, status: int, response: dict[str, Any]
    ) -> None:
        """Store the first response, if `owner` still holds the claim."""

    def release(self, tenant_id: str, user_id: str, key: str, owner: str) -> None:
        """Drop the claim (the request failed in a way a retry may fix), if `owner` holds it."""
