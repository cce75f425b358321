"""What every memory repository shares: tenant confinement (a unit sees its tenant's tables
only), soft-delete visibility, conditional (ETag) writes, constraints and the change log."""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from commons.data_access_layer.events import CREATE, event_context
from commons.data_access_layer.memory.tables import COLUMNS, Row, as_record, check_columns, clone, new_etag
from commons.data_access_layer.repository import ChangeQuery, Record
from commons.domain.clock import now_ms
from commons.domain.errors import Conflict, NotFound, PreconditionFailed
from commons.domain.preconditions import stale

if TYPE_CHECKING:
    from commons.data_access_layer.memory.unit_of_work import MemoryUnitOfWork


class MemoryRepository:
    """One container of one tenant inside a unit of work."""

    label = "Item"
    container = ""
    marker = True  # soft delete by a `deleted` marker (else by status, or not at all)

    def __init__(self, uow: MemoryUnitOfWork) -> None:
        self._uow = uow

    @property
    def _tenant(self) -> str:
        return self._uow.actor.tenant_id

    def _rows(self) -> Mapping[str, Row]:
        return self._uow.tables.rows(self.container)

    def _visible(self, row: Mapping[str, Any]) -> bool:
        return not self.marker or row.get("deleted") is None

    def _visible_rows(self) -> Iterator[Row]:
        return (row for row in self._rows().values() if self._visible(row))

    def _load(self, item_id: str) -> Row:
        row = self._rows().get(item_id)
        if row is None or not self._visible(row):
            raise NotFound(f"{self.label} not found")
        return row

    def get(self, item_id: str) -> Record:
        return as_record(self._load(item_id), self.marker)

    def _check(self, row: Mapping[str, Any]) -> None:
        """The container's constraints on a row about to be stored (the SQL engine's unique
        indexes): raise Conflict when it would break one."""

    def _insert(self, fields: Mapping[str, Any], description: str | None = None, item_id: str | None = None) -> Record:
        check_columns(self.container, fields)
        rows = self._uow.write_rows(self.container)
        now = now_ms()
        values = clone(fields)
        values.update(
            tenant_id=self._tenant,
            id=item_id or str(uuid.uuid4()),
            _etag=new_etag(),
            created_at=now,
            updated_at=now,
            _last_event_ctx=event_context(self._uow.actor, self.container, CREATE, now, description),
        )
        if values["id"] in rows:
            raise Conflict(f"{self.label} already exists")
        row = {**dict.fromkeys(COLUMNS[self.container]), **values}
        self._check(row)
        rows[row["id"]] = row
        self._uow.log_change(self.container, row)
        # As the SQL engine: the fields written and the server-owned ones, no others.
        return as_record(values, self.marker)

    def _write(
        self,
        item_id: str,
        changes: Mapping[str, Any],
        if_match: str | None,
        action: str,
        description: str | None = None,
        current: Mapping[str, Any] | None = None,
    ) -> Record:
        """Conditional write: it applies only to the version read (`current`, else read here)."""
        check_columns(self.container, changes, keys=False)
        self._uow.begin_write()
        read = self._load(item_id) if current is None else current
        if if_match is not None and if_match != read["_etag"]:
            raise PreconditionFailed(stale(self.label))
        rows = self._uow.write_rows(self.container)
        stored = rows.get(item_id)
        if stored is None or stored["_etag"] != read["_etag"]:
            raise PreconditionFailed(stale(self.label))
        now = now_ms()
        values = clone(changes)
        values.update(
            _etag=new_etag(),
            updated_at=now,
            _last_event_ctx=event_context(self._uow.actor, self.container, action, now, description),
        )
        row = {**stored, **values}
        self._check(row)
        rows[item_id] = row
        self._uow.log_change(self.container, row)
        return as_record({**read, **values}, self.marker)

    def _changes(self, query: ChangeQuery, live_only: bool) -> builtins.list[Row]:
        """Rows of a sync page (repository.ChangeQuery), in change order."""
        after = (query.after[0], query.after[1])
        found = [
            row
            for row in self._rows().values()
            if (row["updated_at"], row["id"]) > after
            and row["updated_at"] <= query.until
            and (not live_only or row.get("deleted") is None)
            and (query.owners is None or row.get("owner_id") in query.owners)
        ]
        found.sort(key=lambda row: (row["updated_at"], row["id"]))
        return found[: query.limit]
