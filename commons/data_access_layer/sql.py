"""The SQL engine of the repository contract (SQLAlchemy 2 Core; SQLite and PostgreSQL).

Tables are keyed by `(tenant_id, id)` and every index starts with `tenant_id`. Uniqueness of
live names is a partial unique index, so a deactivated or deleted name can be reused. Writes run
in one transaction per unit of work; on SQLite a writing unit takes the database write lock at
its start (`BEGIN IMMEDIATE`), on PostgreSQL rows are locked (`FOR UPDATE`) or a per-owner
advisory lock is taken, so check-then-act sequences are atomic on both.
"""

from __future__ import annotations

import base64
import binascii
import builtins
import threading
import time
import uuid
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import orjson
from filelock import FileLock
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
    and_,
    bindparam,
    create_engine,
    event,
    func,
    literal_column,
    or_,
    select,
    text,
    union_all,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, OperationalError
from sqlalchemy.pool import StaticPool

from commons.data_access_layer.events import CREATE, DELETE, UPDATE, Actor, event_context
from commons.data_access_layer.repository import (
    ACTIVITIES,
    CATALOGUES,
    CUSTOMERS,
    PROJECT_TYPES,
    PROJECTS,
    TECHNOLOGIES,
    CatalogueSpec,
    ChangeQuery,
    Conflict,
    Contended,
    EntryQuery,
    EventQuery,
    Invalid,
    NotFound,
    PreconditionFailed,
    Record,
    Unavailable,
)
from commons.domain.clock import MAX_ENTRY_MS, MIN_INSTANT, OPEN_END

metadata = MetaData()

_ID = 36
_TENANT = 64


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def _new_etag() -> str:
    return uuid.uuid4().hex


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
        Column("description", Text, nullable=True),
        marker,
        *columns,
    )
    live = _live(table, spec)
    scope = [func.coalesce(table.c[f], "") for f in spec.unique_scope]
    Index(
        f"ux_{spec.container}_live_name",
        table.c.tenant_id,
        *scope,
        func.lower(table.c.name),
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
_INTERNAL = ("etag", "last_event_ctx", "created_at", "updated_at")


def _record(row: Any, marker: bool) -> Record:
    return _record_from(row._mapping, marker)


def _records(result: Any, marker: bool) -> builtins.list[Record]:
    """Every row of `result` as a record: the names worked out once for the result, then one
    `dict(zip())` a row (a list of 200 entries spent a third of its time in per-row
    mapping views and pops, TT-17)."""
    keys = ["_etag" if key == "etag" else key for key in result.keys()]  # noqa: SIM118 - a Result, not a dict
    hidden = [key for key in keys if key in _INTERNAL[1:]]
    if "deleted" not in keys or not marker:
        hidden.append("deleted")
    records = [dict(zip(keys, row, strict=True)) for row in result.fetchall()]
    if hidden:
        for data in records:
            for key in hidden:
                data.pop(key, None)
            if "deleted" in hidden:
                data["deleted"] = None
    return records


def _record_from(mapping: Mapping[str, Any], marker: bool) -> Record:
    data = dict(mapping)
    data["_etag"] = data.pop("etag")
    for key in _INTERNAL[1:]:
        data.pop(key, None)
    data["deleted"] = data.get("deleted") if marker else None
    return data


_STATEMENTS: dict[tuple[Any, ...], Any] = {}


def _statement(key: tuple[Any, ...], build: Any) -> Any:
    """Statements are built once per shape with bound parameters: building a SQLAlchemy
    statement costs several times more than executing a cached one."""
    stmt = _STATEMENTS.get(key)
    if stmt is None:
        stmt = _STATEMENTS[key] = build()
    return stmt


def _visible_clause(table: Table, marker: bool) -> builtins.list[Any]:
    clauses = [table.c.tenant_id == bindparam("tenant")]
    if marker:
        clauses.append(table.c.deleted.is_(None))
    return clauses


class _SqlRepository:
    """Tenant confinement, soft-delete visibility and conditional (ETag) writes for one table."""

    label = "Item"
    container = ""
    marker = True  # soft delete by a `deleted` marker (else by status)

    def __init__(self, uow: SqlUnitOfWork, table: Table) -> None:
        self._uow = uow
        self._table = table

    @property
    def _tenant(self) -> str:
        return self._uow.actor.tenant_id

    def _load(self, item_id: str, *, lock: bool = False) -> Any:
        t = self._table

        def build() -> Any:
            stmt = select(t).where(*_visible_clause(t, self.marker), t.c.id == bindparam("id"))
            return stmt.with_for_update() if lock else stmt

        stmt = _statement(("load", t.name, lock), build)
        row = self._uow.conn.execute(stmt, {"tenant": self._tenant, "id": item_id}).first()
        if row is None:
            raise NotFound(f"{self.label} not found")
        return row

    def get(self, item_id: str) -> Record:
        return _record(self._load(item_id), self.marker)

    def _insert(self, fields: Mapping[str, Any], description: str | None = None, item_id: str | None = None) -> Record:
        now = now_ms()
        values = dict(fields)
        values.update(
            tenant_id=self._tenant,
            id=item_id or str(uuid.uuid4()),
            etag=_new_etag(),
            created_at=now,
            updated_at=now,
            last_event_ctx=event_context(self._uow.actor, self.container, CREATE, now, description),
        )
        if self._uow.conn.dialect.name == "postgresql":
            # One round trip: the row and its outbox entry in one statement.
            stmt, params = self._uow.insert_logged(self._table, self.container, values)
            self._uow.execute_write(stmt, self.label, params)
        else:
            stmt = _statement(("insert", self._table.name), self._table.insert)
            self._uow.execute_write(stmt, self.label, values)
            self._uow.log_change(self.container, values)
        return _record_from(values, self.marker)

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
        row = self._load(item_id, lock=True)._mapping if current is None else {**current, "etag": current["_etag"]}
        if if_match is not None and if_match != row["etag"]:
            raise PreconditionFailed(f"{self.label} was changed by someone else (ETag mismatch); reload it and retry")
        now = now_ms()
        values = dict(changes)
        values.update(
            etag=_new_etag(),
            updated_at=now,
            last_event_ctx=event_context(self._uow.actor, self.container, action, now, description),
        )
        t = self._table
        stmt = _statement(
            ("update", t.name),
            lambda: t.update().where(
                t.c.tenant_id == bindparam("w_tenant"), t.c.id == bindparam("w_id"), t.c.etag == bindparam("w_etag")
            ),
        )
        params = {**values, "w_tenant": self._tenant, "w_id": item_id, "w_etag": row["etag"]}
        if self._uow.execute_write(stmt, self.label, params).rowcount != 1:
            raise PreconditionFailed(f"{self.label} was changed by someone else; reload it and retry")
        written = {**row, **values}
        self._uow.log_change(self.container, written)
        return _record_from(written, self.marker)


class SqlCatalogue(_SqlRepository):
    """One catalogue container of one tenant, inside a unit of work."""

    def __init__(self, uow: SqlUnitOfWork, spec: CatalogueSpec) -> None:
        super().__init__(uow, CATALOGUE_TABLES[spec.container])
        self.spec = spec
        self.label = spec.label
        self.container = spec.container
        self.marker = spec.soft_delete == "mark"

    def lock(self) -> None:
        if self._uow.conn.dialect.name == "postgresql":
            stmt = _statement(
                ("lock",), lambda: select(func.pg_advisory_xact_lock(func.hashtextextended(bindparam("key"), 0)))
            )
            self._uow.conn.execute(stmt, {"key": f"{self.container}:{self._tenant}"})
        # SQLite: a writing unit of work holds the database write lock from its first statement.

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
        return self._insert(values)

    def update(self, item_id: str, changes: Mapping[str, Any], if_match: str | None = None) -> Record:
        return self._write(item_id, changes, if_match, UPDATE)

    def changes(self, query: ChangeQuery) -> builtins.list[Record]:
        from commons.data_access_layer.sql_integrations import catalogue_changes

        return catalogue_changes(self, query)

    def delete(self, item_id: str, if_match: str | None = None) -> None:
        marker = {"deleted": str(uuid.uuid4())} if self.marker else {"status": "inactive"}
        self._write(item_id, marker, if_match, DELETE)


def _named_entries() -> tuple[Any, builtins.list[Any]]:
    """time_entry joined to the names clients show with it (one statement for any page)."""
    te = time_entry
    source = (
        te.outerjoin(project, and_(project.c.tenant_id == te.c.tenant_id, project.c.id == te.c.project_id))
        .outerjoin(customer, and_(customer.c.tenant_id == te.c.tenant_id, customer.c.id == project.c.customer_id))
        .outerjoin(activity, and_(activity.c.tenant_id == te.c.tenant_id, activity.c.id == te.c.activity_id))
        .outerjoin(app_user, and_(app_user.c.tenant_id == te.c.tenant_id, app_user.c.id == te.c.owner_id))
    )
    columns = [
        *(c for c in te.c if c.name not in _INTERNAL[1:]),
        project.c.name.label("project_name"),
        project.c.customer_id.label("customer_id"),
        customer.c.name.label("customer_name"),
        activity.c.name.label("activity_name"),
        app_user.c.email.label("owner_email"),
    ]
    return source, columns


_NAMED_SOURCE, _NAMED_COLUMNS = _named_entries()


def _query_shape(query: EntryQuery) -> tuple[Any, ...]:
    owners = None if query.owners is None else ("one" if len(query.owners) == 1 else "many")
    window = query.start is not None or query.end is not None
    return (owners, query.project_ids is not None, bool(query.activity_id), bool(query.uri), window)


def _query_params(query: EntryQuery, tenant: str) -> dict[str, Any]:
    params: dict[str, Any] = {"tenant": tenant}
    if query.owners is not None:
        params["owners" if len(query.owners) != 1 else "owner"] = (
            list(query.owners) if len(query.owners) != 1 else query.owners[0]
        )
    if query.project_ids is not None:
        params["projects"] = list(query.project_ids)
    if query.activity_id:
        params["activity"] = query.activity_id
    if query.uri:
        params["uri"] = query.uri
    if query.start is not None or query.end is not None:
        start = MIN_INSTANT if query.start is None else query.start
        end = OPEN_END if query.end is None else query.end
        params.update(start=start, end=end, end_limit=min(end, OPEN_END) + MAX_ENTRY_MS)
    return params


def _entry_where(shape: tuple[Any, ...]) -> builtins.list[Any]:
    """The WHERE clauses of a query shape, with bound parameters (see `_query_params`)."""
    t = time_entry
    owners, projects, activity_filter, uri_filter, window = shape
    clauses = _visible_clause(t, True)
    if owners == "one":
        clauses.append(t.c.owner_id == bindparam("owner"))
    elif owners == "many":
        clauses.append(t.c.owner_id.in_(bindparam("owners", expanding=True)))
    if projects:
        clauses.append(t.c.project_id.in_(bindparam("projects", expanding=True)))
    if activity_filter:
        clauses.append(t.c.activity_id == bindparam("activity"))
    if uri_filter:
        clauses.append(t.c.uri == bindparam("uri"))
    if not window:
        return clauses
    # Entries overlapping [start, end): stopped ones end inside the window or, since they
    # last at most MAX_ENTRY_MS, at most that much after it: a bounded range of the end_at
    # index, so the cost follows the window (for the current month exactly it), not the
    # history. Running ones come from their own branch. Two selects in a UNION keep each
    # branch on its index whatever the planner's statistics ("+ 0" keeps the start_at index
    # out of the running branch).
    start: Any = bindparam("start")
    end: Any = bindparam("end")
    stopped = select(t.c.id).where(
        *clauses, t.c.end_at > start, t.c.end_at <= bindparam("end_limit"), t.c.start_at < end
    )
    running = select(t.c.id).where(*clauses, t.c.end_at.is_(None), t.c.start_at + 0 < end)
    return [t.c.tenant_id == bindparam("tenant"), t.c.id.in_(union_all(stopped, running))]


class SqlTimeEntries(_SqlRepository):
    """Time entries of one tenant. Rules live in the service; this makes them atomic.

    Reads answer entries joined with `project_name`, `customer_id`, `customer_name`,
    `activity_name` and `owner_email`.
    """

    label = "Time entry"
    container = "time_entry"

    def __init__(self, uow: SqlUnitOfWork) -> None:
        super().__init__(uow, time_entry)

    def lock_owner(self, owner_id: str) -> None:
        if self._uow.conn.dialect.name == "postgresql":
            stmt = _statement(
                ("lock",), lambda: select(func.pg_advisory_xact_lock(func.hashtextextended(bindparam("key"), 0)))
            )
            self._uow.conn.execute(stmt, {"key": f"time_entry:{self._tenant}:{owner_id}"})
        # SQLite: a writing unit of work holds the database write lock from its first statement.

    def _named(self, key: str, build_where: Any, params: dict[str, Any]) -> builtins.list[Record]:
        def build() -> Any:
            return select(*_NAMED_COLUMNS).select_from(_NAMED_SOURCE).where(*build_where())

        rows = self._uow.conn.execute(_statement(("named", key), build), {"tenant": self._tenant, **params})
        return _records(rows, True)

    def get(self, entry_id: str) -> Record:
        t = self._table
        found = self._named("by_id", lambda: [*_visible_clause(t, True), t.c.id == bindparam("id")], {"id": entry_id})
        if not found:
            raise NotFound("Time entry not found")
        return found[0]

    def running(self, owner_id: str) -> Record | None:
        t = self._table

        def where() -> builtins.list[Any]:
            return [*_visible_clause(t, True), t.c.owner_id == bindparam("owner"), t.c.end_at.is_(None)]

        found = self._named("running", where, {"owner": owner_id})
        return found[0] if found else None

    def overlapping(
        self, owner_id: str, start: int, end: int | None, exclude_id: str | None = None
    ) -> builtins.list[Record]:
        t = self._table
        query = EntryQuery(owners=(owner_id,), start=start, end=OPEN_END if end is None else end)
        shape = _query_shape(query)
        stmt = _statement(
            ("overlapping", shape), lambda: select(t).where(*_entry_where(shape), t.c.id != bindparam("exclude"))
        )
        rows = self._uow.conn.execute(stmt, {**_query_params(query, self._tenant), "exclude": exclude_id or ""})
        return _records(rows, True)

    def list(self, query: EntryQuery) -> builtins.list[Record]:
        t = self._table
        shape = _query_shape(query)
        paged = (query.limit is not None, bool(query.offset))

        def build() -> Any:
            stmt = (
                select(*_NAMED_COLUMNS)
                .select_from(_NAMED_SOURCE)
                .where(*_entry_where(shape))
                .order_by(t.c.start_at.desc(), t.c.id)
            )
            if paged[0]:
                stmt = stmt.limit(bindparam("limit", type_=Integer, literal_execute=True))
            if paged[1]:
                stmt = stmt.offset(bindparam("offset", type_=Integer, literal_execute=True))
            return stmt

        params = _query_params(query, self._tenant)
        params.update(limit=query.limit, offset=query.offset)
        rows = self._uow.conn.execute(_statement(("list", shape, paged), build), params)
        return _records(rows, True)

    def page(self, query: EntryQuery, size: int, continuation: str | None) -> tuple[builtins.list[Record], str | None]:
        """One page of `size` entries and the token of the next (an offset, on SQL)."""
        offset = 0
        if continuation:
            try:
                offset = int(base64.urlsafe_b64decode(continuation.encode()).decode())
            except (ValueError, binascii.Error):
                raise Invalid("continuation is not a token this API gave") from None
            if not 0 <= offset <= 10_000_000:
                raise Invalid("continuation is not a token this API gave")
        found = self.list(replace(query, limit=size + 1, offset=offset))
        token = base64.urlsafe_b64encode(str(offset + size).encode()).decode() if len(found) > size else None
        return found[:size], token

    def spans(self, query: EntryQuery) -> builtins.list[tuple[int, int | None]]:
        t = self._table
        shape = _query_shape(query)
        stmt = _statement(("spans", shape), lambda: select(t.c.start_at, t.c.end_at).where(*_entry_where(shape)))
        return [(row[0], row[1]) for row in self._uow.conn.execute(stmt, _query_params(query, self._tenant)).fetchall()]

    def count(self, query: EntryQuery) -> int:
        shape = _query_shape(query)
        stmt = _statement(
            ("count", shape), lambda: select(func.count()).select_from(self._table).where(*_entry_where(shape))
        )
        return int(self._uow.conn.execute(stmt, _query_params(query, self._tenant)).scalar_one())

    def changes(self, query: ChangeQuery) -> builtins.list[Record]:
        from commons.data_access_layer.sql_integrations import time_entry_changes

        return time_entry_changes(self, query)

    def latest_per_project(self, owner_id: str, start: int, end: int) -> builtins.list[Record]:
        t = self._table
        query = EntryQuery(owners=(owner_id,), start=start, end=end)
        shape = _query_shape(query)

        def where() -> builtins.list[Any]:
            rank = func.row_number().over(partition_by=t.c.project_id, order_by=(t.c.start_at.desc(), t.c.id))
            ranked = select(t.c.id, rank.label("rank")).where(*_entry_where(shape)).subquery()
            return [t.c.tenant_id == bindparam("tenant"), t.c.id.in_(select(ranked.c.id).where(ranked.c.rank == 1))]

        found = self._named("latest", where, _query_params(query, self._tenant))
        return sorted(found, key=lambda e: (-e["start_at"], e["id"]))

    def totals(self, query: EntryQuery, by: str, now: int) -> dict[str | None, int]:
        t = self._table
        start = MIN_INSTANT if query.start is None else query.start
        end = now if query.end is None else min(query.end, now)
        least, greatest = (
            (func.least, func.greatest) if self._uow.conn.dialect.name == "postgresql" else (func.min, func.max)
        )
        clipped = least(func.coalesce(t.c.end_at, now), end) - greatest(t.c.start_at, start)
        if by == "customer_id":
            key = project.c.customer_id
            source = t.join(project, and_(project.c.tenant_id == t.c.tenant_id, project.c.id == t.c.project_id))
        else:
            key, source = t.c[by], t  # type: ignore[assignment]
        stmt = (
            select(key.label("key"), func.sum(greatest(clipped, 0)).label("ms"))
            .select_from(source)
            .where(*_entry_where(_query_shape(query)))
            .group_by(key)
        )
        rows = self._uow.conn.execute(stmt, _query_params(query, self._tenant))
        return {row.key: int(row.ms or 0) for row in rows}

    def references(self, project_id: str, activity_id: str) -> dict[str, Any]:
        def build() -> Any:
            tenant: Any = bindparam("tenant")
            p = project.alias("p")
            a = activity.alias("a")

            def of_project(column: Any) -> Any:
                return select(column).where(p.c.tenant_id == tenant, p.c.id == bindparam("project")).scalar_subquery()

            def of_activity(column: Any) -> Any:
                return select(column).where(a.c.tenant_id == tenant, a.c.id == bindparam("activity")).scalar_subquery()

            def of_customer(column: Any) -> Any:
                return (
                    select(column)
                    .where(customer.c.tenant_id == tenant, customer.c.id == of_project(p.c.customer_id))
                    .scalar_subquery()
                )

            return select(
                of_project(p.c.name).label("project_name"),
                of_project(p.c.status).label("project_status"),
                of_project(p.c.customer_id).label("customer_id"),
                of_project(p.c.billable).label("project_billable"),
                of_customer(customer.c.name).label("customer_name"),
                of_customer(customer.c.status).label("customer_status"),
                of_customer(customer.c.billable).label("customer_billable"),
                of_activity(a.c.name).label("activity_name"),
                of_activity(a.c.status).label("activity_status"),
            )

        params = {"tenant": self._tenant, "project": project_id, "activity": activity_id}
        row = self._uow.conn.execute(_statement(("references",), build), params).one()
        return dict(row._mapping)

    def add(self, fields: Mapping[str, Any], description: str | None = None) -> Record:
        values = dict(fields)
        values.setdefault("technologies", [])
        return self._insert(values, description)

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


class SqlMoney(_SqlRepository):
    """The tenant's money settings: one row, written whole with its ETag checked."""

    label = "Money settings"
    container = "money"
    marker = False
    ID = "settings"

    def __init__(self, uow: SqlUnitOfWork) -> None:
        super().__init__(uow, money)

    def get(self) -> Record | None:  # type: ignore[override]  # one record: no id to ask for
        try:
            return _record(self._load(self.ID), False)
        except NotFound:
            return None

    def put(self, settings: Mapping[str, Any], if_match: str | None, description: str | None = None) -> Record:
        # `if_match` is the version this unit read: a writer that got there first makes this
        # one decide again (a second creator fails on the primary key, never overwrites).
        try:
            if if_match is None:
                return self._insert({"settings": dict(settings)}, description, self.ID)
            return self._write(self.ID, {"settings": dict(settings)}, if_match, UPDATE, description)
        except (Conflict, PreconditionFailed):
            raise Contended("The money settings were changed at the same time; try again") from None


class SqlUsers:
    """The e-mail and name each caller last presented (for `owner_email`)."""

    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow

    def remember(self, actor: Actor) -> None:
        memo = (actor.tenant_id, actor.user_id, actor.email, actor.name)
        if not actor.email or memo in self._uow.remembered:
            return
        dialect = self._uow.conn.dialect.name
        insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
        values = {
            "tenant_id": actor.tenant_id,
            "id": actor.user_id,
            "email": actor.email,
            "name": actor.name,
            "updated_at": now_ms(),
        }
        stmt = insert(app_user).values(**values)
        stmt = stmt.on_conflict_do_update(
            index_elements=[app_user.c.tenant_id, app_user.c.id],
            set_={"email": values["email"], "name": values["name"], "updated_at": values["updated_at"]},
            where=or_(app_user.c.email != values["email"], app_user.c.name.is_distinct_from(values["name"])),
        )
        self._uow.conn.execute(stmt)
        self._uow.remembered.add(memo)

    def emails(self, user_ids: Collection[str]) -> dict[str, str]:
        wanted = sorted({u for u in user_ids if u})
        if not wanted:
            return {}
        stmt = select(app_user.c.id, app_user.c.email).where(
            app_user.c.tenant_id == self._uow.actor.tenant_id, app_user.c.id.in_(wanted)
        )
        return {row.id: row.email for row in self._uow.conn.execute(stmt)}

    @staticmethod
    def _user(row: Any) -> Record:
        return {
            "id": row.id,
            "tenant_id": row.tenant_id,
            "email": row.email or None,
            "name": row.name,
            "roles": list(row.roles or []),
            "groups": list(row.groups or []),
        }

    def get(self, user_id: str) -> Record:
        u = app_user
        row = self._uow.conn.execute(
            select(u).where(u.c.tenant_id == self._uow.actor.tenant_id, u.c.id == user_id)
        ).first()
        if row is None:
            raise NotFound("User not found")
        return self._user(row)

    def list(self) -> builtins.list[Record]:
        u = app_user
        rows = self._uow.conn.execute(
            select(u).where(u.c.tenant_id == self._uow.actor.tenant_id).order_by(u.c.name, u.c.id)
        )
        return [self._user(row) for row in rows]

    def change(
        self,
        user_id: str,
        mutate: Callable[[builtins.list[str], builtins.list[str]], tuple[builtins.list[str], builtins.list[str]]],
        create: bool = False,
    ) -> Record:
        """Apply `mutate(roles, groups)` atomically (the row is locked; SQLite writers are serial)."""
        u = app_user
        tenant = self._uow.actor.tenant_id
        row = self._uow.conn.execute(
            select(u).where(u.c.tenant_id == tenant, u.c.id == user_id).with_for_update()
        ).first()
        if row is None:
            if not create:
                raise NotFound("User not found")
            self._uow.conn.execute(
                insert_ignore(self._uow.conn, app_user, ["tenant_id", "id"]),
                {
                    "tenant_id": tenant,
                    "id": user_id,
                    "email": "",
                    "name": None,
                    "roles": [],
                    "groups": [],
                    "updated_at": now_ms(),
                },
            )
            return self.change(user_id, mutate)
        roles, groups = mutate(list(row.roles or []), list(row.groups or []))
        self._uow.conn.execute(
            u.update()
            .where(u.c.tenant_id == tenant, u.c.id == user_id)
            .values(roles=roles, groups=groups, updated_at=now_ms())
        )
        return self.get(user_id)


def insert_ignore(conn: Connection, table: Table, keys: builtins.list[str]) -> Any:
    insert = postgresql_insert if conn.dialect.name == "postgresql" else sqlite_insert
    return insert(table).on_conflict_do_nothing(index_elements=[table.c[k] for k in keys])


def _encode_cursor(date_at: int, event_id: str) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([date_at, event_id])).decode()


def _decode_cursor(token: str) -> tuple[int, str]:
    try:
        date_at, event_id = orjson.loads(base64.urlsafe_b64decode(token.encode()))
    except (ValueError, TypeError, binascii.Error):
        raise Invalid("continuation is not a token this API gave") from None
    # Only what _encode_cursor writes: an instant in range and an id.
    if not (isinstance(date_at, int) and abs(date_at) < 2**62 and isinstance(event_id, str) and len(event_id) <= _ID):
        raise Invalid("continuation is not a token this API gave")
    return date_at, event_id


def event_record(row: Mapping[str, Any]) -> Record:
    from commons.domain.clock import format_instant

    data = {
        k: row[k]
        for k in ("id", "tenant_id", "item_id", "container_id", "user_id", "action", "description", "session_id")
    }
    data["date"] = format_instant(row["date_at"])
    return data


class SqlEvents:
    """The audit log of one tenant: keyset pages, newest first (cost follows the page)."""

    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow

    def list(self, query: EventQuery) -> tuple[builtins.list[Record], str | None]:
        e = event_log
        stmt = select(e).where(e.c.tenant_id == self._uow.actor.tenant_id)
        for column, value in (
            ("item_id", query.item_id),
            ("container_id", query.container_id),
            ("user_id", query.user_id),
            ("action", query.action),
        ):
            if value:
                stmt = stmt.where(e.c[column] == value)
        if query.start is not None:
            stmt = stmt.where(e.c.date_at >= query.start)
        if query.end is not None:
            stmt = stmt.where(e.c.date_at < query.end)
        if query.continuation:
            date_at, event_id = _decode_cursor(query.continuation)
            stmt = stmt.where(or_(e.c.date_at < date_at, and_(e.c.date_at == date_at, e.c.id < event_id)))
        stmt = stmt.order_by(e.c.date_at.desc(), e.c.id.desc()).limit(query.limit + 1)
        rows = [dict(r._mapping) for r in self._uow.conn.execute(stmt)]
        token = (
            _encode_cursor(rows[query.limit - 1]["date_at"], rows[query.limit - 1]["id"])
            if len(rows) > query.limit
            else None
        )
        return [event_record(r) for r in rows[: query.limit]], token


class SqlChangeFeed:
    """The outbox read in order from a named checkpoint, never skipping a write in flight.

    SQLite serialises writers, so sequence order is commit order. On PostgreSQL sequence
    numbers are taken in one order and committed in another, so the feed is ordered by
    (transaction id, sequence) and only rows of transactions older than the oldest one still
    running (`pg_snapshot_xmin`) are read: that set never grows behind the checkpoint.
    """

    def __init__(self, store: SqlStore, name: str) -> None:
        self.store = store
        self.name = name

    def position(self) -> tuple[int, int]:
        c = event_checkpoint
        with sql_errors(), self.store.engine.connect() as conn:
            row = conn.execute(select(c.c.txid, c.c.position).where(c.c.name == self.name)).first()
        return (int(row.txid), int(row.position)) if row else (0, 0)

    def read(self, limit: int) -> tuple[builtins.list[tuple[str, dict[str, Any]]], tuple[int, int]]:
        txid, seq = self.position()
        c = change_log
        stmt = select(c).where(or_(c.c.txid > txid, and_(c.c.txid == txid, c.c.seq > seq)))
        if self.store.engine_name == "postgresql":
            stmt = stmt.where(c.c.txid < literal_column("pg_snapshot_xmin(pg_current_snapshot())::text::bigint"))
        stmt = stmt.order_by(c.c.txid, c.c.seq).limit(limit)
        with sql_errors(), self.store.engine.connect() as conn:
            rows = conn.execute(stmt).fetchall()
        batch = [(row.container_id, dict(row.document)) for row in rows]
        return batch, (rows[-1].txid, rows[-1].seq) if rows else (txid, seq)

    def commit(self, position: tuple[int, int]) -> None:
        txid, seq = position
        values = {"name": self.name, "position": seq, "txid": txid, "updated_at": now_ms()}
        insert = postgresql_insert if self.store.engine_name == "postgresql" else sqlite_insert
        stmt = insert(event_checkpoint).values(**values)
        stmt = stmt.on_conflict_do_update(
            index_elements=[event_checkpoint.c.name], set_={k: values[k] for k in ("position", "txid", "updated_at")}
        )
        with sql_errors(), self.store.engine.begin() as conn:
            conn.execute(stmt)


class SqlUnitOfWork:
    """The repositories of one actor over one connection and transaction."""

    def __init__(self, conn: Connection, actor: Actor, remembered: set[tuple[Any, ...]]) -> None:
        self.conn = conn
        self.actor = actor
        #: Callers whose e-mail this process already stored (shared by the store's units).
        self.remembered = remembered
        self.customers = SqlCatalogue(self, CUSTOMERS)
        self.project_types = SqlCatalogue(self, PROJECT_TYPES)
        self.projects = SqlCatalogue(self, PROJECTS)
        self.activities = SqlCatalogue(self, ACTIVITIES)
        self.technologies = SqlCatalogue(self, TECHNOLOGIES)
        self.time_entries = SqlTimeEntries(self)
        self.users = SqlUsers(self)
        self.events = SqlEvents(self)
        self._access_tokens: Any = None
        self.money = SqlMoney(self)
        self._by_container = {
            c.spec.container: c
            for c in (self.customers, self.project_types, self.projects, self.activities, self.technologies)
        }

    def catalogue(self, spec: CatalogueSpec) -> SqlCatalogue:
        return self._by_container[spec.container]

    @property
    def access_tokens(self) -> Any:
        """Personal access tokens (sql_integrations.py), made on first use: most units never
        touch them."""
        if self._access_tokens is None:
            from commons.data_access_layer.sql_integrations import SqlAccessTokens

            self._access_tokens = SqlAccessTokens(self)
        return self._access_tokens

    @staticmethod
    def _change(container: str, row: Mapping[str, Any]) -> dict[str, Any]:
        """The outbox row of a write: the document as a change feed delivers it."""
        document = {
            k: v for k, v in row.items() if k not in ("etag", "_etag", "created_at", "updated_at", "last_event_ctx")
        }
        document["_last_event_ctx"] = row["last_event_ctx"]
        document["_etag"] = row.get("etag") or row.get("_etag")
        return {
            "tenant_id": row["tenant_id"],
            "container_id": container,
            "item_id": row["id"],
            "document": document,
            "created_at": now_ms(),
        }

    def insert_logged(self, table: Table, container: str, values: Mapping[str, Any]) -> tuple[Any, dict[str, Any]]:
        """PostgreSQL: INSERT the row in a data-modifying CTE of the outbox INSERT."""
        keys = tuple(sorted(values))

        def build() -> Any:
            written = (
                table.insert().values({k: bindparam(f"v_{k}", type_=table.c[k].type) for k in keys}).cte("written")
            )
            log = change_log.insert().values(
                tenant_id=bindparam("log_tenant_id"),
                container_id=bindparam("log_container_id"),
                item_id=bindparam("log_item_id"),
                document=bindparam("log_document", type_=JSON),
                created_at=bindparam("log_created_at"),
                txid=literal_column("pg_current_xact_id()::text::bigint"),
            )
            return log.add_cte(written)

        params = {f"v_{k}": values[k] for k in keys}
        params.update({f"log_{k}": v for k, v in self._change(container, values).items()})
        return _statement(("insert_logged", table.name, keys), build), params

    def log_change(self, container: str, row: Mapping[str, Any]) -> None:
        """The written document into the outbox (on PostgreSQL with the writing transaction's
        id, which orders the feed: see SqlChangeFeed)."""
        if self.conn.dialect.name == "postgresql":
            stmt = _statement(
                ("insert", "change_log", "txid"),
                lambda: change_log.insert().values(txid=literal_column("pg_current_xact_id()::text::bigint")),
            )
        else:
            stmt = _statement(("insert", "change_log"), change_log.insert)
        self.conn.execute(stmt, self._change(container, row))

    def execute_write(self, stmt: Any, label: str, params: Mapping[str, Any] | None = None) -> Any:
        # No savepoint: a rejected row aborts the whole unit of work, which is what we want.
        try:
            return self.conn.execute(stmt, params)
        except IntegrityError as exc:
            if not _is_unique_violation(exc):
                raise
            if label == SqlTimeEntries.label:
                raise Conflict("You already have a running time entry; stop it first") from None
            raise Conflict(f"{label} with that name already exists") from None


def _is_unique_violation(exc: IntegrityError) -> bool:
    code = getattr(exc.orig, "sqlstate", None)
    if code is not None:
        return bool(code == "23505")
    return "UNIQUE constraint failed" in str(exc.orig)


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def _is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def build_engine(url: str, statement_timeout_s: float = 10.0, connect_timeout_s: int = 5) -> Engine:
    """One engine per process, tuned per dialect."""
    if _is_sqlite(url):
        memory = url in ("sqlite://", "sqlite:///:memory:")
        engine = create_engine(
            url,
            json_serializer=_json_dumps,
            json_deserializer=orjson.loads,
            connect_args={"check_same_thread": False, "timeout": 30},
            poolclass=StaticPool if memory else None,
        )

        @event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
            # Let SQLAlchemy, not the driver, decide when a transaction begins.
            dbapi_conn.isolation_level = None
            cursor = dbapi_conn.cursor()
            if not memory:
                cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Connection) -> None:
            # A writer takes the write lock first, so that its reads and checks stay true.
            immediate = conn.get_execution_options().get("tt_write", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine
    # PostgreSQL: the server ends a statement that runs too long (statement_timeout); a server
    # that does not answer at all (frozen, a dead link) is given up by the client after the
    # same time plus a grace period; opening a connection has its own timeout. Each becomes
    # Unavailable (503) and the pool starts afresh, so the service recovers on its own.
    engine = create_engine(
        url,
        json_serializer=_json_dumps,
        json_deserializer=orjson.loads,
        pool_pre_ping=True,
        pool_size=10,
        max_overflow=20,
        pool_timeout=connect_timeout_s,
        connect_args={
            "connect_timeout": connect_timeout_s,
            "options": f"-c statement_timeout={int(statement_timeout_s * 1000)}",
        },
    )
    io_timeout_s = statement_timeout_s + CLIENT_GRACE_S

    @event.listens_for(engine, "do_connect")
    def _bounded_connect(_dialect: Any, _record: Any, cargs: Any, cparams: Any) -> Any:
        connection = BoundedConnection.connect(*cargs, **cparams)
        connection.io_timeout_s = io_timeout_s
        return connection

    return engine


#: How much longer than statement_timeout the client waits for a server that does not answer.
CLIENT_GRACE_S = 1.0


def _bounded_connection_class() -> Any:
    import psycopg

    class _BoundedConnection(psycopg.Connection):  # type: ignore[type-arg]
        """A psycopg connection whose every wait for the server is bounded: past
        `io_timeout_s` the connection is closed (so the pool drops it) and the call fails."""

        io_timeout_s: float = 10.0

        def wait(self, gen: Any, interval: float = 0.1, timeout: float | None = None) -> Any:
            try:
                return super().wait(gen, interval, self.io_timeout_s if timeout is None else timeout)
            except psycopg.errors._WaitTimeout:
                self.pgconn.finish()  # non-blocking: the socket is closed, the server may be frozen
                raise psycopg.OperationalError(
                    f"the database did not answer within {self.io_timeout_s:g} s; connection closed"
                ) from None

    return _BoundedConnection


class _LazyClass:
    """psycopg is imported only by processes that use PostgreSQL."""

    def __init__(self, build: Callable[[], Any]) -> None:
        self._build = build
        self._class: Any = None

    def connect(self, *args: Any, **kwargs: Any) -> Any:
        if self._class is None:
            self._class = self._build()
        return self._class.connect(*args, **kwargs)


BoundedConnection = _LazyClass(_bounded_connection_class)


@contextmanager
def sql_errors() -> Iterator[None]:
    """A database that cannot be reached, or a connection lost midway, is Unavailable (503)."""
    try:
        yield
    except OperationalError as exc:
        raise Unavailable("The database is unavailable; try again shortly") from exc
    except DataError as exc:
        # A value the column cannot hold (too long, out of range, not text): the request's fault.
        raise Invalid("A value is too long, out of range or not valid text") from exc
    except DBAPIError as exc:
        if exc.connection_invalidated:
            raise Unavailable("The database connection was lost; try again") from exc
        raise


class SqlStore:
    """The SQL implementation of `Store`."""

    def __init__(self, url: str, statement_timeout_s: float = 10.0, connect_timeout_s: int = 5) -> None:
        self.url = url
        self.engine_name = "sqlite" if _is_sqlite(url) else "postgresql"
        self.engine = build_engine(url, statement_timeout_s, connect_timeout_s)
        self._writer = self.engine.execution_options(tt_write=True)
        self.remembered: set[tuple[Any, ...]] = set()
        database = self.engine.url.database if self.engine_name == "sqlite" else None
        self._lock_path = f"{database}.writer.lock" if database and database != ":memory:" else None
        # filelock: flock on POSIX, LockFileEx on Windows (fcntl would not even import there).
        self._lock_file = FileLock(self._lock_path, thread_local=False) if self._lock_path else None
        self._thread_lock = threading.Lock()
        from commons.data_access_layer.sql_integrations import SqlIdempotencyKeys

        self.idempotency = SqlIdempotencyKeys(self)

    @contextmanager
    def unit_of_work(self, actor: Actor, *, write: bool = False) -> Iterator[SqlUnitOfWork]:
        engine = self._writer if write else self.engine
        with sql_errors(), self._writer_turn(write), engine.begin() as conn:
            yield SqlUnitOfWork(conn, actor, self.remembered)

    @contextmanager
    def writing(self) -> Iterator[Connection]:
        """A short writing transaction outside any unit of work (Idempotency-Key claims)."""
        with self._writer_turn(True), self._writer.begin() as conn:
            yield conn

    @contextmanager
    def _writer_turn(self, write: bool) -> Iterator[None]:
        """SQLite writers queue here (threads, then processes through a file lock) instead of
        in SQLite's busy handler, which sleeps and retries and so inflates tail latency."""
        if not write or self._lock_file is None:
            yield
            return
        with self._thread_lock, self._lock_file:
            yield

    def create_containers(self, names: Iterable[str]) -> builtins.list[str]:
        created = []
        with sql_errors(), self.engine.begin() as conn:
            for name in names:
                table = metadata.tables.get(name)
                if table is None:
                    continue  # a container only other engines need (guards, leases)
                if not self.engine.dialect.has_table(conn, name):
                    table.create(conn)
                    created.append(name)
        return created

    def change_feed(self, name: str) -> SqlChangeFeed:
        return SqlChangeFeed(self, name)

    def add_missing_columns(self, names: Iterable[str]) -> builtins.list[str]:
        """Add the (nullable) columns that the named tables lack in the database: migrations
        that give existing tables new fields. Answers `table.column` of those added."""
        from sqlalchemy import inspect
        from sqlalchemy.schema import CreateColumn

        added = []
        with sql_errors(), self._writer_turn(True), self._writer.begin() as conn:
            for name in names:
                table = metadata.tables[name]
                present = {c["name"] for c in inspect(conn).get_columns(name)}
                for column in table.columns:
                    if column.name not in present:
                        ddl = CreateColumn(column).compile(dialect=conn.dialect)
                        conn.execute(text(f"ALTER TABLE {table.name} ADD COLUMN {ddl}"))
                        added.append(f"{name}.{column.name}")
        return added

    def record_events(self, events: Iterable[Mapping[str, Any]]) -> int:
        from commons.domain.clock import parse_instant

        rows = [
            {
                "tenant_id": e["tenant_id"],
                "id": e["id"],
                "item_id": e["item_id"],
                "container_id": e["container_id"],
                "user_id": e.get("user_id"),
                "action": e["action"],
                "description": e.get("description"),
                "session_id": e.get("session_id"),
                "date_at": parse_instant(e["date"], "date"),
            }
            for e in events
        ]
        if not rows:
            return 0
        insert = postgresql_insert if self.engine_name == "postgresql" else sqlite_insert
        stmt = insert(event_log).on_conflict_do_nothing(index_elements=[event_log.c.tenant_id, event_log.c.id])
        with sql_errors(), self._writer_turn(True), self._writer.begin() as conn:
            return int(conn.execute(stmt, rows).rowcount or 0)

    def ping(self) -> None:
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except (OperationalError, DBAPIError) as exc:
            raise Unavailable("The database is unavailable") from exc

    def dispose(self) -> None:
        self.engine.dispose()
        if self._lock_file is not None:
            self._lock_file.release(force=True)

    # migrate-anything storage, kept here because it is SQL
    def migration_records(self) -> builtins.list[tuple[str, str]]:
        self.create_containers(["migration"])
        with sql_errors(), self.engine.connect() as conn:
            rows = conn.execute(select(migration.c.name, migration.c.code).order_by(migration.c.name))
            return [(r.name, r.code) for r in rows]

    def save_migration_record(self, name: str, code: str) -> None:
        with sql_errors(), self.engine.begin() as conn:
            conn.execute(migration.insert().values(name=name, code=code, applied_at=now_ms()))

    def remove_migration_record(self, name: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(migration.delete().where(migration.c.name == name))


ALL_CATALOGUE_CONTAINERS = tuple(spec.container for spec in CATALOGUES)

# The integrators' tables (TT-15) live on `metadata` too: importing them here lets
# `create_containers` (migrations) find them.
from commons.data_access_layer import sql_integrations  # noqa: E402, F401
