"""What the memory engine stores: per tenant, a table (id -> row) per container, and the
snapshot a unit of work reads and writes through.

A row is a plain dict: the entity's columns (every column present, None when unset, as a SQL
row), `tenant_id`, `id`, `_etag`, `_last_event_ctx`, `created_at`, `updated_at`. Published
rows and tables are never changed in place: a write puts a new row into the unit's own copy
of the table, and a successful unit publishes its copies at once. So a reader holding a
published snapshot sees one consistent state without any lock.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Mapping
from typing import Any

from commons.data_access_layer.repository import (
    ACTIVITIES,
    CUSTOMERS,
    PROJECT_TYPES,
    PROJECTS,
    TECHNOLOGIES,
    CatalogueSpec,
    Record,
)

Row = dict[str, Any]
#: id -> row of one container of one tenant.
Rows = dict[str, Row]
#: container -> rows: a tenant's published state (never changed in place once published).
Tables = Mapping[str, Rows]

#: Server-owned keys a record leaves out (as the SQL engine's `_INTERNAL`).
INTERNAL = ("_last_event_ctx", "created_at", "updated_at")


def _catalogue_columns(spec: CatalogueSpec, *extra: str) -> tuple[str, ...]:
    marker = "deleted" if spec.soft_delete == "mark" else "status"
    return ("name", "description", marker, *extra)


#: The columns of each container beyond the common ones (the SQL engine's tables).
COLUMNS: dict[str, tuple[str, ...]] = {
    CUSTOMERS.container: _catalogue_columns(CUSTOMERS, "billable"),
    PROJECT_TYPES.container: _catalogue_columns(PROJECT_TYPES, "customer_id", "parent_id"),
    PROJECTS.container: _catalogue_columns(PROJECTS, "customer_id", "project_type_id", "technologies", "billable"),
    ACTIVITIES.container: _catalogue_columns(ACTIVITIES),
    TECHNOLOGIES.container: _catalogue_columns(TECHNOLOGIES, "first_use_time_entry_id", "creation_date"),
    "time_entry": (
        "owner_id",
        "project_id",
        "activity_id",
        "description",
        "uri",
        "technologies",
        "timezone_offset",
        "start_at",
        "end_at",
        "deleted",
        "billable",
    ),
    "money": ("settings",),
    "access_token": (
        "owner_id",
        "owner_email",
        "name",
        "digest",
        "hint",
        "read_only",
        "expires_at",
        "last_used_at",
        "revoked_at",
    ),
    "app_user": ("email", "name", "roles", "groups"),
}


def new_etag() -> str:
    return uuid.uuid4().hex


def clone(data: Mapping[str, Any]) -> Row:
    """A copy whose nested lists and dicts are copies too: neither a caller's later change
    of what it passed nor of what it was answered reaches the stored row."""
    return {k: copy.deepcopy(v) if isinstance(v, (list, dict)) else v for k, v in data.items()}


def check_columns(container: str, fields: Mapping[str, Any], *, keys: bool = True) -> None:
    """A field the container does not have is a bug of the caller (SQL refuses it too), and
    so is a change of the keys (`keys=False`: a write of an existing row)."""
    allowed = set(COLUMNS[container]) | ({"tenant_id", "id"} if keys else set())
    unknown = set(fields) - allowed
    if unknown:
        raise ValueError(f"{container} has no field {', '.join(sorted(unknown))} to write")


def as_record(data: Mapping[str, Any], marker: bool) -> Record:
    """The contract's record of a row (or of what a write answers): server-owned keys out,
    `deleted` only where the container soft-deletes by a marker."""
    record = {k: v for k, v in data.items() if k not in INTERNAL}
    record["deleted"] = data.get("deleted") if marker else None
    return clone(record)


class Snapshot:
    """The tables one unit of work sees: the published state it started from, and its own
    copies of the tables it has written (copied on the first write, published on success)."""

    def __init__(self, base: Tables) -> None:
        self.base = base
        self.changed: dict[str, Rows] = {}

    def rows(self, container: str) -> Mapping[str, Row]:
        if container in self.changed:
            return self.changed[container]
        return self.base.get(container, {})

    def writable(self, container: str) -> Rows:
        if container not in self.changed:
            self.changed[container] = dict(self.base.get(container, {}))
        return self.changed[container]

    def published(self) -> dict[str, Rows]:
        """The tenant's state once this unit's writes are applied."""
        return {**self.base, **self.changed}
