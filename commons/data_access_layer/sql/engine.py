"""Engines per dialect (SQLite pragmas and write lock, PostgreSQL timeouts), and database
errors as the contract's."""

from __future__ import annotations

import select
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import orjson
from sqlalchemy import (
    create_engine,
    event,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DataError, DBAPIError, DisconnectionError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.pool import StaticPool

from commons.domain.errors import Invalid, Unavailable


def _is_unique_violation(exc: IntegrityError) -> bool:
    code = getattr(exc.orig, "sqlstate", None)
    if code is not None:
        return bool(code == "23505")
    return "UNIQUE constraint failed" in str(exc.orig)


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def _is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def _one_thread_at_a_time(timeout_s: float) -> type[StaticPool]:
    """StaticPool whose connection one thread holds at a time (re-entrant), the others waiting
    up to `timeout_s` (then sqlalchemy's pool TimeoutError, a 503). No reset on return: a unit
    nested in a writing unit shares its connection and must not roll the writer back; every
    writing unit ends its own transaction."""

    class OneThreadAtATime(StaticPool):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._turn = threading.RLock()

        def _do_get(self) -> Any:
            if not self._turn.acquire(timeout=timeout_s):
                raise PoolTimeout(f"The in-memory database stayed in use for {timeout_s} s")
            try:
                return super()._do_get()
            except BaseException:
                self._turn.release()
                raise

        def _do_return_conn(self, record: Any) -> None:
            try:
                super()._do_return_conn(record)
            finally:
                self._turn.release()

    return OneThreadAtATime


def build_engine(url: str, statement_timeout_s: float = 10.0, connect_timeout_s: int = 5) -> Engine:
    """One engine per process, tuned per dialect."""
    if _is_sqlite(url):
        memory = url in ("sqlite://", "sqlite:///:memory:")
        # An in-memory database lives in its one connection (StaticPool): lent to one thread at
        # a time, and again to a unit that thread opens inside its own (a read of the caller's
        # roles inside a read unit). Lent to every thread at once, one thread's COMMIT ended
        # another's transaction (writes acknowledged, then lost).
        pooling: dict[str, Any] = (
            {"poolclass": _one_thread_at_a_time(connect_timeout_s), "pool_reset_on_return": None} if memory else {}
        )
        engine = create_engine(
            url,
            json_serializer=_json_dumps,
            json_deserializer=orjson.loads,
            connect_args={"check_same_thread": False, "timeout": 30},
            **pooling,
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

        def _sqlite_begin(options: dict[str, Any]) -> str | None:
            # A writer takes the write lock first, so that its reads and checks stay true; a
            # read unit reads in autocommit, as on PostgreSQL (store.py).
            if options.get("tt_read_only"):
                return None
            return "BEGIN IMMEDIATE" if options.get("tt_write", False) else "BEGIN"

        _begin_on_driver(engine, _sqlite_begin, {})
        _refuse_writes_in_reads(engine)
        return engine
    # PostgreSQL: the server ends a statement that runs too long (statement_timeout); a server
    # that does not answer at all (frozen, a dead link) is given up by the client after the
    # same time plus a grace period; opening a connection has its own timeout. Each becomes
    # Unavailable (503) and the pool starts afresh, so the service recovers on its own.
    #
    # The driver never begins on its own (autocommit, as SQLite's above): a transaction begins
    # with SQLAlchemy's, by `_postgres_begin`, and a read unit has none. Read units used to set
    # autocommit on their connection and SQLAlchemy set it back at checkin, four psycopg
    # setters a read, 8 % of `GET /time-entries/running` in process (TT-17).
    engine = create_engine(
        url,
        isolation_level="AUTOCOMMIT",
        json_serializer=_json_dumps,
        json_deserializer=orjson.loads,
        pool_size=10,
        max_overflow=20,
        pool_timeout=connect_timeout_s,
        connect_args={
            "connect_timeout": connect_timeout_s,
            "options": f"-c statement_timeout={int(statement_timeout_s * 1000)}",
        },
    )
    io_timeout_s = statement_timeout_s + CLIENT_GRACE_S
    _ping_when_in_doubt(engine)
    _refuse_writes_in_reads(engine)

    def _postgres_begin(options: dict[str, Any]) -> str | None:
        # Every SQLAlchemy transaction (a write unit, `engine.begin()`, an autobegin) is one on
        # the server, begun before its first statement; commit and rollback are psycopg's, which
        # sends them whenever the server is in a transaction, autocommit or not. Read units and
        # connections asked for autocommit explicitly stay out of any.
        if options.get("tt_read_only") or options.get("isolation_level") == "AUTOCOMMIT":
            return None
        return "BEGIN"

    # A plain query, kept out of psycopg's prepared statements.
    _begin_on_driver(engine, _postgres_begin, {"prepare": False})

    @event.listens_for(engine, "do_connect")
    def _bounded_connect(_dialect: Any, _record: Any, cargs: Any, cparams: Any) -> Any:
        connection = BoundedConnection.connect(*cargs, **cparams)
        connection.io_timeout_s = io_timeout_s
        return connection

    return engine


def _begin_on_driver(
    engine: Engine, begin_with: Callable[[dict[str, Any]], str | None], driver_options: dict[str, Any]
) -> None:
    """The drivers never begin on their own (SQLite's `isolation_level=None`, psycopg in
    autocommit): a SQLAlchemy transaction sends the statement `begin_with` picks from the
    connection's execution options (None: no transaction on the server), straight on the
    driver's connection (through `exec_driver_sql` it went through SQLAlchemy's whole execution
    path, a third of a one-statement read's cost, TT-17). The `begin` event only picks it: it
    is sent from the dialect's `do_begin`, inside SQLAlchemy's error handling, so a failure is
    SQLAlchemy's error (as `sql_errors` expects), and the Connection can begin again after it
    (an error raised from the event would leave it unable to)."""

    @event.listens_for(engine, "begin")
    def _pick(conn: Connection) -> None:
        conn.connection.info["tt_begin"] = begin_with(conn.get_execution_options())

    def _do_begin(dbapi_connection: Any) -> None:
        sql = dbapi_connection.info.pop("tt_begin", None)
        if sql is not None:
            dbapi_connection.driver_connection.execute(sql, **driver_options)

    engine.dialect.do_begin = _do_begin  # type: ignore[method-assign] # this engine's own dialect instance


#: How much longer than statement_timeout the client waits for a server that does not answer.
CLIENT_GRACE_S = 1.0
#: A pooled connection idle longer than this is pinged before use: middleboxes (NAT, cloud load
#: balancers: Azure's idle timeout is 4 minutes) drop idle connections without a word.
TRUSTED_IDLE_S = 30.0


def _refuse_writes_in_reads(engine: Engine) -> None:
    """A unit of work opened for reading (`tt_read_only`: SqlStore) runs only SELECTs. On
    PostgreSQL it runs in autocommit, where a write would not be atomic with the rest of the
    unit; on SQLite it would write without the writers' queue. Refused on both, so that the
    suites on either engine find such a write."""

    @event.listens_for(engine, "before_cursor_execute")
    def _reads_only(conn: Connection, _cursor: Any, statement: str, *_args: Any) -> None:
        if conn.get_execution_options().get("tt_read_only") and statement.lstrip()[:6].upper() != "SELECT":
            raise ReadOnlyUnit(f"a write in a unit of work opened for reading: {statement[:60]!r}")


class ReadOnlyUnit(RuntimeError):
    """A programming error: `store.unit_of_work(actor)` without `write=True` was used to write."""


def _ping_when_in_doubt(engine: Engine) -> None:
    """`pool_pre_ping` without a round trip on every checkout.

    SQLAlchemy's pre-ping sends `SELECT 1` before every use of a pooled connection: a round trip
    and a statement on both sides for every request (TT-17). A connection the server closed
    (a restart, a failover, `pg_terminate_backend`) has something to read: the server's
    FATAL message and the end of the stream. So a connection is pinged only when its socket is
    readable while idle, or when it was idle longer than `TRUSTED_IDLE_S` (a silent drop leaves
    nothing to read); a failed ping raises `DisconnectionError`, on which the pool discards it
    and checks out another (the documented "pessimistic" handling, SQLAlchemy's PoolEvents.checkout).
    """

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_conn: Any, record: Any) -> None:
        record.info["tt_idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get("tt_idle_since")
        if since is not None and time.monotonic() - since < TRUSTED_IDLE_S and not _readable(dbapi_conn):
            return
        try:
            # In autocommit: no transaction left open, and no ROLLBACK, after which psycopg
            # drops its prepared statements (and sends DEALLOCATE ALL before the next).
            autocommit, dbapi_conn.autocommit = dbapi_conn.autocommit, True
            try:
                with dbapi_conn.cursor() as cursor:
                    cursor.execute("SELECT 1")
            finally:
                dbapi_conn.autocommit = autocommit
        except Exception as exc:
            raise DisconnectionError("the pooled connection is gone") from exc


def _readable(dbapi_conn: Any) -> bool:
    """Whether an idle connection's socket has anything to read (it should not)."""
    try:
        ready, _, _ = select.select([dbapi_conn.pgconn.socket], [], [], 0)
    except Exception:  # noqa: BLE001 - a socket that cannot be polled is in doubt
        return True
    return bool(ready)


def _bounded_connection_class() -> Any:
    import psycopg

    class _BoundedConnection(psycopg.Connection):
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
    except PoolTimeout as exc:
        # Every connection of the pool stayed in use for the pool's whole timeout (a burst
        # past the pool, a slow database): the caller may well get one when it tries again.
        raise Unavailable("The database is busy; try again shortly") from exc
    except DataError as exc:
        # A value the column cannot hold (too long, out of range, not text): the request's fault.
        raise Invalid("A value is too long, out of range or not valid text") from exc
    except DBAPIError as exc:
        if exc.connection_invalidated:
            raise Unavailable("The database connection was lost; try again") from exc
        raise
