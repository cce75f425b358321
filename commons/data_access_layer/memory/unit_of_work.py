"""One unit of work of the memory engine: the repositories of one actor over one snapshot of
their tenant's tables.

A reading unit reads the state published when it opened (a consistent snapshot, no lock). A
writing unit holds the store's write lock from its start to its end, as SQLite's
`BEGIN IMMEDIATE` does, and works on its own copies of the tables it writes: they are
published together when the unit ends without an exception, and dropped when it raises. A
unit opened for reading that writes all the same takes the lock at its first write and from
then on works on the latest published state (as a database transaction that upgrades).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from commons.data_access_layer.events import Actor
from commons.data_access_layer.memory.accounts import MemoryAccessTokens, MemoryMoney, MemoryUsers
from commons.data_access_layer.memory.audit import MemoryEvents, change_document
from commons.data_access_layer.memory.catalogue import MemoryCatalogue
from commons.data_access_layer.memory.tables import Row, Rows, Snapshot
from commons.data_access_layer.memory.time_entries import MemoryTimeEntries
from commons.data_access_layer.repository import (
    ACTIVITIES,
    CUSTOMERS,
    PROJECT_TYPES,
    PROJECTS,
    TECHNOLOGIES,
    AccessTokens,
    Catalogue,
    CatalogueSpec,
    Events,
    Money,
    TimeEntries,
    Users,
)

if TYPE_CHECKING:
    from commons.data_access_layer.memory.store import MemoryStore


class MemoryUnitOfWork:
    """The repositories of one actor, sharing one snapshot of the tenant's tables."""

    def __init__(self, store: MemoryStore, actor: Actor, write: bool) -> None:
        self.store = store
        self.actor = actor
        self.writing = False
        self.ended = False
        self.tables = Snapshot(store.published(actor.tenant_id))
        #: This unit's writes in order: (container, document as the change feed has it).
        self.changes: list[tuple[str, dict[str, Any]]] = []
        if write:
            self.begin_write()
        # Typed as the contract's repositories: mypy checks that each implements its Protocol.
        self._by_container: dict[str, Catalogue] = {
            spec.container: MemoryCatalogue(self, spec)
            for spec in (CUSTOMERS, PROJECT_TYPES, PROJECTS, ACTIVITIES, TECHNOLOGIES)
        }
        self.customers = self._by_container[CUSTOMERS.container]
        self.project_types = self._by_container[PROJECT_TYPES.container]
        self.projects = self._by_container[PROJECTS.container]
        self.activities = self._by_container[ACTIVITIES.container]
        self.technologies = self._by_container[TECHNOLOGIES.container]
        self.time_entries: TimeEntries = MemoryTimeEntries(self)
        self.users: Users = MemoryUsers(self)
        self.events: Events = MemoryEvents(self)
        self.access_tokens: AccessTokens = MemoryAccessTokens(self)
        self.money: Money = MemoryMoney(self)

    def catalogue(self, spec: CatalogueSpec) -> Catalogue:
        return self._by_container[spec.container]

    def begin_write(self) -> None:
        """Hold the store's write lock until the unit ends, on the latest published state."""
        if self.writing:
            return
        if self.ended:
            raise RuntimeError("This unit of work has ended: open another to write")
        self.store.acquire()
        self.writing = True
        self.tables = Snapshot(self.store.published(self.actor.tenant_id))

    def write_rows(self, container: str) -> Rows:
        """The unit's own copy of a table, to write into."""
        self.begin_write()
        return self.tables.writable(container)

    def log_change(self, container: str, row: Row) -> None:
        self.changes.append((container, change_document(row)))

    def end(self, committed: bool) -> None:
        """Publish the unit's writes (`committed`) or drop them; release the write lock."""
        self.ended = True
        if not self.writing:
            return
        try:
            if committed and self.tables.changed:
                self.store.publish(self.actor.tenant_id, self.tables, self.changes)
        finally:
            self.writing = False
            self.store.release()
