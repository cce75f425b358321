"""The memory implementation of `Store`: the tenants' published tables, one write lock."""

from __future__ import annotations

import builtins
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from commons.data_access_layer.events import Actor
from commons.data_access_layer.idempotency import IdempotencyKeys
from commons.data_access_layer.memory.audit import AuditLog, MemoryChangeFeed, MemoryIdempotencyKeys
from commons.data_access_layer.memory.tables import Row, Rows, Snapshot, Tables, clone
from commons.data_access_layer.memory.unit_of_work import MemoryUnitOfWork
from commons.data_access_layer.memory.webhooks import MemoryWebhooks
from commons.data_access_layer.repository import Store, UnitOfWork
from commons.data_access_layer.webhooks import Webhooks


class MemoryStore:
    """The repository contract in the process's memory (pure Python): the SQL engine's
    semantics, fast, for rule tests and for whoever needs a store without a database."""

    engine_name = "memory"

    def __init__(self) -> None:
        self._writer = threading.Lock()
        self._writer_thread: int | None = None
        #: tenant -> its published tables; a publication replaces the tenant's entry whole.
        self._tenants: dict[str, dict[str, Rows]] = {}
        self._containers: set[str] = set()
        self._migrations: dict[str, str] = {}
        self.audit = AuditLog()
        self.idempotency: IdempotencyKeys = MemoryIdempotencyKeys()
        self.webhooks: Webhooks = MemoryWebhooks(self)

    @contextmanager
    def unit_of_work(self, actor: Actor, *, write: bool = False) -> Iterator[UnitOfWork]:
        unit = MemoryUnitOfWork(self, actor, write)
        try:
            yield unit
        except BaseException:
            unit.end(committed=False)
            raise
        unit.end(committed=True)

    # the write lock and publication (used by units of work) --------------------------------

    def acquire(self) -> None:
        if self._writer_thread == threading.get_ident():
            raise RuntimeError("A writing unit of work is open in this thread already: a second one would deadlock")
        self._writer.acquire()
        self._writer_thread = threading.get_ident()

    def release(self) -> None:
        self._writer_thread = None
        self._writer.release()

    def published(self, tenant: str) -> Tables:
        return self._tenants.get(tenant, {})

    def publish(self, tenant: str, tables: Snapshot, changes: Iterable[tuple[str, dict[str, Any]]]) -> None:
        """Make a unit's writes visible at once (the caller holds the write lock)."""
        self._tenants[tenant] = tables.published()
        self.audit.published(changes)

    # the rest of the Store contract --------------------------------------------------------

    def create_containers(self, names: Iterable[str]) -> builtins.list[str]:
        created = [name for name in dict.fromkeys(names) if name not in self._containers]
        self._containers.update(created)
        return created

    def ping(self) -> None:
        """Always reachable."""

    def change_feed(self, name: str) -> MemoryChangeFeed:
        return MemoryChangeFeed(self.audit, name)

    def record_events(self, events: Iterable[Mapping[str, Any]]) -> int:
        return self.audit.record(events)

    def dispose(self) -> None:
        """Nothing to release: the data stays for as long as the store object lives."""

    def migration_records(self) -> builtins.list[tuple[str, str]]:
        return sorted(self._migrations.items())

    def save_migration_record(self, name: str, code: str) -> None:
        self._migrations[name] = code

    def remove_migration_record(self, name: str) -> None:
        self._migrations.pop(name, None)

    # below the contract (tests) -----------------------------------------------------------

    def stored(self, container: str, tenant: str, item_id: str) -> Row:
        """The row as stored, server-owned keys included (`_last_event_ctx`, `created_at`...)."""
        return clone(self._tenants.get(tenant, {}).get(container, {})[item_id])


def as_store(store: MemoryStore) -> Store:
    """The store as the contract types it (and where mypy checks that it implements it)."""
    return store
