"""The tables of the SQL engine: keyed by `(tenant_id, id)`, every index starts with
`tenant_id`; uniqueness of live names is a partial unique index on `name_key`, the name's key
as Python folds it (`cleaning.name_key`), written by the repository: SQL's `lower()` folds
ASCII letters only (SQLite always, PostgreSQL under the C locale)."""

from __future__ import annotations

import builtins
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    func,
)

from commons.data_access_layer.repository import (
    ACTIVITIES,
    CUSTOMERS,
    PROJECT_TYPES,
    PROJECTS,
    TECHNOLOGIES,
    CatalogueSpec,
)

metadata = MetaData()

_ID = 36
_TENANT = 64


def _common_columns() -> builtins.list[Column[Any]]:
    return [
        Column("tenant_id", String(_TENANT), primary_key=True),
        Column("id", String(_ID), primary_key=True),
        Column("etag", String(32), nullable=False),
        Column("last_event_ctx", JSON, nullable=False),
        Column("created_at", BigInteger, nullable=False),
        Column("updated_at", BigInteger, nullable=False),
    ]


def _live(table: Table, spec: CatalogueSpec) -> Any:
    if spec.soft_delete == "mark":
        return table.c.deleted.is_(None)
    return table.c.status == "active"


def _catalogue_table(spec: CatalogueSpec, *columns: Column[Any]) -> Table:
    marker = (
        Column("deleted", String(_ID), nullable=True)
        if spec.soft_delete == "mark"
        else Column("status", String(16), nullable=False, server_default="active")
    )
    table = Table(
        spec.container,
        metadata,
        *_common_columns(),
        Column("name", String(255), nullable=False),
        # `cleaning.name_key(name)`: up to twice the name's length ("İ".lower() is two code
        # points); NULL only for a live duplicate that migration 09 found and kept.
        Column("name_key", String(510), nullable=True),
        Column("description", Text, nullable=True),
        marker,
        *columns,
    )
    live = _live(table, spec)
    scope = [func.coalesce(table.c[f], "") for f in spec.unique_scope]
    Index(
        f"ux_{spec.container}_live_name_key",
        table.c.tenant_id,
        *scope,
        table.c.name_key,
        unique=True,
        sqlite_where=live,
        postgresql_where=live,
    )
    Index(f"ix_{spec.container}_tenant_name", table.c.tenant_id, table.c.name)
    return table


# billable: None follows the level above (a project its customer's; a customer means yes).
customer = _catalogue_table(CUSTOMERS, Column("billable", Boolean, nullable=True))
project_type = _catalogue_table(
    PROJECT_TYPES,
    Column("customer_id", String(_ID), nullable=True),
    Column("parent_id", String(_ID), nullable=True),
)
project = _catalogue_table(
    PROJECTS,
    Column("customer_id", String(_ID), nullable=True),
    Column("project_type_id", String(_ID), nullable=True),
    Column("technologies", JSON, nullable=False),
    Column("billable", Boolean, nullable=True),
)
Index("ix_project_tenant_customer", project.c.tenant_id, project.c.customer_id)
activity = _catalogue_table(ACTIVITIES)
technology = _catalogue_table(
    TECHNOLOGIES,
    Column("first_use_time_entry_id", String(_ID), nullable=True),
    Column("creation_date", String(40), nullable=True),
)

time_entry = Table(
    "time_entry",
    metadata,
    *_common_columns(),
    Column("owner_id", String(_ID), nullable=False),
    Column("project_id", String(_ID), nullable=False),
    Column("activity_id", String(_ID), nullable=False),
    Column("description", Text, nullable=True),
    Column("uri", Text, nullable=True),
    Column("technologies", JSON, nullable=False),
    Column("timezone_offset", Integer, nullable=True),
    Column("start_at", BigInteger, nullable=False),
    Column("end_at", BigInteger, nullable=True),
    Column("deleted", String(_ID), nullable=True),
    Column("billable", Boolean, nullable=True),
)
Index("ix_time_entry_owner_start", time_entry.c.tenant_id, time_entry.c.owner_id, time_entry.c.start_at)
Index("ix_time_entry_owner_end", time_entry.c.tenant_id, time_entry.c.owner_id, time_entry.c.end_at)
Index("ix_time_entry_tenant_end", time_entry.c.tenant_id, time_entry.c.end_at)
Index("ix_time_entry_tenant_project", time_entry.c.tenant_id, time_entry.c.project_id)
_running = time_entry.c.end_at.is_(None) & time_entry.c.deleted.is_(None)
# At most one running entry per owner, whatever the code above does.
Index(
    "ux_time_entry_running",
    time_entry.c.tenant_id,
    time_entry.c.owner_id,
    unique=True,
    sqlite_where=_running,
    postgresql_where=_running,
)

# The tenant's money settings (TT-16): one row per tenant, id "settings", the JSON whole.
money = Table("money", metadata, *_common_columns(), Column("settings", JSON, nullable=False))

app_user = Table(
    "app_user",
    metadata,
    Column("tenant_id", String(_TENANT), primary_key=True),
    Column("id", String(_ID), primary_key=True),
    Column("email", String(320), nullable=False),
    Column("name", String(255), nullable=True),
    Column("roles", JSON, nullable=True),
    Column("groups", JSON, nullable=True),
    Column("updated_at", BigInteger, nullable=False),
)

# The outbox: every write adds its document here in the same transaction; the events runner
# reads it in order (`cli.py events run`).
change_log = Table(
    "change_log",
    metadata,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("tenant_id", String(_TENANT), nullable=False),
    Column("container_id", String(64), nullable=False),
    Column("item_id", String(_ID), nullable=False),
    Column("document", JSON, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    # PostgreSQL: the writing transaction's id (see SqlChangeFeed); SQLite: 0.
    Column("txid", BigInteger, nullable=False, server_default="0"),
)
Index("ix_change_log_order", change_log.c.txid, change_log.c.seq)

event_log = Table(
    "event",
    metadata,
    Column("tenant_id", String(_TENANT), primary_key=True),
    Column("id", String(_ID), primary_key=True),
    Column("item_id", String(_ID), nullable=False),
    Column("container_id", String(64), nullable=False),
    Column("user_id", String(_ID), nullable=True),
    Column("action", String(16), nullable=False),
    Column("description", Text, nullable=True),
    Column("session_id", String(64), nullable=True),
    Column("date_at", BigInteger, nullable=False),
)
Index("ix_event_tenant_date", event_log.c.tenant_id, event_log.c.date_at, event_log.c.id)
Index("ix_event_tenant_item", event_log.c.tenant_id, event_log.c.item_id, event_log.c.date_at)

event_checkpoint = Table(
    "event_checkpoint",
    metadata,
    Column("name", String(255), primary_key=True),
    Column("position", BigInteger, nullable=False),
    Column("txid", BigInteger, nullable=False, server_default="0"),
    Column("updated_at", BigInteger, nullable=False),
)

migration = Table(
    "migration",
    metadata,
    Column("name", String(255), primary_key=True),
    Column("code", Text, nullable=False),
    Column("applied_at", BigInteger, nullable=False),
)

CATALOGUE_TABLES = {
    CUSTOMERS.container: customer,
    PROJECT_TYPES.container: project_type,
    PROJECTS.container: project,
    ACTIVITIES.container: activity,
    TECHNOLOGIES.container: technology,
}
_INTERNAL = ("etag", "last_event_ctx", "created_at", "updated_at", "name_key")
