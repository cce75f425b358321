"""The SQL store: units of work, containers (migrations), the change feed, events."""

from __future__ import annotations

import builtins
import os
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from sqlalchemy import (
    select,
    text,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from commons.data_access_layer.callers import KnownCallers
from commons.data_access_layer.events import Actor
from commons.data_access_layer.repository import CATALOGUES
from commons.data_access_layer.sql.audit import SqlChangeFeed
from commons.data_access_layer.sql.engine import _is_sqlite, build_engine, sql_errors
from commons.data_access_layer.sql.tables import event_log, metadata, migration
from commons.data_access_layer.sql.unit_of_work import SqlUnitOfWork
from commons.domain.clock import now_ms
from commons.domain.errors import Unavailable

_WRITER_LOCKS: dict[str, tuple[threading.Lock, Any]] = {}
_WRITER_LOCKS_GUARD = threading.Lock()


def _writer_locks(path: str | None) -> tuple[threading.Lock, Any]:
    """The thread lock and the process lock (`fasteners`) of the writers of one SQLite file."""
    if path is None:
        return threading.Lock(), None
    key = os.path.realpath(path)
    with _WRITER_LOCKS_GUARD:
        if key not in _WRITER_LOCKS:
            _WRITER_LOCKS[key] = (threading.Lock(), _held_open_lock(key))
        return _WRITER_LOCKS[key]


def _held_open_lock(path: str) -> Any:
    """`fasteners.InterProcessLock` on `path`, its file kept open between turns.

    fasteners (0.20, pinned) opens the lock file, after making sure its directory exists, on
    every acquire and closes it on every release: 5 % of a clock-in in process (py-spy, TT-17).
    Kept open, the file is locked and unlocked by fasteners as before (`trylock`, `unlock`);
    closing it would also drop every fcntl lock the process holds on it, so it is never closed
    while the process lives.
    """
    import fasteners

    class HeldOpenLock(fasteners.InterProcessLock):  # type: ignore[misc]
        def _do_open(self) -> None:
            if self.lockfile is None or self.lockfile.closed:
                super()._do_open()

        def _do_close(self) -> None:
            return None

    return HeldOpenLock(path)


class SqlStore:
    """The SQL implementation of `Store`."""

    def __init__(self, url: str, statement_timeout_s: float = 10.0, connect_timeout_s: int = 5) -> None:
        self.url = url
        self.engine_name = "sqlite" if _is_sqlite(url) else "postgresql"
        self.engine = build_engine(url, statement_timeout_s, connect_timeout_s)
        self._writer = self.engine.execution_options(tt_write=True)
        # Reads in autocommit: at READ COMMITTED (PostgreSQL's default and ours) every statement
        # takes a snapshot of its own inside a transaction or not, so a read unit's BEGIN and
        # COMMIT were two round trips of three for a one-statement read (TT-17). SQLite reads
        # the same way (each statement its own snapshot; the driver never begins on its own,
        # and engine.py's BEGIN is not sent for a read unit): one semantics on both engines,
        # and no SQLAlchemy transaction to begin and commit around a read (a fifth of
        # `GET /time-entries/running`'s CPU in process).
        self._reader = self.engine.execution_options(tt_read_only=True)
        self.remembered = KnownCallers()
        database = self.engine.url.database if self.engine_name == "sqlite" else None
        self._lock_path = f"{database}.writer.lock" if database and database != ":memory:" else None
        # fasteners: fcntl locks on POSIX, msvcrt on Windows (chosen by os.name when imported,
        # so only where a SQLite file is used). filelock did the same at 110-130 µs an acquire
        # and release against 17 (TT-17: its fork tracking, path canonicalisation and
        # registry), and polled every 50 ms, so one worker's writers starved the other's.
        # One lock pair per file and process, shared by every store on the file: fcntl's
        # record locks belong to the process (a second lock object would not wait, and its
        # release would free the first's lock).
        self._thread_lock, self._lock_file = _writer_locks(self._lock_path)
        from commons.data_access_layer.sql.integrations import SqlIdempotencyKeys
        from commons.data_access_layer.sql.webhooks import SqlWebhooks

        self.idempotency = SqlIdempotencyKeys(self)
        self.webhooks = SqlWebhooks(self)

    @contextmanager
    def unit_of_work(self, actor: Actor, *, write: bool = False) -> Iterator[SqlUnitOfWork]:
        if not write:
            # No transaction of SQLAlchemy's: the driver path runs in autocommit, and a statement
            # through SQLAlchemy's path (which begins one) ends with the connection (rollback).
            with sql_errors(), self._reader.connect() as conn:
                yield SqlUnitOfWork(conn, actor, self.remembered)
            return
        with sql_errors(), self._writer_turn(True), self._writer.begin() as conn:
            uow = SqlUnitOfWork(conn, actor, self.remembered)
            yield uow
        for caller in uow.learned:  # committed
            self.remembered.learn(caller)

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
        with self._thread_lock:
            # Polled (a sleep yields to gevent's other greenlets; a blocking lock would stall
            # the worker): from 0.5 ms, adding 0.5 ms a try up to 2 ms, about a write's length.
            self._lock_file.acquire(delay=0.0005, max_delay=0.002)
            try:
                yield
            finally:
                self._lock_file.release()

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
        stmt = (
            insert(event_log)
            .on_conflict_do_nothing(index_elements=[event_log.c.tenant_id, event_log.c.id])
            .returning(event_log.c.id)
        )
        # The rows RETURNING answers are the new ones: an executemany's rowcount is -1 on
        # PostgreSQL (psycopg), where the count of new events was then -1.
        with sql_errors(), self._writer_turn(True), self._writer.begin() as conn:
            return len(conn.execute(stmt, rows).all())

    def ping(self) -> None:
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except (OperationalError, DBAPIError, PoolTimeout) as exc:
            raise Unavailable("The database is unavailable") from exc

    def dispose(self) -> None:
        # The writers' locks are released by each unit of work (and shared by every store on
        # the file in this process): nothing to release here.
        self.engine.dispose()

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
