"""The hot statements on the driver's own cursor: a SELECT, INSERT or UPDATE compiled once per
dialect by SQLAlchemy, then sent without SQLAlchemy's execution path.

A statement through `Connection.execute` costs 100-150 µs of Python on top of the driver's
5-10 (cache key, execution context, events, result metadata, rows): a third of
`GET /time-entries/running` and about 100 µs of each of a clock-in's statements (TT-17). What
that path does for these statements is kept: the column types' bind processors (JSON) and
result processors (SQLite's JSON and booleans), the fixed values bound in the statement, and
the errors, handled by SQLAlchemy's own `Connection._handle_dbapi_exception` (wrapped as
SQLAlchemy's, a lost connection invalidated with the pool's older ones). Statements that need
SQLAlchemy at execution time (expanding `IN` lists, parameters rendered as literals or renamed
for the driver, schema translation) keep its path. The caller (base.py) keeps the read-only
guard of read units, which engine.py's `before_cursor_execute` hook cannot see here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy.engine import Connection
from sqlalchemy.sql import Insert, Select, Update
from sqlalchemy.sql.selectable import CompoundSelect

Processor = Callable[[Any], Any]


class Compiled:
    """A statement's SQL for one dialect, how to pass its parameters and how to read its rows."""

    __slots__ = ("sql", "order", "fixed", "binders", "stmt", "keys", "processors")

    def __init__(self, stmt: Any, compiled: Any, binders: list[tuple[str, Processor]]) -> None:
        self.stmt = stmt
        self.sql: str = compiled.string
        # qmark dialects (SQLite) take a sequence in this order; named ones (psycopg) a mapping.
        self.order: tuple[str, ...] | None = tuple(compiled.positiontup) if compiled.positional else None
        # Values fixed in the statement itself (`start_at + 0`).
        self.fixed = {name: bind.value for name, bind in compiled.binds.items() if bind.value is not None}
        self.binders = binders  # (parameter, the type's bind processor): JSON serialised
        self.keys: list[str] = (
            [str(column.key) for column in stmt.selected_columns] if isinstance(stmt, _SELECTS) else []
        )
        self.processors: list[tuple[int, Processor]] | None = None  # read from the first result

    def read_processors(self, description: Any, dialect: Any) -> list[tuple[int, Processor]]:
        processors = []
        for index, column in enumerate(self.stmt.selected_columns):
            coltype = description[index][1] if description else None
            processor = column.type.dialect_impl(dialect).result_processor(dialect, coltype)
            if processor is not None:
                processors.append((index, processor))
        return processors


_SELECTS = (Select, CompoundSelect)


def compile_for_driver(stmt: Any, conn: Connection, column_keys: list[str] | None = None) -> Compiled | None:
    """`stmt` compiled for the connection's dialect when the driver can run it as it is (for an
    INSERT or UPDATE, with the columns `column_keys` names, as SQLAlchemy compiles it for the
    keys of its parameters)."""
    if not isinstance(stmt, (*_SELECTS, Insert, Update)):
        return None
    dialect = conn.dialect
    compiled = stmt.compile(dialect=dialect, column_keys=column_keys)
    if (
        compiled.post_compile_params
        or compiled.literal_execute_params
        or compiled.escaped_bind_names  # parameters renamed for the driver
        or compiled.schema_translate_map
        or any(bind.callable is not None for bind in compiled.binds.values())
    ):
        return None
    binders: list[tuple[str, Processor]] = []
    for name, bind in compiled.binds.items():
        binder = bind.type.dialect_impl(dialect).bind_processor(dialect)
        if binder is not None:
            binders.append((name, binder))
    return Compiled(stmt, compiled, binders)


Processors = list[tuple[int, Processor]]


def _run(conn: Connection, compiled: Compiled, params: Mapping[str, Any], rows: bool) -> tuple[Any, Any]:
    merged = {**compiled.fixed, **params} if compiled.fixed or compiled.binders else params
    for name, binder in compiled.binders:
        if name in merged:
            merged[name] = binder(merged[name])  # type: ignore[index]
    arguments: Any = merged if compiled.order is None else [merged[name] for name in compiled.order]
    if not conn.in_transaction() and not conn.get_execution_options().get("tt_read_only"):
        # Autobegin, as `Connection.execute` would: outside a read unit a statement runs in a
        # transaction (the drivers are in autocommit: engine.py).
        conn.begin()
    raw: Any = conn.connection.driver_connection
    cursor = raw.cursor()
    try:
        cursor.execute(compiled.sql, arguments)
        answer = cursor.fetchall() if rows else cursor.rowcount
    except BaseException as exc:
        # SQLAlchemy's own handling, as its execution path would apply it: the driver's error
        # wrapped as SQLAlchemy's, the cursor closed, and on a lost connection (or an exit
        # exception midway) this connection invalidated and the pool's older ones with it.
        conn._handle_dbapi_exception(exc, compiled.sql, arguments, cursor, None)
    if rows and compiled.processors is None:
        compiled.processors = compiled.read_processors(cursor.description, conn.dialect)
    cursor.close()
    return answer, compiled.processors


def fetch(conn: Connection, compiled: Compiled, params: Mapping[str, Any]) -> tuple[list[Any], Processors]:
    """The rows of `compiled` run with `params`, and the processors their columns still need
    (applied by the caller, which walks the rows anyway)."""
    return _run(conn, compiled, params, True)


def execute(conn: Connection, compiled: Compiled, params: Mapping[str, Any]) -> int:
    """Run the INSERT or UPDATE `compiled` with `params`: the count of rows it changed."""
    rowcount, _ = _run(conn, compiled, params, False)
    return int(rowcount)


def processed(rows: list[Any], processors: Sequence[tuple[int, Processor]]) -> list[Any]:
    """Rows as tuples with their processors applied (for callers that keep rows)."""
    if not processors:
        return rows
    done = []
    for row in rows:
        values = list(row)
        for index, processor in processors:
            values[index] = processor(values[index])
        done.append(tuple(values))
    return done
