"""Customers, project types, projects, activities and technologies in memory."""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, Any

from commons.data_access_layer.events import DELETE, UPDATE
from commons.data_access_layer.memory.base import MemoryRepository
from commons.data_access_layer.memory.tables import COLUMNS, as_record
from commons.data_access_layer.repository import CatalogueSpec, ChangeQuery, Record
from commons.domain.cleaning import name_key
from commons.domain.errors import Conflict

if TYPE_CHECKING:
    from commons.data_access_layer.memory.unit_of_work import MemoryUnitOfWork


class MemoryCatalogue(MemoryRepository):
    """One catalogue container of one tenant, inside a unit of work."""

    def __init__(self, uow: MemoryUnitOfWork, spec: CatalogueSpec) -> None:
        super().__init__(uow)
        self.spec = spec
        self.label = spec.label
        self.container = spec.container
        self.marker = spec.soft_delete == "mark"

    def lock(self) -> None:
        # Every write holds the store's write lock until its unit ends: take it now.
        self._uow.begin_write()

    def _live(self, row: Mapping[str, Any]) -> bool:
        """What holds its name (the SQL engine's partial unique index)."""
        return row.get("deleted") is None if self.marker else row.get("status") == "active"

    def _name_key(self, row: Mapping[str, Any]) -> tuple[Any, ...]:
        scope = tuple(row.get(field) or "" for field in self.spec.unique_scope)
        return (*scope, name_key(str(row["name"])))

    def _check(self, row: Mapping[str, Any]) -> None:
        if not self._live(row):
            return
        key = self._name_key(row)
        for other in self._rows().values():
            if other["id"] != row["id"] and self._live(other) and self._name_key(other) == key:
                raise Conflict(f"{self.label} with that name already exists")

    def get_many(self, ids: Collection[str]) -> dict[str, Record]:
        rows = self._rows()
        found = (rows.get(item_id) for item_id in sorted({i for i in ids if i}))
        return {row["id"]: as_record(row, self.marker) for row in found if row is not None and self._visible(row)}

    def list(self, filters: Mapping[str, Any] | None = None) -> builtins.list[Record]:
        wanted = dict(filters or {})
        for key in wanted:
            if key not in COLUMNS[self.container]:
                raise ValueError(f"unknown filter {key}")

        def matches(row: Mapping[str, Any]) -> bool:
            for key, value in wanted.items():
                if isinstance(value, (list, tuple, set, frozenset)):
                    if row.get(key) not in value:
                        return False
                elif row.get(key) != value:
                    return False
            return True

        found = [row for row in self._visible_rows() if matches(row)]
        found.sort(key=lambda row: (str(row["name"]).lower(), row["id"]))
        return [as_record(row, self.marker) for row in found]

    def add(self, fields: Mapping[str, Any]) -> Record:
        values = dict(fields)
        if not self.marker:
            values.setdefault("status", "active")
        if "technologies" in COLUMNS[self.container]:
            values.setdefault("technologies", [])
        return self._insert(values)

    def update(self, item_id: str, changes: Mapping[str, Any], if_match: str | None = None) -> Record:
        return self._write(item_id, changes, if_match, UPDATE)

    def changes(self, query: ChangeQuery) -> builtins.list[Record]:
        rows = self._changes(query, live_only=self.marker and not query.include_deleted)
        return [{**as_record(row, self.marker), "updated_at": row["updated_at"]} for row in rows]

    def delete(self, item_id: str, if_match: str | None = None) -> None:
        marker = {"deleted": str(uuid.uuid4())} if self.marker else {"status": "inactive"}
        self._write(item_id, marker, if_match, DELETE)
