"""The audit side of SQL: the outbox (`change_log`) read as a change feed, and the event log."""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Table,
    and_,
    literal_column,
    or_,
    select,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection

from commons.data_access_layer.repository import (
    EventQuery,
    Record,
)
from commons.data_access_layer.sql.engine import sql_errors
from commons.data_access_layer.sql.tables import _ID, change_log, event_checkpoint, event_log
from commons.domain import cursors
from commons.domain.clock import now_ms

if TYPE_CHECKING:
    from commons.data_access_layer.sql.store import SqlStore
    from commons.data_access_layer.sql.unit_of_work import SqlUnitOfWork


def insert_ignore(conn: Connection, table: Table, keys: builtins.list[str]) -> Any:
    insert = postgresql_insert if conn.dialect.name == "postgresql" else sqlite_insert
    return insert(table).on_conflict_do_nothing(index_elements=[table.c[k] for k in keys])


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
            date_at, event_id = cursors.decode_position(query.continuation, _ID)
            stmt = stmt.where(or_(e.c.date_at < date_at, and_(e.c.date_at == date_at, e.c.id < event_id)))
        stmt = stmt.order_by(e.c.date_at.desc(), e.c.id.desc()).limit(query.limit + 1)
        rows = [dict(r._mapping) for r in self._uow.conn.execute(stmt)]
        token = (
            cursors.encode((rows[query.limit - 1]["date_at"], rows[query.limit - 1]["id"]))
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
