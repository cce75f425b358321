"""The callers a process has stored lately (e-mail and name), so that a request does not write
them again: `Users.remember` skips a caller presenting what this process last stored for them."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from cachetools import TTLCache

from commons.data_access_layer.events import Actor

#: How long a stored caller is taken as still stored. Another process may store the same user
#: differently meanwhile (an e-mail changed, then changed back): within this time, the store
#: follows again what the callers of every process present.
TTL_SECONDS = 600.0


class KnownCallers:
    """(tenant, user) -> the (e-mail, name) this process last stored, for `TTL_SECONDS`. Keyed
    by the user, not by what they presented, so an e-mail changed and changed back is stored
    again (a set of what was presented said "already stored" and kept the middle one)."""

    def __init__(
        self, ttl: float = TTL_SECONDS, maxsize: int = 100_000, timer: Callable[[], float] = time.monotonic
    ) -> None:
        self._stored: TTLCache[tuple[str, str], tuple[str | None, str | None]] = TTLCache(maxsize, ttl, timer)
        self._lock = threading.Lock()  # cachetools' caches are not thread-safe

    def knows(self, actor: Actor) -> bool:
        """Whether this process stored `actor` as they present themselves now."""
        with self._lock:
            return self._stored.get((actor.tenant_id, actor.user_id)) == (actor.email, actor.name)

    def learn(self, actor: Actor) -> None:
        """`actor` was stored as they present themselves (call once the write committed)."""
        with self._lock:
            self._stored[actor.tenant_id, actor.user_id] = (actor.email, actor.name)

    def clear(self) -> None:
        with self._lock:
            self._stored.clear()
