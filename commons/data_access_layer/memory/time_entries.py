"""Time entries in memory: the SQL engine's window predicate, order and joined names."""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from commons.data_access_layer.events import DELETE, UPDATE
from commons.data_access_layer.memory.base import MemoryRepository
from commons.data_access_layer.memory.tables import Row, as_record
from commons.data_access_layer.repository import (
    ChangeQuery,
    EntryQuery,
    OwnerLock,
    Record,
    add_after_reading,
    owner_lock_read,
    update_after_reading,
)
from commons.domain import cursors
from commons.domain.clock import MAX_ENTRY_MS, MIN_INSTANT, OPEN_END
from commons.domain.errors import Conflict, Invalid

RUNNING = "You already have a running time entry; stop it first"
TOTALS_BY = ("project_id", "activity_id", "owner_id", "customer_id")


def in_window(row: Mapping[str, Any], start: int, end: int) -> bool:
    """Whether the entry overlaps [start, end), as the SQL engine decides it: a stopped entry
    ends inside the window or at most MAX_ENTRY_MS after it (entries last no longer), a
    running one extends to forever."""
    if row["end_at"] is None:
        return bool(row["start_at"] < end)
    return bool(start < row["end_at"] <= min(end, OPEN_END) + MAX_ENTRY_MS and row["start_at"] < end)


def matches(row: Mapping[str, Any], query: EntryQuery) -> bool:
    """Whether a live entry is one `query` asks for (limit and offset aside)."""
    if query.owners is not None and row["owner_id"] not in query.owners:
        return False
    if query.project_ids is not None and row["project_id"] not in query.project_ids:
        return False
    if query.activity_id and row["activity_id"] != query.activity_id:
        return False
    if query.uri and row["uri"] != query.uri:
        return False
    if query.start is None and query.end is None:
        return True
    return in_window(
        row, MIN_INSTANT if query.start is None else query.start, OPEN_END if query.end is None else query.end
    )


def _newest_first(row: Mapping[str, Any]) -> tuple[int, str]:
    return (-row["start_at"], row["id"])


class MemoryTimeEntries(MemoryRepository):
    """Time entries of one tenant. Reads answer entries joined with `project_name`,
    `customer_id`, `customer_name`, `activity_name` and `owner_email`."""

    label = "Time entry"
    container = "time_entry"

    def lock_owner(self, owner_id: str, references: tuple[str, str] | None = None) -> OwnerLock:
        # The store's write lock serialises every writer: take it now, if not held yet.
        self._uow.begin_write()
        return owner_lock_read(self._uow, references)

    def _check(self, row: Mapping[str, Any]) -> None:
        """At most one running entry per owner (the SQL engine's `ux_time_entry_running`)."""
        if row["end_at"] is not None or row["deleted"] is not None:
            return
        for other in self._visible_rows():
            if other["end_at"] is None and other["owner_id"] == row["owner_id"] and other["id"] != row["id"]:
                raise Conflict(RUNNING)

    def _named(self, rows: Iterable[Mapping[str, Any]]) -> builtins.list[Record]:
        """Records with the names of their project, customer, activity and owner (outer joins:
        None where the item does not exist)."""
        tables = self._uow.tables
        projects, customers = tables.rows("project"), tables.rows("customer")
        activities, users = tables.rows("activity"), tables.rows("app_user")
        named = []
        for row in rows:
            entry = as_record(row, True)
            project = projects.get(row["project_id"])
            customer = customers.get(project["customer_id"]) if project and project["customer_id"] else None
            activity = activities.get(row["activity_id"])
            user = users.get(row["owner_id"])
            entry["project_name"] = project["name"] if project else None
            entry["customer_id"] = project["customer_id"] if project else None
            entry["customer_name"] = customer["name"] if customer else None
            entry["activity_name"] = activity["name"] if activity else None
            entry["owner_email"] = user["email"] if user else None
            named.append(entry)
        return named

    def _matching(self, query: EntryQuery) -> builtins.list[Row]:
        return [row for row in self._visible_rows() if matches(row, query)]

    def get(self, entry_id: str) -> Record:
        return self._named([self._load(entry_id)])[0]

    def running(self, owner_id: str) -> Record | None:
        for row in self._visible_rows():
            if row["owner_id"] == owner_id and row["end_at"] is None:
                return self._named([row])[0]
        return None

    def overlapping(
        self, owner_id: str, start: int, end: int | None, exclude_id: str | None = None
    ) -> builtins.list[Record]:
        query = EntryQuery(owners=(owner_id,), start=start, end=OPEN_END if end is None else end)
        return [as_record(row, True) for row in self._matching(query) if row["id"] != (exclude_id or "")]

    def list(self, query: EntryQuery) -> builtins.list[Record]:
        found = sorted(self._matching(query), key=_newest_first)
        stop = None if query.limit is None else query.offset + query.limit
        return self._named(found[query.offset : stop])

    def page(self, query: EntryQuery, size: int, continuation: str | None) -> tuple[builtins.list[Record], str | None]:
        """One page of `size` entries and the token of the next (an offset, as on SQL)."""
        offset = 0
        if continuation:
            offset = cursors.decode(continuation)
            if type(offset) is not int or not 0 <= offset <= 10_000_000:
                raise Invalid(cursors.NOT_OURS)
        found = self.list(replace(query, limit=size + 1, offset=offset))
        token = cursors.encode(offset + size) if len(found) > size else None
        return found[:size], token

    def spans(self, query: EntryQuery) -> builtins.list[tuple[int, int | None]]:
        return [(row["start_at"], row["end_at"]) for row in self._matching(query)]

    def count(self, query: EntryQuery) -> int:
        return len(self._matching(query))

    def changes(self, query: ChangeQuery) -> builtins.list[Record]:
        rows = self._changes(query, live_only=not query.include_deleted)
        return [{**entry, "updated_at": row["updated_at"]} for entry, row in zip(self._named(rows), rows, strict=True)]

    def latest_per_project(self, owner_id: str, start: int, end: int) -> builtins.list[Record]:
        latest: dict[str, Row] = {}
        for row in sorted(self._matching(EntryQuery(owners=(owner_id,), start=start, end=end)), key=_newest_first):
            latest.setdefault(row["project_id"], row)
        return self._named(latest.values())

    def totals(self, query: EntryQuery, by: str, now: int) -> dict[str | None, int]:
        if by not in TOTALS_BY:
            raise ValueError(f"unknown grouping {by}")
        start = MIN_INSTANT if query.start is None else query.start
        end = now if query.end is None else min(query.end, now)
        projects = self._uow.tables.rows("project")
        sums: dict[str | None, int] = {}
        for row in self._matching(query):
            if by == "customer_id":
                project = projects.get(row["project_id"])
                if project is None:
                    continue  # as SQL's inner join of the project
                key = project["customer_id"]
            else:
                key = row[by]
            clipped = min(now if row["end_at"] is None else row["end_at"], end) - max(row["start_at"], start)
            sums[key] = sums.get(key, 0) + max(clipped, 0)
        return sums

    def references(self, project_id: str, activity_id: str) -> dict[str, Any]:
        tables = self._uow.tables
        project = tables.rows("project").get(project_id)
        customer_id = project["customer_id"] if project else None
        customer = tables.rows("customer").get(customer_id) if customer_id else None
        activity = tables.rows("activity").get(activity_id)
        return {
            "project_name": project["name"] if project else None,
            "project_status": project["status"] if project else None,
            "customer_id": customer_id,
            "project_billable": project["billable"] if project else None,
            "customer_name": customer["name"] if customer else None,
            "customer_status": customer["status"] if customer else None,
            "customer_billable": customer["billable"] if customer else None,
            "activity_name": activity["name"] if activity else None,
            "activity_status": activity["status"] if activity else None,
        }

    def add(self, fields: Mapping[str, Any], description: str | None = None) -> Record:
        values = dict(fields)
        values.setdefault("technologies", [])
        return self._insert(values, description)

    def add_unless_overlapping(self, fields: Mapping[str, Any], description: str | None = None) -> Record | None:
        return add_after_reading(self, fields, description)

    def update_unless_overlapping(
        self,
        entry_id: str,
        changes: Mapping[str, Any],
        current: Record,
        if_match: str | None = None,
        description: str | None = None,
    ) -> Record | None:
        return update_after_reading(self, entry_id, changes, current, if_match, description)

    def update(
        self,
        entry_id: str,
        changes: Mapping[str, Any],
        if_match: str | None = None,
        description: str | None = None,
        current: Record | None = None,
    ) -> Record:
        return self._write(entry_id, changes, if_match, UPDATE, description, current)

    def delete(self, entry_id: str, if_match: str | None = None, description: str | None = None) -> None:
        self._write(entry_id, {"deleted": str(uuid.uuid4())}, if_match, DELETE, description)
