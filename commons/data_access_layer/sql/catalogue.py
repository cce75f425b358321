"""Customers, project types, projects, activities and technologies on SQL."""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    bindparam,
    func,
    select,
)

from commons.data_access_layer.events import DELETE, UPDATE
from commons.data_access_layer.repository import (
    CatalogueSpec,
    ChangeQuery,
    Record,
)
from commons.data_access_layer.sql.base import (
    _record,
    _records,
    _SqlRepository,
    _statement,
    _visible_clause,
    advisory_lock,
)
from commons.data_access_layer.sql.tables import CATALOGUE_TABLES
from commons.domain.cleaning import name_key

if TYPE_CHECKING:
    from commons.data_access_layer.sql.unit_of_work import SqlUnitOfWork


class SqlCatalogue(_SqlRepository):
    """One catalogue container of one tenant, inside a unit of work."""

    def __init__(self, uow: SqlUnitOfWork, spec: CatalogueSpec) -> None:
        super().__init__(uow, CATALOGUE_TABLES[spec.container])
        self.spec = spec
        self.label = spec.label
        self.container = spec.container
        self.marker = spec.soft_delete == "mark"

    def lock(self) -> None:
        advisory_lock(self._uow.conn, f"{self.container}:{self._tenant}")

    def get_many(self, ids: Collection[str]) -> dict[str, Record]:
        wanted = sorted({i for i in ids if i})
        if not wanted:
            return {}
        t = self._table
        stmt = _statement(
            ("get_many", t.name),
            lambda: select(t).where(*_visible_clause(t, self.marker), t.c.id.in_(bindparam("ids", expanding=True))),
        )
        rows = self._uow.conn.execute(stmt, {"tenant": self._tenant, "ids": wanted})
        return {row.id: _record(row, self.marker) for row in rows}

    def list(self, filters: Mapping[str, Any] | None = None) -> builtins.list[Record]:
        t = self._table
        stmt = select(t).where(*_visible_clause(t, self.marker))
        for key, value in (filters or {}).items():
            column = t.c[key]
            if isinstance(value, (list, tuple, set, frozenset)):
                stmt = stmt.where(column.in_(sorted(value)))
            else:
                stmt = stmt.where(column == value)
        stmt = stmt.order_by(func.lower(t.c.name), t.c.id)
        return _records(self._uow.conn.execute(stmt, {"tenant": self._tenant}), self.marker)

    def add(self, fields: Mapping[str, Any]) -> Record:
        values = dict(fields)
        if not self.marker:
            values.setdefault("status", "active")
        if "technologies" in self._table.c:
            values.setdefault("technologies", [])
        values["name_key"] = name_key(str(values["name"]))
        return self._insert(values)

    def update(self, item_id: str, changes: Mapping[str, Any], if_match: str | None = None) -> Record:
        if "name" not in changes and not self._revives(changes):
            return self._write(item_id, changes, if_match, UPDATE)
        row = self._load(item_id, lock=True)
        current = {**row, "_etag": row["etag"]}
        return self._write(item_id, {**changes, **self._key_change(current, changes)}, if_match, UPDATE, None, current)

    def _is_live(self, row: Mapping[str, Any]) -> bool:
        return row.get("deleted") is None if self.marker else row.get("status") == "active"

    def _revives(self, changes: Mapping[str, Any]) -> bool:
        return ("deleted" in changes and changes["deleted"] is None) or changes.get("status") == "active"

    def _key_change(self, current: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
        """The `name_key` a write must store: the new name's key when the name's key changes
        or the item comes back to life (when Cosmos writes a new name guard); else nothing,
        so a live duplicate that migration 09 left without a key keeps its name until renamed
        (as Cosmos keeps a duplicate stored before guards)."""
        written = {**current, **changes}
        key = name_key(str(written["name"]))
        if current["name_key"] == key:
            return {}
        if self._is_live(current) and self._is_live(written) and name_key(str(current["name"])) == key:
            return {}
        return {"name_key": key}

    def changes(self, query: ChangeQuery) -> builtins.list[Record]:
        from commons.data_access_layer.sql.integrations import catalogue_changes

        return catalogue_changes(self, query)

    def delete(self, item_id: str, if_match: str | None = None) -> None:
        marker = {"deleted": str(uuid.uuid4())} if self.marker else {"status": "inactive"}
        self._write(item_id, marker, if_match, DELETE)
