"""A short-lived cache of catalogue records and e-mails, for the names a write answers with.

A write of a time entry answers with the names of its project, customer, activity and owner:
four queries in four containers, twice the round trips of the write itself. The write's own
response takes them from here (at most `TTL_S` seconds old after a rename in another process;
a rename in this process is seen at once). Lists and reads always join fresh, and no rule
ever reads through this cache (an entry's project must be active *now*).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection
from typing import Any

from cachetools import TTLCache

TTL_S = 5.0


class NameCache:
    """(tenant, container, id) -> record, for `TTL_S` seconds; thread-safe."""

    def __init__(self, ttl: float = TTL_S, size: int = 20_000) -> None:
        self._cache: TTLCache[tuple[str, str, str], Any] = TTLCache(maxsize=size, ttl=ttl)
        self._lock = threading.Lock()
        #: Forgets so far: a fetch that a forget overtook may hold the record before the
        #: write that forgot it, so what it read is answered but not kept.
        self._forgets = 0

    def many(
        self, tenant: str, container: str, ids: Collection[str], fetch: Callable[[list[str]], dict[str, Any]]
    ) -> dict[str, Any]:
        """The records of `ids`: cached ones, and the others fetched in one call and kept."""
        found: dict[str, Any] = {}
        missing: list[str] = []
        with self._lock:
            forgets = self._forgets
            for item_id in ids:
                hit = self._cache.get((tenant, container, item_id))
                if hit is None:
                    missing.append(item_id)
                else:
                    found[item_id] = hit
        if missing:
            fetched = fetch(missing)
            with self._lock:
                if self._forgets == forgets:
                    for item_id, value in fetched.items():
                        self._cache[(tenant, container, item_id)] = value
            found.update(fetched)
        return found

    def forget(self, tenant: str, container: str, item_id: str) -> None:
        with self._lock:
            self._forgets += 1
            self._cache.pop((tenant, container, item_id), None)
