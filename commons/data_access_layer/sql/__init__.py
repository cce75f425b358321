"""The SQL engine of the repository contract (SQLAlchemy 2 Core; SQLite and PostgreSQL).

Tables are keyed by `(tenant_id, id)` and every index starts with `tenant_id`. Uniqueness of
live names is a partial unique index, so a deactivated or deleted name can be reused. Writes run
in one transaction per unit of work; on SQLite a writing unit takes the database write lock at
its start (`BEGIN IMMEDIATE`), on PostgreSQL rows are locked (`FOR UPDATE`) or a per-owner
advisory lock is taken, so check-then-act sequences are atomic on both.

The modules, in the order they build on each other: `tables` (the schema), `engine` (an
engine per dialect, database errors as the contract's), `base` (rows to records, cached
statements, conditional writes), the repositories (`catalogue`, `time_entries`, `users`,
`money`, `integrations`, `webhooks`), `audit` (the outbox read as a change feed, the event
log), `unit_of_work` and `store`.
"""

from commons.data_access_layer.sql import integrations as _integrations  # noqa: F401 - its tables join `metadata`
from commons.data_access_layer.sql.audit import SqlChangeFeed, SqlEvents, event_record, insert_ignore
from commons.data_access_layer.sql.catalogue import SqlCatalogue
from commons.data_access_layer.sql.engine import CLIENT_GRACE_S, build_engine, sql_errors
from commons.data_access_layer.sql.money import SqlMoney
from commons.data_access_layer.sql.store import ALL_CATALOGUE_CONTAINERS, SqlStore
from commons.data_access_layer.sql.tables import (
    CATALOGUE_TABLES,
    activity,
    app_user,
    change_log,
    customer,
    event_checkpoint,
    event_log,
    metadata,
    migration,
    money,
    project,
    project_type,
    technology,
    time_entry,
)
from commons.data_access_layer.sql.time_entries import SqlTimeEntries
from commons.data_access_layer.sql.unit_of_work import SqlUnitOfWork
from commons.data_access_layer.sql.users import SqlUsers
from commons.domain.clock import now_ms

__all__ = [
    "ALL_CATALOGUE_CONTAINERS",
    "CATALOGUE_TABLES",
    "CLIENT_GRACE_S",
    "SqlCatalogue",
    "SqlChangeFeed",
    "SqlEvents",
    "SqlMoney",
    "SqlStore",
    "SqlTimeEntries",
    "SqlUnitOfWork",
    "SqlUsers",
    "activity",
    "app_user",
    "build_engine",
    "change_log",
    "customer",
    "event_checkpoint",
    "event_log",
    "event_record",
    "insert_ignore",
    "metadata",
    "migration",
    "money",
    "now_ms",
    "project",
    "project_type",
    "sql_errors",
    "technology",
    "time_entry",
]
