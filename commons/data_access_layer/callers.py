"""The callers a process has stored lately (e-mail and name), so that a request does not write
them again: `Users.remember` skips a caller presenting what this process last stored for them."""

from __future__ import annotations

import time
from collections.abc import Callable

from commons.data_access_layer.events import Actor

#: How long a stored caller is taken as still stored. Another process may store the same user
#: differently meanwhile (an e-mail changed, then changed back): within this time, the store
#: follows again what the callers of every process present.
TTL_SECONDS = 600.0


class KnownCallers:
    """(tenant, user) -> the (e-mail, name) this process last stored, for `TTL_SECONDS`. Keyed
    by the user, not by what they presented, so an e-mail changed and changed back is stored
    again (a set of what was presented said "already stored" and kept the middle one).

    Asked on every request, so a plain dict: one `get` answers (atomic in CPython, no lock),
    where cachetools' TTLCache and its lock cost every request 15 Python calls (TT-17)."""

    def __init__(
        self, ttl: float = TTL_SECONDS, maxsize: int = 100_000, timer: Callable[[], float] = time.monotonic
    ) -> None:
        self._stored: dict[tuple[str, str], tuple[str | None, str | None, float]] = {}
        self._ttl = ttl
        self._maxsize = maxsize
        self._timer = timer

    def knows(self, actor: Actor) -> bool:
        """Whether this process stored `actor` as they present themselves now."""
        known = self._stored.get((actor.tenant_id, actor.user_id))
        return known is not None and known[0] == actor.email and known[1] == actor.name and known[2] > self._timer()

    def learn(self, actor: Actor) -> None:
        """`actor` was stored as they present themselves (call once the write committed)."""
        if len(self._stored) >= self._maxsize:
            self._stored.clear()  # a bound, not a policy: they are stored again once each
        self._stored[actor.tenant_id, actor.user_id] = (actor.email, actor.name, self._timer() + self._ttl)

    def clear(self) -> None:
        self._stored.clear()
