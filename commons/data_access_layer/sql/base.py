"""What every SQL repository shares: rows to records, cached statements, tenant confinement,
soft-delete visibility and conditional (ETag) writes."""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Table,
    bindparam,
    func,
    select,
)

from commons.data_access_layer.events import CREATE, event_context
from commons.data_access_layer.repository import Record
from commons.data_access_layer.sql.driver import Compiled, compile_for_driver, execute, fetch, processed
from commons.data_access_layer.sql.engine import ReadOnlyUnit
from commons.data_access_layer.sql.tables import _INTERNAL
from commons.domain.clock import now_ms
from commons.domain.errors import NotFound, PreconditionFailed
from commons.domain.preconditions import stale

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from commons.data_access_layer.sql.unit_of_work import SqlUnitOfWork


def _new_etag() -> str:
    return uuid.uuid4().hex


def _record(row: Any, marker: bool) -> Record:
    return _record_from(row._mapping, marker)


def _records(result: Any, marker: bool) -> builtins.list[Record]:
    """Every row of a SQLAlchemy `result` as a record."""
    return _as_records(builtins.list(result.keys()), result.fetchall(), marker)


def _as_records(
    columns: builtins.list[str], rows: builtins.list[Any], marker: bool, processors: Sequence[tuple[int, Any]] = ()
) -> builtins.list[Record]:
    """Rows as records: the names worked out once for the rows, then one `dict(zip())` a row
    (a list of 200 entries spent a third of its time in per-row mapping views and pops,
    TT-17); `processors` (column index, function) are the types' own, still to apply."""
    keys = ["_etag" if key == "etag" else key for key in columns]
    hidden = [key for key in keys if key in _INTERNAL[1:]]
    if "deleted" not in keys or not marker:
        hidden.append("deleted")
    records = [dict(zip(keys, row, strict=True)) for row in rows]
    for index, processor in processors:
        key = keys[index]
        for data in records:
            data[key] = processor(data[key])
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


def _forms(conn: Connection) -> dict[tuple[Any, ...], Compiled | None]:
    """The driver forms compiled for this connection's dialect instance: its processors close
    over its JSON serialiser, its SQL over its parameter style and server version."""
    dialect: Any = conn.dialect
    try:
        return dialect.tt_driver_forms  # type: ignore[no-any-return]
    except AttributeError:
        dialect.tt_driver_forms = {}
        return dialect.tt_driver_forms  # type: ignore[no-any-return]


def _driver_form(
    conn: Connection, key: tuple[Any, ...], stmt: Any, column_keys: builtins.list[str] | None = None
) -> Compiled | None:
    """`stmt` (cached under `key`) as the driver runs it, compiled once per dialect instance
    (a DML statement once per set of parameter keys), or None for SQLAlchemy's path."""
    forms = _forms(conn)
    form_key = key if column_keys is None else (*key, *column_keys)
    try:
        return forms[form_key]
    except KeyError:
        form = forms[form_key] = compile_for_driver(stmt, conn, column_keys)
        return form


def _select_raw(
    conn: Connection, key: tuple[Any, ...], build: Any, params: Mapping[str, Any]
) -> tuple[builtins.list[str], builtins.list[Any], Sequence[tuple[int, Any]]]:
    """The column names and rows of the SELECT `build` makes (cached under `key`), on the
    driver's cursor when it can run it (driver.py), else through SQLAlchemy; with the column
    processors still to apply (none on SQLAlchemy's path, which applied them)."""
    stmt = _statement(key, build)
    form = _driver_form(conn, key, stmt)
    if form is None:
        result = conn.execute(stmt, params)
        return builtins.list(result.keys()), builtins.list(result.fetchall()), ()  # noqa: SIM118 - a Result
    rows, processors = fetch(conn, form, params)
    return form.keys, rows, processors


def _select_rows(conn: Connection, key: tuple[Any, ...], build: Any, params: Mapping[str, Any]) -> builtins.list[Any]:
    """The rows of `_select_raw`, processed."""
    _, rows, processors = _select_raw(conn, key, build, params)
    return processed(rows, processors)


def _select_mappings(
    conn: Connection, key: tuple[Any, ...], build: Any, params: Mapping[str, Any]
) -> builtins.list[dict[str, Any]]:
    """The rows of `_select_raw` as dicts by column name."""
    columns, rows, processors = _select_raw(conn, key, build, params)
    return [dict(zip(columns, row, strict=True)) for row in processed(rows, processors)]


def _select_records(
    conn: Connection, key: tuple[Any, ...], build: Any, params: Mapping[str, Any], marker: bool = True
) -> builtins.list[Record]:
    """The rows of `_select_raw` as records."""
    columns, rows, processors = _select_raw(conn, key, build, params)
    return _as_records(columns, rows, marker, processors)


def _execute(conn: Connection, key: tuple[Any, ...], build: Any, params: Mapping[str, Any]) -> int:
    """Run the INSERT or UPDATE `build` makes (cached under `key`) with `params`, on the
    driver's cursor when it can (driver.py): the count of rows it changed."""
    if conn.get_execution_options().get("tt_read_only"):
        raise ReadOnlyUnit(f"a write in a unit of work opened for reading: {key}")
    stmt = _statement(key, build)
    # Compiled for the parameters' keys, as SQLAlchemy compiles a DML statement.
    form = _driver_form(conn, key, stmt, sorted(params))
    if form is None:
        return int(conn.execute(stmt, params).rowcount)
    return execute(conn, form, params)


def lock_needed(conn: Any, what: str) -> bool:
    """Whether a lock of `what` is to be taken on `conn`: on PostgreSQL, in a writing unit
    (ReadOnlyUnit in a reading one). SQLite needs none: a writing unit of work holds the
    database's write lock from its first statement."""
    if conn.dialect.name != "postgresql":
        return False
    if conn.get_execution_options().get("tt_read_only"):
        raise ReadOnlyUnit(f"a lock in a unit of work opened for reading: {what}")
    return True


def lock_column() -> Any:
    """A column that takes the lock named by the `lock_key` parameter and holds it to the end
    of the transaction (PostgreSQL)."""
    return func.pg_advisory_xact_lock(func.hashtextextended(bindparam("lock_key"), 0))


def advisory_lock(conn: Any, key: str) -> None:
    """A lock on `key` held to the end of the unit's transaction (see `lock_needed`)."""
    if lock_needed(conn, key):
        # On the driver's cursor (SQLAlchemy's path was a tenth of a clock-in on PostgreSQL, TT-17).
        _select_raw(conn, ("lock",), lambda: select(lock_column()), {"lock_key": key})


def at_version(table: Table) -> builtins.list[Any]:
    """A conditional write's row: the `w_id` of the `w_tenant` at the version `w_etag`."""
    return [
        table.c.tenant_id == bindparam("w_tenant"),
        table.c.id == bindparam("w_id"),
        table.c.etag == bindparam("w_etag"),
    ]


def _visible_clause(table: Table, marker: bool) -> builtins.list[Any]:
    clauses = [table.c.tenant_id == bindparam("tenant")]
    if marker:
        clauses.append(table.c.deleted.is_(None))
    return clauses


@dataclass(frozen=True)
class Guard:
    """What a guarded INSERT or UPDATE checks in its own statement (`_insert_unless`,
    `_write_unless`): the WHERE clauses `build` makes (cached under `key`) that hold when
    none of the guard's rows exists, and the parameters they bind."""

    key: tuple[Any, ...]
    build: Callable[[], builtins.list[Any]]
    params: Mapping[str, Any]


def guarded_insert(table: Table, keys: tuple[str, ...], guard: Guard) -> Any:
    """INSERT of the `v_<key>` parameters into `keys` of `table`, only where `guard` holds."""
    row = select(*(bindparam(f"v_{k}", type_=table.c[k].type) for k in keys)).where(*guard.build())
    return table.insert().from_select(list(keys), row)


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

    def _load(self, item_id: str, *, lock: bool = False) -> dict[str, Any]:
        """The row of `item_id` as the table holds it (with `etag` and the internal columns)."""
        t = self._table

        def build() -> Any:
            stmt = select(t).where(*_visible_clause(t, self.marker), t.c.id == bindparam("id"))
            return stmt.with_for_update() if lock else stmt

        found = _select_mappings(self._uow.conn, ("load", t.name, lock), build, {"tenant": self._tenant, "id": item_id})
        if not found:
            raise NotFound(f"{self.label} not found")
        return found[0]

    def get(self, item_id: str) -> Record:
        return _record_from(self._load(item_id), self.marker)

    def _insert(self, fields: Mapping[str, Any], description: str | None = None, item_id: str | None = None) -> Record:
        inserted = self._insert_unless(fields, description, item_id, None)
        assert inserted is not None  # only a guard makes an INSERT write nothing
        return inserted

    def _insert_unless(
        self, fields: Mapping[str, Any], description: str | None, item_id: str | None, unless: Guard | None
    ) -> Record | None:
        """Insert the row and its outbox entry; with `unless`, only when none of the guard's
        rows exists, checked in the INSERT itself (None when it wrote nothing)."""
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
        t = self._table
        if self._uow.conn.dialect.name == "postgresql":
            # One round trip: the row and its outbox entry in one statement.
            key, build, params = self._uow.insert_logged(t, self.container, values, unless)
            if self._uow.execute_write(key, build, self.label, params) == 0:
                return None
            return _record_from(values, self.marker)
        if unless is None:
            self._uow.execute_write(("insert", t.name), t.insert, self.label, values)
        else:
            keys = tuple(sorted(values))
            guard = unless

            def build_guarded() -> Any:
                return guarded_insert(t, keys, guard).execution_options(preserve_rowcount=True)

            params = {**{f"v_{k}": values[k] for k in keys}, **guard.params}
            key = ("insert", t.name, keys, "unless", guard.key)
            if self._uow.execute_write(key, build_guarded, self.label, params) == 0:
                return None
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
        written = self._write_unless(item_id, changes, if_match, action, description, current, None)
        if written is None:
            raise PreconditionFailed(stale(self.label))
        return written

    def _write_unless(
        self,
        item_id: str,
        changes: Mapping[str, Any],
        if_match: str | None,
        action: str,
        description: str | None,
        current: Mapping[str, Any] | None,
        unless: Guard | None,
    ) -> Record | None:
        """`_write`, with `unless` only where the guard holds, checked in the UPDATE itself;
        None when it wrote nothing (the version moved on, or the guard failed)."""
        row = self._load(item_id, lock=True) if current is None else {**current, "etag": current["_etag"]}
        if if_match is not None and if_match != row["etag"]:
            raise PreconditionFailed(stale(self.label))
        now = now_ms()
        values = dict(changes)
        values.update(
            etag=_new_etag(),
            updated_at=now,
            last_event_ctx=event_context(self._uow.actor, self.container, action, now, description),
        )
        t = self._table
        written = {**row, **values}
        version = {"w_tenant": self._tenant, "w_id": item_id, "w_etag": row["etag"]}
        if unless is not None:
            version.update(unless.params)
        if self._uow.conn.dialect.name == "postgresql":
            # One round trip: the update and its outbox entry in one statement.
            key, build, params = self._uow.update_logged(t, self.container, values, written, unless)
            if self._uow.execute_write(key, build, self.label, {**params, **version}) != 1:
                return None
            return _record_from(written, self.marker)
        guard = unless

        def build_update() -> Any:
            return t.update().where(*at_version(t), *(guard.build() if guard is not None else ()))

        key = ("update", t.name) if guard is None else ("update", t.name, "unless", guard.key)
        if self._uow.execute_write(key, build_update, self.label, {**values, **version}) != 1:
            return None
        self._uow.log_change(self.container, written)
        return _record_from(written, self.marker)
