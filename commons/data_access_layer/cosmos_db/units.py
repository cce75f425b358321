"""A unit of work on Cosmos DB: reads as they come, writes as one transactional batch.

Cosmos has no transaction across documents except the transactional batch: up to 100
operations on one partition of one container, all applied or none. Every unit of work here
writes within one tenant's partition of one container (an item with its name guard and its
outbox event; time entries with the owner lease), so each unit is one batch and a process
that dies at any point leaves nothing half written.

Owner rules (one running entry, no overlaps) are fenced by the owner lease: `lock_owner`
reads the lease (and its session token, so the rule queries that follow see at least what the
lease saw), and the unit's batch replaces it with `If-Match`. A writer that decided on an
older state fails as a whole (`Contended`); the service decides again on fresh data.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from azure.core import MatchConditions
from azure.cosmos import exceptions

from commons.data_access_layer.cosmos_db.documents import (
    LEASE,
    SDK_ERRORS,
    changed,
    params,
    status_error,
)
from commons.data_access_layer.events import Actor
from commons.data_access_layer.repository import (
    ACTIVITIES,
    CUSTOMERS,
    PROJECT_TYPES,
    PROJECTS,
    TECHNOLOGIES,
    CatalogueSpec,
)
from commons.domain.errors import Conflict, Contended, NotFound, PreconditionFailed

if TYPE_CHECKING:
    from commons.data_access_layer.cosmos_db.catalogue import CosmosCatalogue
    from commons.data_access_layer.cosmos_db.integrations import CosmosAccessTokens
    from commons.data_access_layer.cosmos_db.store import CosmosStore

#: One batch holds at most this many operations (Cosmos DB's limit).
MAX_BATCH = 100
Operation = tuple[str, tuple[Any, ...], dict[str, Any]]


@dataclass
class Fence:
    """The owner lease as this unit read it."""

    lease_id: str
    etag: str | None
    version: int
    session_token: str | None


#: What a failed operation means: its status -> the error to raise.
Failure = Callable[[int], Exception]


@dataclass
class Batch:
    """Operations waiting for the unit's commit, and what to tell their callers after it."""

    operations: list[Operation] = field(default_factory=list)
    #: Called with the stored body of the operation at the same index.
    callbacks: list[Callable[[dict[str, Any]], None] | None] = field(default_factory=list)
    failures: list[Failure | None] = field(default_factory=list)

    def add(
        self,
        operation: Operation,
        callback: Callable[[dict[str, Any]], None] | None = None,
        failure: Failure | None = None,
    ) -> None:
        self.operations.append(operation)
        self.callbacks.append(callback)
        self.failures.append(failure)


def target(operation: Operation) -> str:
    """The id of the document an operation writes."""
    kind, args, _ = operation
    return str(args[0]["id"]) if kind in ("create", "upsert") else str(args[0])


class Partition:
    """One tenant's partition of one container: queries, point reads, batches."""

    def __init__(self, store: CosmosStore, container: str, tenant: str, label: str) -> None:
        self.proxy = store.proxy(container)
        self.container = container
        self.tenant = tenant
        self.label = label

    def query(
        self, text: str, session_token: str | None = None, max_items: int | None = None, **values: Any
    ) -> builtins.list[dict[str, Any]]:
        """Every result: the SDK follows continuations across short and empty pages."""
        options: dict[str, Any] = {"session_token": session_token} if session_token else {}
        items = self.proxy.query_items(
            text,
            parameters=params(tenant=self.tenant, **values),
            partition_key=self.tenant,
            max_item_count=max_items,
            **options,
        )
        return list(items)

    def page(
        self, text: str, size: int, continuation: str | None, **values: Any
    ) -> tuple[builtins.list[dict[str, Any]], str | None]:
        """Up to `size` results after `continuation`, and the next continuation (None at the
        end). A page shorter than asked, even an empty one, says nothing about the end: only a
        missing continuation does, so pages are followed until `size` is reached."""
        found: list[dict[str, Any]] = []
        token = continuation
        while len(found) < size:
            pages: Any = self.proxy.query_items(
                text,
                parameters=params(tenant=self.tenant, **values),
                partition_key=self.tenant,
                max_item_count=size - len(found),
            ).by_page(token)
            try:
                found += list(next(pages))
            except StopIteration:
                return found, None
            token = pages.continuation_token
            if not token:
                return found, None
        return found, token

    def read_many(self, ids: Sequence[str]) -> builtins.list[dict[str, Any]]:
        """Documents by id, missing ones left out: one query of the partition per 1,000 ids.
        (SDK 4.17's `read_items` sends the same `c.id IN (...)` query, but from a thread pool
        it creates on every call.)"""
        found: list[dict[str, Any]] = []
        for start in range(0, len(ids), 1000):
            chunk = list(ids[start : start + 1000])
            names = ", ".join(f"@id{n}" for n in range(len(chunk)))
            values: dict[str, Any] = {f"id{n}": item_id for n, item_id in enumerate(chunk)}
            found += self.query(f"SELECT * FROM c WHERE c.tenant_id = @tenant AND c.id IN ({names})", **values)
        return found

    def read(
        self,
        item_id: str,
        on_headers: Callable[[Mapping[str, Any]], None] | None = None,
        session_token: str | None = None,
    ) -> dict[str, Any]:
        options: dict[str, Any] = {"session_token": session_token} if session_token else {}
        if on_headers is not None:
            options["response_hook"] = lambda headers, _body: on_headers(headers)
        try:
            return self.proxy.read_item(item_id, partition_key=self.tenant, **options)
        except exceptions.CosmosResourceNotFoundError:
            raise NotFound(f"{self.label} not found") from None

    def create(self, doc: dict[str, Any]) -> dict[str, Any]:
        try:
            return self.proxy.create_item(doc)
        except exceptions.CosmosResourceExistsError:
            raise Conflict(f"{self.label} already exists") from None

    def replace(self, doc: dict[str, Any], etag: str) -> dict[str, Any]:
        try:
            return self.proxy.replace_item(doc["id"], doc, etag=etag, match_condition=MatchConditions.IfNotModified)
        except exceptions.CosmosAccessConditionFailedError:
            raise PreconditionFailed(changed(self.label)) from None
        except exceptions.CosmosResourceNotFoundError:
            raise NotFound(f"{self.label} not found") from None

    def execute(self, operations: Sequence[Operation]) -> builtins.list[dict[str, Any]]:
        """Run `operations` as one transactional batch; answer the stored bodies, or raise
        `BatchFailed` naming the operation that failed (none of them is applied)."""
        try:
            results = self.proxy.execute_item_batch(list(operations), partition_key=self.tenant)
        except exceptions.CosmosBatchOperationError as error:
            index = error.error_index if error.error_index is not None else -1
            raise BatchFailed(index, _status_of(error, index), self.label) from None
        return [r.get("resourceBody") or {} for r in results]


class BatchFailed(Exception):
    """Operation `index` of a batch failed with `status`; nothing of the batch was applied."""

    def __init__(self, index: int, status: int, label: str) -> None:
        super().__init__(f"batch operation {index} failed with {status}")
        self.index = index
        self.status = status
        self.label = label

    def domain_error(self) -> Exception:
        """The failure as the contract's error (for operations without a meaning of their own)."""
        return status_error(self.status, self.label, str(self))


def _status_of(error: exceptions.CosmosBatchOperationError, index: int) -> int:
    responses = error.operation_responses or []
    if 0 <= index < len(responses):
        return int(responses[index].get("statusCode") or error.status_code or 500)
    return int(error.status_code or 500)


class CosmosUnitOfWork:
    """The repositories of one actor; time-entry writes wait here for one batch."""

    def __init__(self, store: CosmosStore, actor: Actor, *, write: bool = False) -> None:
        from commons.data_access_layer.cosmos_db.catalogue import CosmosCatalogue
        from commons.data_access_layer.cosmos_db.events import CosmosEvents
        from commons.data_access_layer.cosmos_db.money import CosmosMoney
        from commons.data_access_layer.cosmos_db.time_entries import CosmosTimeEntries
        from commons.data_access_layer.cosmos_db.users import CosmosUsers

        self.store = store
        self.actor = actor
        #: A writing unit answers with names from the store's short-lived cache (names.py).
        self.write = write
        self.fence: Fence | None = None
        #: Catalogue locks (`Catalogue.lock`): a lease in the catalogue's own container.
        self.locks: dict[str, Fence] = {}
        #: Writes waiting for the commit, per container.
        self.batches: dict[str, Batch] = {}
        self.customers = CosmosCatalogue(self, CUSTOMERS)
        self.project_types = CosmosCatalogue(self, PROJECT_TYPES)
        self.projects = CosmosCatalogue(self, PROJECTS)
        self.activities = CosmosCatalogue(self, ACTIVITIES)
        self.technologies = CosmosCatalogue(self, TECHNOLOGIES)
        self.time_entries = CosmosTimeEntries(self)
        self.users = CosmosUsers(self)
        self.events = CosmosEvents(self)
        self._access_tokens: CosmosAccessTokens | None = None
        self.money = CosmosMoney(self)
        self._by_container = {
            c.spec.container: c
            for c in (self.customers, self.project_types, self.projects, self.activities, self.technologies)
        }

    def catalogue(self, spec: CatalogueSpec) -> CosmosCatalogue:
        return self._by_container[spec.container]

    @property
    def access_tokens(self) -> CosmosAccessTokens:
        """Personal access tokens (integrations.py), made on first use."""
        if self._access_tokens is None:
            from commons.data_access_layer.cosmos_db.integrations import CosmosAccessTokens

            self._access_tokens = CosmosAccessTokens(self)
        return self._access_tokens

    def partition(self, container: str, label: str) -> Partition:
        return Partition(self.store, container, self.actor.tenant_id, label)

    def queue(
        self,
        container: str,
        operation: Operation,
        callback: Callable[[dict[str, Any]], None] | None = None,
        failure: Failure | None = None,
    ) -> None:
        """Add a write to the container's batch. The operations of a batch run in order (a
        guard deleted and created again by the same unit is fine; a second create of a guard
        fails the whole batch, as a duplicate name must)."""
        self.batches.setdefault(container, Batch()).add(operation, callback, failure)

    def flush(self, container: str) -> None:
        """Commit the container's queued writes now (before a read of that container, so
        that the unit reads what it wrote)."""
        batch = self.batches.pop(container, None)
        if batch is None or not batch.operations:
            return
        if container == "time_entry":
            self._fence(batch)
        elif container in self.locks:
            self._prepend_lease(batch, self.locks[container], lambda fence: self.locks.update({container: fence}))
        if len(batch.operations) > MAX_BATCH:
            # Only bulk loads (seeding) write this much in one unit: they commit in parts.
            for start in range(0, len(batch.operations), MAX_BATCH):
                end = start + MAX_BATCH
                part = Batch(batch.operations[start:end], batch.callbacks[start:end], batch.failures[start:end])
                self._execute(container, part)
            return
        self._execute(container, batch)

    def commit(self) -> None:
        """Every queued write: one batch per container written (services write one)."""
        for container in list(self.batches):
            self.flush(container)

    def _fence(self, batch: Batch) -> None:
        """Put the owner lease, replaced with If-Match, first in the batch: the entries are
        written only if nobody wrote the owner's entries since the lease was read."""
        if self.time_entries.lease_id is None:
            return
        self.time_entries.read_lease()
        assert self.fence is not None
        self._prepend_lease(batch, self.fence, lambda fence: setattr(self, "fence", fence))

    def _prepend_lease(self, batch: Batch, fence: Fence, moved_on: Callable[[Fence], None]) -> None:
        lease = {"id": fence.lease_id, "tenant_id": self.actor.tenant_id, "_kind": LEASE, "version": fence.version + 1}
        operation: Operation = (
            ("create", (lease,), {})
            if fence.etag is None
            else ("replace", (fence.lease_id, lease), {"if_match_etag": fence.etag})
        )
        batch.operations.insert(0, operation)
        batch.callbacks.insert(
            0, lambda body: moved_on(Fence(fence.lease_id, body.get("_etag"), fence.version + 1, None))
        )
        batch.failures.insert(
            0, lambda _status: Contended("Someone else made a change this one rests on at the same time; try again")
        )

    def _execute(self, container: str, batch: Batch) -> None:
        partition = self.partition(container, "Item")
        try:
            bodies = partition.execute(batch.operations)
        except BatchFailed as failed:
            failure = batch.failures[failed.index] if 0 <= failed.index < len(batch.failures) else None
            raise (failure(failed.status) if failure else failed.domain_error()) from None
        for callback, body in zip(batch.callbacks, bodies, strict=False):
            if callback is not None:
                callback(body)


__all__ = [
    "SDK_ERRORS",
    "Batch",
    "BatchFailed",
    "Failure",
    "target",
    "CosmosUnitOfWork",
    "Fence",
    "Operation",
    "Partition",
]
