"""Customers, project types, projects, activities and technologies of one tenant on Cosmos.

A live name is unique through a guard document in the item's own partition (id: a digest
of scope and the name's key, `cleaning.name_key`, as on every engine), created and deleted in
the same transactional batch as the item: a duplicate guard fails the batch, so two writers
can never both hold a name, and no crash can leave a name without its guard or a guard
without its item.
"""

from __future__ import annotations

import builtins
import hashlib
import uuid
from collections.abc import Callable, Collection, Mapping
from typing import TYPE_CHECKING, Any

from commons.data_access_layer.cosmos_db.documents import (
    GUARD,
    ITEMS_ONLY,
    changed,
    new_document,
    outbox_event,
    record,
    rewritten,
    status_error,
)
from commons.data_access_layer.cosmos_db.units import Failure, Fence, Operation, target
from commons.data_access_layer.events import CREATE, DELETE, UPDATE, event_context
from commons.data_access_layer.repository import CatalogueSpec, ChangeQuery, Record
from commons.domain.cleaning import name_key
from commons.domain.clock import now_ms
from commons.domain.errors import Conflict, Contended, NotFound, PreconditionFailed

if TYPE_CHECKING:
    from commons.data_access_layer.cosmos_db.units import CosmosUnitOfWork


class CosmosCatalogue:
    """One catalogue container of one tenant."""

    def __init__(self, uow: CosmosUnitOfWork, spec: CatalogueSpec) -> None:
        self.spec = spec
        self._uow = uow
        self._items = uow.partition(spec.container, spec.label)
        self._marker = spec.soft_delete == "mark"

    def _live(self, doc: Mapping[str, Any]) -> bool:
        return doc.get("deleted") is None if self._marker else doc.get("status") == "active"

    def _visible(self) -> str:
        return ITEMS_ONLY + (" AND IS_NULL(c.deleted)" if self._marker else "")

    def _shown(self, doc: Mapping[str, Any]) -> bool:
        """An item (not a guard or lease), not marked deleted: what `_visible` says in SQL."""
        return doc.get("_kind") is None and not (self._marker and doc.get("deleted") is not None)

    def _read(self, item_id: str) -> dict[str, Any]:
        self._uow.flush(self.spec.container)
        doc = self._items.read(item_id)
        if doc.get("_kind") is not None or (self._marker and doc.get("deleted") is not None):
            raise NotFound(f"{self.spec.label} not found")
        return doc

    def get(self, item_id: str) -> Record:
        return record(self._read(item_id), self._marker)

    def get_many(self, ids: Collection[str]) -> dict[str, Record]:
        wanted = sorted({i for i in ids if i})
        if not wanted:
            return {}
        self._uow.flush(self.spec.container)
        docs = self._items.read_many(wanted)
        return {d["id"]: record(d, self._marker) for d in docs if self._shown(d)}

    def list(self, filters: Mapping[str, Any] | None = None) -> builtins.list[Record]:
        text = f"SELECT * FROM c WHERE c.tenant_id = @tenant{self._visible()}"
        values: dict[str, Any] = {}
        for n, (key, value) in enumerate((filters or {}).items()):
            if key not in self.spec.filters and key != "status":
                raise ValueError(f"unknown filter {key}")
            if isinstance(value, (list, tuple, set, frozenset)):
                text += f" AND ARRAY_CONTAINS(@f{n}, c.{key})"
                values[f"f{n}"] = sorted(value)
            else:
                text += f" AND c.{key} = @f{n}"
                values[f"f{n}"] = value
        self._uow.flush(self.spec.container)
        docs = self._items.query(text, **values)
        return sorted((record(d, self._marker) for d in docs), key=lambda r: (str(r["name"]).lower(), r["id"]))

    def changes(self, query: ChangeQuery) -> builtins.list[Record]:
        from commons.data_access_layer.cosmos_db.integrations import catalogue_changes

        return catalogue_changes(self, query)

    def names_of(self, ids: Collection[str]) -> dict[str, Record]:
        """Live items by id for the names a write answers with (names.py: may lag a rename in
        another process by a few seconds)."""
        wanted = {i for i in ids if i}
        if not self._uow.write:
            return self.get_many(wanted)
        return self._uow.store.names.many(self._items.tenant, self.spec.container, wanted, self.get_many)

    def lock(self) -> None:
        """Read this catalogue's lease (in its own container): the unit's batch replaces it
        with If-Match, so two writers that each checked the tree (no cycle) cannot both
        write; the later one decides again."""
        lease_id = "lease:catalogue"
        self._uow.flush(self.spec.container)
        try:
            lease = self._items.read(lease_id)
            fence = Fence(lease_id, lease["_etag"], int(lease.get("version") or 0), None)
        except NotFound:
            fence = Fence(lease_id, None, 0, None)
        self._uow.locks[self.spec.container] = fence

    # name guards ---------------------------------------------------------------------------

    def guard_id(self, doc: Mapping[str, Any]) -> str:
        """A digest: names may hold characters Cosmos ids can not (/ \\ # ?)."""
        scope = "|".join(str(doc.get(f) or "") for f in self.spec.unique_scope)
        key = f"{scope}:{name_key(str(doc['name']))}"
        return f"guard:{hashlib.sha256(key.encode()).hexdigest()}"

    def _guard(self, doc: Mapping[str, Any]) -> Operation:
        body = {"id": self.guard_id(doc), "tenant_id": self._items.tenant, "_kind": GUARD, "item_id": doc["id"]}
        return ("create", (body,), {})

    def _taken(self) -> Conflict:
        return Conflict(f"{self.spec.label} with that name already exists")

    # writes --------------------------------------------------------------------------------
    # Writes wait in the unit of work and go out as one batch (units.py): the item, its name
    # guards and its outbox event, all or nothing.

    def _queue(self, operation: Operation, failure: Failure | None = None, answer: Record | None = None) -> None:
        item_id = target(operation)

        def stored(body: dict[str, Any]) -> None:
            if answer is not None:
                answer["_etag"] = body.get("_etag")
            self._uow.store.names.forget(self._items.tenant, self.spec.container, item_id)

        self._uow.queue(self.spec.container, operation, stored if answer is not None else None, failure)

    def add(self, fields: Mapping[str, Any]) -> Record:
        now = now_ms()
        context = event_context(self._uow.actor, self.spec.container, CREATE, now)
        doc = new_document(self._items.tenant, fields, context, now)
        if not self._marker:
            doc.setdefault("status", "active")
        if self.spec.container == "project":
            doc.setdefault("technologies", [])
        answer = {**record(doc, self._marker), "_etag": None}
        self._queue(("create", (doc,), {}), lambda status: self._failed(status, None), answer)
        if self._live(doc):
            self._queue(self._guard(doc), lambda status: self._taken() if status == 409 else self._failed(status, None))
        self._queue(("create", (outbox_event(doc),), {}))
        return answer

    def _failed(self, status: int, if_match: str | None) -> Exception:
        if status == 412 and if_match is None:
            # Changed since it was read, and the client did not ask for a version: decide again.
            return Contended(f"Someone else changed this {self.spec.label.lower()} at the same time; try again")
        return status_error(status, self.spec.label)

    def _missing_guard(self, current: Mapping[str, Any]) -> Callable[[int], Exception]:
        """An item stored before guards moved into its container has none to delete: give it
        its guard (restoring the rule the migration establishes) and decide again."""

        def failed(status: int) -> Exception:
            if status != 404:
                return self._failed(status, None)
            body = self._guard(current)[1][0]
            try:
                self._items.create(body)
            except Conflict:
                pass
            return Contended(f"{self.spec.label} name guard restored; try again")

        return failed

    def _write(self, item_id: str, changes: Mapping[str, Any], if_match: str | None, action: str) -> Record:
        """Rewrite the item with `If-Match` on the version read (the client's, when given)."""
        current = self._read(item_id)
        if if_match is not None and if_match != current["_etag"]:
            raise PreconditionFailed(changed(self.spec.label))
        now = now_ms()
        doc = rewritten(current, changes, event_context(self._uow.actor, self.spec.container, action, now), now)
        answer = {**record(doc, self._marker), "_etag": None}
        old_guard = self.guard_id(current) if self._live(current) else None
        new_guard = self.guard_id(doc) if self._live(doc) else None
        self._queue(
            ("replace", (item_id, doc), {"if_match_etag": current["_etag"]}),
            lambda status: self._failed(status, if_match),
            answer,
        )
        if old_guard != new_guard:
            if old_guard:
                self._queue(("delete", (old_guard,), {}), self._missing_guard(current))
            if new_guard:
                self._queue(
                    self._guard(doc), lambda status: self._taken() if status == 409 else self._failed(status, None)
                )
        self._queue(("create", (outbox_event(doc),), {}))
        return answer

    def update(self, item_id: str, changes: Mapping[str, Any], if_match: str | None = None) -> Record:
        return self._write(item_id, changes, if_match, UPDATE)

    def delete(self, item_id: str, if_match: str | None = None) -> None:
        marker = {"deleted": str(uuid.uuid4())} if self._marker else {"status": "inactive"}
        self._write(item_id, marker, if_match, DELETE)
