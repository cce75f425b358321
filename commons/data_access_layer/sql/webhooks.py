"""Webhooks on SQL (SQLite, PostgreSQL): the `webhook` and `webhook_delivery` tables.

Each record is kept whole in a JSON `document` column; the fields that queries filter or order
on are columns of their own beside it (indexed). Writes are conditional on the `etag` column
(`UPDATE ... WHERE etag = :seen`), so of two dispatchers claiming one delivery only one wins.
An admin's endpoint write inserts its outbox row (`change_log`) in the same transaction, as
every business write does (the secret is left out of it).
"""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, BigInteger, Column, Index, String, Table, and_, or_, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from commons.data_access_layer.events import Actor, event_context
from commons.data_access_layer.repository import Record
from commons.data_access_layer.sql.engine import sql_errors
from commons.data_access_layer.sql.tables import _ID, _TENANT, metadata
from commons.data_access_layer.sql.unit_of_work import SqlUnitOfWork
from commons.data_access_layer.webhooks import new_endpoint
from commons.domain import cursors
from commons.domain.clock import now_ms
from commons.domain.errors import Conflict, NotFound, PreconditionFailed
from commons.domain.preconditions import stale
from commons.domain.webhooks import PENDING

if TYPE_CHECKING:
    from commons.data_access_layer.sql.store import SqlStore

webhook = Table(
    "webhook",
    metadata,
    Column("tenant_id", String(_TENANT), primary_key=True),
    Column("id", String(_ID), primary_key=True),
    Column("etag", String(32), nullable=False),
    Column("deleted", String(_ID), nullable=True),
    Column("document", JSON, nullable=False),
    Column("created_at", BigInteger, nullable=False),
)

webhook_delivery = Table(
    "webhook_delivery",
    metadata,
    Column("tenant_id", String(_TENANT), primary_key=True),
    Column("id", String(40), primary_key=True),
    Column("endpoint_id", String(_ID), nullable=False),
    Column("item_id", String(_ID), nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),
    Column("next_at", BigInteger, nullable=False),
    Column("lease_until", BigInteger, nullable=False),
    Column("etag", String(32), nullable=False),
    Column("document", JSON, nullable=False),
)
# The dispatcher's scan (what is due), the head of an item's queue, the log of an endpoint.
Index("ix_webhook_delivery_due", webhook_delivery.c.status, webhook_delivery.c.next_at)
Index(
    "ix_webhook_delivery_item",
    webhook_delivery.c.tenant_id,
    webhook_delivery.c.endpoint_id,
    webhook_delivery.c.item_id,
    webhook_delivery.c.status,
    webhook_delivery.c.seq,
)
Index("ix_webhook_delivery_log", webhook_delivery.c.tenant_id, webhook_delivery.c.endpoint_id, webhook_delivery.c.seq)

_COLUMNS = ("endpoint_id", "item_id", "seq", "status", "next_at", "lease_until")


def _record(row: Any) -> Record:
    return {**row.document, "_etag": row.etag}


def _body(record: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k != "_etag"}


class SqlWebhooks:
    """The SQL implementation of `Webhooks`."""

    def __init__(self, store: SqlStore) -> None:
        self.store = store

    @contextmanager
    def _writing(self) -> Iterator[Connection]:
        with sql_errors(), self.store._writer_turn(True), self.store._writer.begin() as conn:
            yield conn

    @contextmanager
    def _reading(self) -> Iterator[Connection]:
        with sql_errors(), self.store.engine.connect() as conn:
            yield conn

    def _log(self, conn: Connection, actor: Actor, record: Mapping[str, Any]) -> None:
        """The outbox row of an admin's endpoint write (the secret left out)."""
        document = {k: v for k, v in record.items() if k not in ("secret", "_etag")}
        uow = SqlUnitOfWork(conn, actor, self.store.remembered)
        row = {**document, "etag": record["_etag"], "last_event_ctx": record["_last_event_ctx"]}
        uow.log_change("webhook", row)

    # ------------------------------------------------------------------ endpoints

    def add_endpoint(self, actor: Actor, fields: Mapping[str, Any]) -> Record:
        record = new_endpoint(actor, fields)
        now = record["created_at"]
        etag = uuid.uuid4().hex
        with self._writing() as conn:
            conn.execute(
                webhook.insert().values(
                    tenant_id=actor.tenant_id, id=record["id"], etag=etag, document=record, created_at=now
                )
            )
            self._log(conn, actor, {**record, "_etag": etag})
        return {**record, "_etag": etag}

    def get_endpoint(self, tenant: str, endpoint_id: str) -> Record:
        w = webhook
        with self._reading() as conn:
            row = conn.execute(
                select(w).where(w.c.tenant_id == tenant, w.c.id == endpoint_id, w.c.deleted.is_(None))
            ).first()
        if row is None:
            raise NotFound("Webhook not found")
        return _record(row)

    def list_endpoints(self, tenant: str) -> builtins.list[Record]:
        w = webhook
        with self._reading() as conn:
            rows = conn.execute(
                select(w).where(w.c.tenant_id == tenant, w.c.deleted.is_(None)).order_by(w.c.created_at, w.c.id)
            )
            return [_record(row) for row in rows]

    def write_endpoint(self, endpoint: Record, etag: str, actor: Actor | None = None, action: str = "update") -> Record:
        now = now_ms()
        record = {**_body(endpoint), "updated_at": now}
        if actor is not None:
            record["_last_event_ctx"] = event_context(actor, "webhook", action, now)
        new_etag = uuid.uuid4().hex
        w = webhook
        with self._writing() as conn:
            done = conn.execute(
                w.update()
                .where(w.c.tenant_id == record["tenant_id"], w.c.id == record["id"], w.c.etag == etag)
                .values(etag=new_etag, document=record, deleted=record.get("deleted"))
            )
            if done.rowcount != 1:
                raise PreconditionFailed(stale("Webhook"))
            if actor is not None:
                self._log(conn, actor, {**record, "_etag": new_etag})
        return {**record, "_etag": new_etag}

    # ------------------------------------------------------------------ deliveries

    def enqueue(self, deliveries: Iterable[Mapping[str, Any]]) -> int:
        rows = [
            {
                "tenant_id": d["tenant_id"],
                "id": d["id"],
                **{k: d[k] for k in _COLUMNS},
                "etag": uuid.uuid4().hex,
                "document": _body(d),
            }
            for d in deliveries
        ]
        if not rows:
            return 0
        insert = postgresql_insert if self.store.engine_name == "postgresql" else sqlite_insert
        # RETURNING names the new rows: an executemany's rowcount is -1 on PostgreSQL (psycopg).
        stmt = (
            insert(webhook_delivery)
            .on_conflict_do_nothing(index_elements=[webhook_delivery.c.tenant_id, webhook_delivery.c.id])
            .returning(webhook_delivery.c.id)
        )
        with self._writing() as conn:
            return len(conn.execute(stmt, rows).all())

    def get_delivery(self, tenant: str, delivery_id: str) -> Record:
        d = webhook_delivery
        with self._reading() as conn:
            row = conn.execute(select(d).where(d.c.tenant_id == tenant, d.c.id == delivery_id)).first()
        if row is None:
            raise NotFound("Delivery not found")
        return _record(row)

    def list_deliveries(
        self, tenant: str, endpoint_id: str, limit: int, continuation: str | None
    ) -> tuple[builtins.list[Record], str | None]:
        d = webhook_delivery
        stmt = select(d).where(d.c.tenant_id == tenant, d.c.endpoint_id == endpoint_id)
        if continuation:
            seq, last_id = cursors.decode_position(continuation, 40)
            stmt = stmt.where(or_(d.c.seq < seq, and_(d.c.seq == seq, d.c.id < last_id)))
        stmt = stmt.order_by(d.c.seq.desc(), d.c.id.desc()).limit(limit + 1)
        with self._reading() as conn:
            rows = conn.execute(stmt).fetchall()
        token = cursors.encode((rows[limit - 1].seq, rows[limit - 1].id)) if len(rows) > limit else None
        return [_record(r) for r in rows[:limit]], token

    def due(self, now: int, limit: int) -> builtins.list[Record]:
        d = webhook_delivery
        stmt = (
            select(d)
            .where(d.c.status == PENDING, d.c.next_at <= now, d.c.lease_until <= now)
            .order_by(d.c.next_at, d.c.seq)
            .limit(limit)
        )
        with self._reading() as conn:
            found = [_record(r) for r in conn.execute(stmt)]
        return sorted(found, key=lambda r: r["seq"])

    def head(self, tenant: str, endpoint_id: str, item_id: str) -> Record | None:
        d = webhook_delivery
        stmt = (
            select(d)
            .where(d.c.tenant_id == tenant, d.c.endpoint_id == endpoint_id, d.c.item_id == item_id)
            .where(d.c.status == PENDING)
            .order_by(d.c.seq, d.c.id)
            .limit(1)
        )
        with self._reading() as conn:
            row = conn.execute(stmt).first()
        return _record(row) if row else None

    def pending(self, tenant: str, endpoint_id: str) -> builtins.list[Record]:
        d = webhook_delivery
        stmt = select(d).where(d.c.tenant_id == tenant, d.c.endpoint_id == endpoint_id, d.c.status == PENDING)
        with self._reading() as conn:
            return [_record(r) for r in conn.execute(stmt.order_by(d.c.seq))]

    def write_delivery(self, delivery: Record, etag: str) -> Record:
        body = _body(delivery)
        new_etag = uuid.uuid4().hex
        d = webhook_delivery
        with self._writing() as conn:
            try:
                done = conn.execute(
                    d.update()
                    .where(d.c.tenant_id == body["tenant_id"], d.c.id == body["id"], d.c.etag == etag)
                    .values(etag=new_etag, document=body, **{k: body[k] for k in _COLUMNS})
                )
            except IntegrityError:
                raise Conflict("Delivery could not be written") from None
            if done.rowcount != 1:
                raise PreconditionFailed(stale("Delivery"))
        return {**body, "_etag": new_etag}


__all__ = ["SqlWebhooks", "webhook", "webhook_delivery"]
