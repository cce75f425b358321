"""The SQL engine of the repository contract (SQLAlchemy 2 Core; SQLite and PostgreSQL).

Tables are keyed by `(tenant_id, id)` and every index starts with `tenant_id`. Uniqueness of
live names is a partial unique index, so a deactivated or deleted name can be reused. Writes run
in one transaction per unit of work; on SQLite a writing unit takes the database write lock at
its start (`BEGIN IMMEDIATE`), on PostgreSQL rows are locked (`FOR UPDATE`) or a per-owner
advisory lock is taken, so check-then-act sequences are atomic on both.
"""

from __future__ import annotations

import time
import uuid
from contextlib import contextmanager
from typing import Any, Collection, Iterable, Iterator, Mapping

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Index,
    Integer,
    and_,
    or_,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    func,
    select,
    text,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.pool import StaticPool

from commons.domain.clock import MAX_ENTRY_MS, MIN_INSTANT, OPEN_END
from commons.data_access_layer.events import CREATE, DELETE, UPDATE, Actor, event_context
from commons.data_access_layer.repository import (
    ACTIVITIES,
    CATALOGUES,
    CUSTOMERS,
    PROJECT_TYPES,
    PROJECTS,
    TECHNOLOGIES,
    CatalogueSpec,
    Conflict,
    EntryQuery,
    NotFound,
    PreconditionFailed,
    Record,
    Unavailable,
)

metadata = MetaData()

_ID = 36
_TENANT = 64


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def _new_etag() -> str:
    return uuid.uuid4().hex


def _common_columns() -> list[Column[Any]]:
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


customer = _catalogue_table(CUSTOMERS)
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
)
Index("ix_time_entry_owner_start", time_entry.c.tenant_id, time_entry.c.owner_id, time_entry.c.start_at)
Index("ix_time_entry_tenant_start", time_entry.c.tenant_id, time_entry.c.start_at)
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

app_user = Table(
    "app_user",
    metadata,
    Column("tenant_id", String(_TENANT), primary_key=True),
    Column("id", String(_ID), primary_key=True),
    Column("email", String(320), nullable=False),
    Column("name", String(255), nullable=True),
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
    data = dict(row._mapping)
    data["_etag"] = data.pop("etag")
    for key in _INTERNAL[1:]:
        data.pop(key, None)
    if not marker:
        data["deleted"] = None
    return data


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

    def _visible(self) -> Any:
        t = self._table
        clause = t.c.tenant_id == self._tenant
        if self.marker:
            clause = clause & t.c.deleted.is_(None)
        return clause

    def _load(self, item_id: str, *, lock: bool = False) -> Any:
        stmt = select(self._table).where(self._visible(), self._table.c.id == item_id)
        if lock:
            stmt = stmt.with_for_update()
        row = self._uow.conn.execute(stmt).first()
        if row is None:
            raise NotFound(f"{self.label} not found")
        return row

    def get(self, item_id: str) -> Record:
        return _record(self._load(item_id), self.marker)

    def _insert(self, fields: Mapping[str, Any]) -> str:
        now = now_ms()
        values = dict(fields)
        values.update(
            tenant_id=self._tenant,
            id=str(uuid.uuid4()),
            etag=_new_etag(),
            created_at=now,
            updated_at=now,
            last_event_ctx=event_context(self._uow.actor, self.container, CREATE, now),
        )
        self._uow.execute_write(self._table.insert().values(**values), self.label)
        return str(values["id"])

    def _write(
        self, item_id: str, changes: Mapping[str, Any], if_match: str | None, action: str, description: str | None = None
    ) -> None:
        row = self._load(item_id, lock=True)
        if if_match is not None and if_match != row.etag:
            raise PreconditionFailed(f"{self.label} was changed by someone else (ETag mismatch); reload it and retry")
        now = now_ms()
        values = dict(changes)
        values.update(
            etag=_new_etag(),
            updated_at=now,
            last_event_ctx=event_context(self._uow.actor, self.container, action, now, description),
        )
        t = self._table
        stmt = t.update().where(t.c.tenant_id == self._tenant, t.c.id == item_id, t.c.etag == row.etag)
        if self._uow.execute_write(stmt.values(**values), self.label).rowcount != 1:
            raise PreconditionFailed(f"{self.label} was changed by someone else; reload it and retry")


class SqlCatalogue(_SqlRepository):
    """One catalogue container of one tenant, inside a unit of work."""

    def __init__(self, uow: SqlUnitOfWork, spec: CatalogueSpec) -> None:
        super().__init__(uow, CATALOGUE_TABLES[spec.container])
        self.spec = spec
        self.label = spec.label
        self.container = spec.container
        self.marker = spec.soft_delete == "mark"

    def get_many(self, ids: Collection[str]) -> dict[str, Record]:
        wanted = {i for i in ids if i}
        if not wanted:
            return {}
        stmt = select(self._table).where(self._visible(), self._table.c.id.in_(sorted(wanted)))
        return {row.id: _record(row, self.marker) for row in self._uow.conn.execute(stmt)}

    def list(self, filters: Mapping[str, Any] | None = None) -> list[Record]:
        stmt = select(self._table).where(self._visible())
        for key, value in (filters or {}).items():
            column = self._table.c[key]
            if isinstance(value, (list, tuple, set, frozenset)):
                stmt = stmt.where(column.in_(sorted(value)))
            else:
                stmt = stmt.where(column == value)
        stmt = stmt.order_by(func.lower(self._table.c.name), self._table.c.id)
        return [_record(row, self.marker) for row in self._uow.conn.execute(stmt)]

    def add(self, fields: Mapping[str, Any]) -> Record:
        values = dict(fields)
        if not self.marker:
            values.setdefault("status", "active")
        if "technologies" in self._table.c:
            values.setdefault("technologies", [])
        return self.get(self._insert(values))

    def update(self, item_id: str, changes: Mapping[str, Any], if_match: str | None = None) -> Record:
        self._write(item_id, changes, if_match, UPDATE)
        return self.get(item_id)

    def delete(self, item_id: str, if_match: str | None = None) -> None:
        marker = {"deleted": str(uuid.uuid4())} if self.marker else {"status": "inactive"}
        self._write(item_id, marker, if_match, DELETE)


class SqlTimeEntries(_SqlRepository):
    """Time entries of one tenant. Rules live in the service; this makes them atomic."""

    label = "Time entry"
    container = "time_entry"

    def __init__(self, uow: SqlUnitOfWork) -> None:
        super().__init__(uow, time_entry)

    def lock_owner(self, owner_id: str) -> None:
        if self._uow.conn.dialect.name == "postgresql":
            key = f"time_entry:{self._tenant}:{owner_id}"
            self._uow.conn.execute(select(func.pg_advisory_xact_lock(func.hashtextextended(key, 0))))
        # SQLite: a writing unit of work holds the database write lock from its first statement.

    def running(self, owner_id: str) -> Record | None:
        t = self._table
        stmt = select(t).where(self._visible(), t.c.owner_id == owner_id, t.c.end_at.is_(None)).limit(1)
        row = self._uow.conn.execute(stmt).first()
        return _record(row, True) if row else None

    def overlapping(self, owner_id: str, start: int, end: int | None, exclude_id: str | None = None) -> list[Record]:
        query = EntryQuery(owners=(owner_id,), start=start, end=OPEN_END if end is None else end)
        stmt = self._select(query)
        if exclude_id:
            stmt = stmt.where(self._table.c.id != exclude_id)
        return [_record(row, True) for row in self._uow.conn.execute(stmt)]

    def _where(self, query: EntryQuery) -> list[Any]:
        t = self._table
        clauses = [self._visible()]
        if query.owners is not None:
            clauses.append(t.c.owner_id.in_(query.owners) if len(query.owners) != 1 else t.c.owner_id == query.owners[0])
        if query.project_ids is not None:
            clauses.append(t.c.project_id.in_(query.project_ids))
        if query.activity_id:
            clauses.append(t.c.activity_id == query.activity_id)
        if query.uri:
            clauses.append(t.c.uri == query.uri)
        if query.start is not None or query.end is not None:
            start = MIN_INSTANT if query.start is None else query.start
            end = OPEN_END if query.end is None else query.end
            # Stopped entries last at most MAX_ENTRY_MS, so the start_at index bounds the scan
            # to the window plus that much: cost follows the window, not the history.
            stopped = and_(
                t.c.start_at >= start - MAX_ENTRY_MS, t.c.start_at < end, t.c.end_at > start
            )
            running = and_(t.c.end_at.is_(None), t.c.start_at < end)
            clauses.append(or_(stopped, running))
        return clauses

    def _select(self, query: EntryQuery) -> Any:
        t = self._table
        stmt = select(t).where(*self._where(query)).order_by(t.c.start_at.desc(), t.c.id)
        if query.limit is not None:
            stmt = stmt.limit(query.limit)
        if query.offset:
            stmt = stmt.offset(query.offset)
        return stmt

    def list(self, query: EntryQuery) -> list[Record]:
        return [_record(row, True) for row in self._uow.conn.execute(self._select(query))]

    def count(self, query: EntryQuery) -> int:
        stmt = select(func.count()).select_from(self._table).where(*self._where(query))
        return int(self._uow.conn.execute(stmt).scalar_one())

    def latest_per_project(self, owner_id: str, start: int, end: int) -> list[Record]:
        t = self._table
        rank = func.row_number().over(partition_by=t.c.project_id, order_by=(t.c.start_at.desc(), t.c.id)).label("rank")
        ranked = select(t, rank).where(*self._where(EntryQuery(owners=(owner_id,), start=start, end=end))).subquery()
        stmt = select(*[ranked.c[c.name] for c in t.c]).where(ranked.c.rank == 1).order_by(ranked.c.start_at.desc())
        return [_record(row, True) for row in self._uow.conn.execute(stmt)]

    def totals(self, query: EntryQuery, by: str, now: int) -> dict[str | None, int]:
        t = self._table
        start = MIN_INSTANT if query.start is None else query.start
        end = now if query.end is None else min(query.end, now)
        least, greatest = (func.least, func.greatest) if self._uow.conn.dialect.name == "postgresql" else (func.min, func.max)
        clipped = least(func.coalesce(t.c.end_at, now), end) - greatest(t.c.start_at, start)
        if by == "customer_id":
            key = project.c.customer_id
            source = t.join(project, and_(project.c.tenant_id == t.c.tenant_id, project.c.id == t.c.project_id))
        else:
            key, source = t.c[by], t
        stmt = (
            select(key.label("key"), func.sum(greatest(clipped, 0)).label("ms"))
            .select_from(source)
            .where(*self._where(EntryQuery(**{**query.__dict__, "limit": None, "offset": 0})))
            .group_by(key)
        )
        return {row.key: int(row.ms or 0) for row in self._uow.conn.execute(stmt)}

    def add(self, fields: Mapping[str, Any]) -> Record:
        values = dict(fields)
        values.setdefault("technologies", [])
        return self.get(self._insert(values))

    def update(
        self, entry_id: str, changes: Mapping[str, Any], if_match: str | None = None, description: str | None = None
    ) -> Record:
        self._write(entry_id, changes, if_match, UPDATE, description)
        return self.get(entry_id)

    def delete(self, entry_id: str, if_match: str | None = None) -> None:
        self._write(entry_id, {"deleted": str(uuid.uuid4())}, if_match, DELETE)


class SqlUsers:
    """The e-mail and name each caller last presented (for `owner_email`)."""

    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow

    def remember(self, actor: Actor) -> None:
        if not actor.email:
            return
        dialect = self._uow.conn.dialect.name
        insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
        values = {"tenant_id": actor.tenant_id, "id": actor.user_id, "email": actor.email, "name": actor.name, "updated_at": now_ms()}
        stmt = insert(app_user).values(**values)
        stmt = stmt.on_conflict_do_update(
            index_elements=[app_user.c.tenant_id, app_user.c.id],
            set_={"email": values["email"], "name": values["name"], "updated_at": values["updated_at"]},
            where=or_(app_user.c.email != values["email"], app_user.c.name.is_distinct_from(values["name"])),
        )
        self._uow.conn.execute(stmt)

    def emails(self, user_ids: Collection[str]) -> dict[str, str]:
        wanted = sorted({u for u in user_ids if u})
        if not wanted:
            return {}
        stmt = select(app_user.c.id, app_user.c.email).where(
            app_user.c.tenant_id == self._uow.actor.tenant_id, app_user.c.id.in_(wanted)
        )
        return {row.id: row.email for row in self._uow.conn.execute(stmt)}


class SqlUnitOfWork:
    """The repositories of one actor over one connection and transaction."""

    def __init__(self, conn: Connection, actor: Actor) -> None:
        self.conn = conn
        self.actor = actor
        self.customers = SqlCatalogue(self, CUSTOMERS)
        self.project_types = SqlCatalogue(self, PROJECT_TYPES)
        self.projects = SqlCatalogue(self, PROJECTS)
        self.activities = SqlCatalogue(self, ACTIVITIES)
        self.technologies = SqlCatalogue(self, TECHNOLOGIES)
        self.time_entries = SqlTimeEntries(self)
        self.users = SqlUsers(self)
        self._by_container = {
            c.spec.container: c
            for c in (self.customers, self.project_types, self.projects, self.activities, self.technologies)
        }

    def catalogue(self, spec: CatalogueSpec) -> SqlCatalogue:
        return self._by_container[spec.container]

    def execute_write(self, stmt: Any, label: str) -> Any:
        # A savepoint keeps the transaction usable when a unique index rejects the row.
        try:
            with self.conn.begin_nested():
                return self.conn.execute(stmt)
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


def _is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def build_engine(url: str) -> Engine:
    """One engine per process, tuned per dialect."""
    if _is_sqlite(url):
        memory = url in ("sqlite://", "sqlite:///:memory:")
        engine = create_engine(
            url,
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
    return create_engine(
        url,
        pool_pre_ping=True,
        pool_size=10,
        max_overflow=20,
        pool_timeout=10,
        connect_args={"connect_timeout": 5},
    )


class SqlStore:
    """The SQL implementation of `Store`."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine_name = "sqlite" if _is_sqlite(url) else "postgresql"
        self.engine = build_engine(url)
        self._writer = self.engine.execution_options(tt_write=True)

    @contextmanager
    def unit_of_work(self, actor: Actor, *, write: bool = False) -> Iterator[SqlUnitOfWork]:
        engine = self._writer if write else self.engine
        try:
            with engine.begin() as conn:
                yield SqlUnitOfWork(conn, actor)
        except OperationalError as exc:
            raise Unavailable("The database is unavailable; try again shortly") from exc
        except DBAPIError as exc:
            if exc.connection_invalidated:
                raise Unavailable("The database connection was lost; try again") from exc
            raise

    def create_containers(self, names: Iterable[str]) -> list[str]:
        created = []
        with self.engine.begin() as conn:
            for name in names:
                table = metadata.tables[name]
                if not self.engine.dialect.has_table(conn, name):
                    table.create(conn)
                    created.append(name)
        return created

    def ping(self) -> None:
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except (OperationalError, DBAPIError) as exc:
            raise Unavailable("The database is unavailable") from exc

    def dispose(self) -> None:
        self.engine.dispose()

    # migrate-anything storage, kept here because it is SQL
    def migration_records(self) -> list[tuple[str, str]]:
        self.create_containers(["migration"])
        with self.engine.connect() as conn:
            rows = conn.execute(select(migration.c.name, migration.c.code).order_by(migration.c.name))
            return [(r.name, r.code) for r in rows]

    def save_migration_record(self, name: str, code: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(migration.insert().values(name=name, code=code, applied_at=now_ms()))

    def remove_migration_record(self, name: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(migration.delete().where(migration.c.name == name))


ALL_CATALOGUE_CONTAINERS = tuple(spec.container for spec in CATALOGUES)
