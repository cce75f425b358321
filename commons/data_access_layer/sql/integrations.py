"""The SQL engine's part for integrators (TT-15): personal access tokens and Idempotency-Key
claims. Tables live on `tables.metadata` (the package imports this module, so migrations
create them with the others)."""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    String,
    Table,
    and_,
    bindparam,
    delete,
    select,
    text,
    tuple_,
)

from commons.data_access_layer.events import CREATE, DELETE, event_context
from commons.data_access_layer.idempotency import IdempotencyClaim
from commons.data_access_layer.repository import ChangeQuery, Record
from commons.data_access_layer.sql.audit import insert_ignore
from commons.data_access_layer.sql.base import _record_from, _SqlRepository, _statement
from commons.data_access_layer.sql.engine import sql_errors
from commons.data_access_layer.sql.tables import _ID, _TENANT, CATALOGUE_TABLES, _common_columns, metadata, time_entry
from commons.data_access_layer.sql.time_entries import _NAMED_COLUMNS, _NAMED_SOURCE
from commons.domain.clock import now_ms

if TYPE_CHECKING:
    from commons.data_access_layer.sql.catalogue import SqlCatalogue
    from commons.data_access_layer.sql.store import SqlStore
    from commons.data_access_layer.sql.time_entries import SqlTimeEntries
    from commons.data_access_layer.sql.unit_of_work import SqlUnitOfWork

access_token = Table(
    "access_token",
    metadata,
    *_common_columns(),
    Column("owner_id", String(_ID), nullable=False),
    Column("owner_email", String(320), nullable=True),
    Column("name", String(255), nullable=False),
    Column("digest", String(64), nullable=False),
    Column("hint", String(16), nullable=False),
    Column("read_only", Boolean, nullable=False),
    Column("expires_at", BigInteger, nullable=True),
    Column("last_used_at", BigInteger, nullable=True),
    Column("revoked_at", BigInteger, nullable=True),
)
Index("ix_access_token_owner", access_token.c.tenant_id, access_token.c.owner_id)

idempotency_key = Table(
    "idempotency_key",
    metadata,
    Column("tenant_id", String(_TENANT), primary_key=True),
    Column("user_id", String(_ID), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("fingerprint", String(64), nullable=False),
    Column("owner", String(32), nullable=False),
    Column("state", String(16), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("locked_until", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    Column("status", Integer, nullable=True),
    Column("response", JSON, nullable=True),
)
# Expired claims are purged by range (see SqlIdempotencyKeys.claim).
Index("ix_idempotency_key_expires", idempotency_key.c.expires_at)


class SqlAccessTokens(_SqlRepository):
    """Personal access tokens of one tenant; revoking is a soft delete (`revoked_at`)."""

    label = "Personal access token"
    container = "access_token"
    marker = False  # revoked tokens stay readable (listed as revoked, refused at use)

    def __init__(self, uow: SqlUnitOfWork) -> None:
        super().__init__(uow, access_token)

    def add(self, token_id: str, fields: Mapping[str, Any]) -> Record:
        return self._insert_token({**fields, "id": token_id})

    def _insert_token(self, fields: Mapping[str, Any]) -> Record:
        # As _SqlRepository._insert, answering created_at too (the token list shows it).
        now = now_ms()
        values = {
            **fields,
            "tenant_id": self._tenant,
            "etag": uuid.uuid4().hex,
            "created_at": now,
            "updated_at": now,
            "last_event_ctx": event_context(self._uow.actor, self.container, CREATE, now),
        }
        self._uow.execute_write(("insert", self._table.name), self._table.insert, self.label, values)
        self._uow.log_change(self.container, values)
        return {**_record_from(values, False), "created_at": now}

    def get(self, token_id: str) -> Record:
        row = self._load(token_id)
        return {**_record_from(row, False), "created_at": row["created_at"]}

    def list(self, owner_id: str | None = None) -> builtins.list[Record]:
        t = self._table
        stmt = select(t).where(t.c.tenant_id == self._tenant)
        if owner_id is not None:
            stmt = stmt.where(t.c.owner_id == owner_id)
        rows = self._uow.conn.execute(stmt.order_by(t.c.created_at.desc(), t.c.id))
        return [{**_record_from(dict(r._mapping), False), "created_at": r.created_at} for r in rows]

    def revoke(self, token_id: str, now: int) -> Record:
        current = self.get(token_id)
        if current.get("revoked_at") is not None:
            return current
        written = self._write(token_id, {"revoked_at": now}, None, DELETE, "Revoke personal access token")
        return {**written, "created_at": current["created_at"]}

    def touch(self, token: Record, now: int) -> None:
        t = self._table
        stmt = _statement(
            ("touch", t.name),
            lambda: (
                t.update()
                .where(t.c.tenant_id == bindparam("w_tenant"), t.c.id == bindparam("w_id"))
                .values(last_used_at=bindparam("w_now"))
            ),
        )
        self._uow.conn.execute(stmt, {"w_tenant": self._tenant, "w_id": token["id"], "w_now": now})


def _claim(row: Any) -> IdempotencyClaim:
    return IdempotencyClaim(
        fingerprint=row.fingerprint,
        owner=row.owner,
        state=row.state,
        created_at=int(row.created_at),
        locked_until=int(row.locked_until),
        expires_at=int(row.expires_at),
        status=row.status,
        response=row.response,
    )


class SqlIdempotencyKeys:
    """Claims as rows keyed by (tenant, user, key): the INSERT that fails on the primary key
    is the atomic "someone has it already", on SQLite and PostgreSQL alike."""

    #: One claim in this many also purges expired rows (a bounded range of the expiry index).
    PURGE_EVERY = 200

    def __init__(self, store: SqlStore) -> None:
        self._store = store
        self._claims = 0

    def _key(self, tenant_id: str, user_id: str, key: str) -> Any:
        k = idempotency_key.c
        return and_(k.tenant_id == tenant_id, k.user_id == user_id, k.key == key)

    @staticmethod
    def _insert(conn: Any, values: Mapping[str, Any]) -> bool:
        """INSERT unless the key is held; whether it was inserted (RETURNING says so on both
        dialects: rowcount of an ON CONFLICT DO NOTHING is not reliable across drivers)."""
        stmt = (
            insert_ignore(conn, idempotency_key, ["tenant_id", "user_id", "key"])
            .values(**values)
            .returning(idempotency_key.c.owner)
        )
        return conn.execute(stmt).first() is not None

    def _write(self) -> Any:
        return self._store.writing()

    def claim(self, tenant_id: str, user_id: str, key: str, wanted: IdempotencyClaim) -> IdempotencyClaim | None:
        values = {
            "tenant_id": tenant_id,
            "user_id": user_id,
            "key": key,
            "fingerprint": wanted.fingerprint,
            "owner": wanted.owner,
            "state": wanted.state,
            "created_at": wanted.created_at,
            "locked_until": wanted.locked_until,
            "expires_at": wanted.expires_at,
            "status": None,
            "response": None,
        }
        self._claims += 1
        with sql_errors(), self._write() as conn:
            if self._claims % self.PURGE_EVERY == 0:
                conn.execute(delete(idempotency_key).where(idempotency_key.c.expires_at <= wanted.created_at))
            if self._insert(conn, values):
                return None
            row = conn.execute(select(idempotency_key).where(self._key(tenant_id, user_id, key))).first()
            if row is None:  # purged between the two statements (PostgreSQL): try once more
                return None if self._insert(conn, values) else self.claim(tenant_id, user_id, key, wanted)
            held = _claim(row)
            stale = held.expires_at <= wanted.created_at or (
                held.state == "in_flight" and held.locked_until <= wanted.created_at
            )
            if not stale:
                return held
            taken = conn.execute(
                idempotency_key.update()
                .where(self._key(tenant_id, user_id, key), idempotency_key.c.owner == held.owner)
                .values(**{k: v for k, v in values.items() if k not in ("tenant_id", "user_id", "key")})
            ).rowcount
            return None if taken else held

    def get(self, tenant_id: str, user_id: str, key: str) -> IdempotencyClaim | None:
        with sql_errors(), self._store.engine.connect() as conn:
            row = conn.execute(select(idempotency_key).where(self._key(tenant_id, user_id, key))).first()
        return _claim(row) if row is not None else None

    def complete(
        self, tenant_id: str, user_id: str, key: str, owner: str, status: int, response: dict[str, Any]
    ) -> None:
        with sql_errors(), self._write() as conn:
            conn.execute(
                idempotency_key.update()
                .where(self._key(tenant_id, user_id, key), idempotency_key.c.owner == owner)
                .values(state="done", status=status, response=response)
            )

    def release(self, tenant_id: str, user_id: str, key: str, owner: str) -> None:
        with sql_errors(), self._write() as conn:
            conn.execute(
                delete(idempotency_key).where(self._key(tenant_id, user_id, key), idempotency_key.c.owner == owner)
            )


def create_sync_indexes(store: SqlStore) -> builtins.list[str]:
    """Create the sync lists' indexes (`SYNC_INDEXES`) on tables made before them; answer
    those created. Safe to run again."""
    created = []
    with sql_errors(), store.engine.begin() as conn:
        for index in SYNC_INDEXES:
            table = index.table
            assert table is not None
            if index.name not in _index_names(conn, table.name):
                index.create(conn)
                created.append(str(index.name))
    return created


def _index_names(conn: Any, table: str) -> set[str]:
    """Every index of `table` by name, expression indexes included (reflection skips those)."""
    if conn.dialect.name == "postgresql":
        query = text("SELECT indexname FROM pg_indexes WHERE tablename = :t AND schemaname = current_schema()")
    else:
        query = text("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = :t")
    return {row[0] for row in conn.execute(query, {"t": table})}


# Sync lists (`updated_since`): pages in change order through these indexes, so a page costs
# what it holds, not the tenant's history.
SYNC_INDEXES = [
    *(
        Index(f"ix_{table.name}_changes", table.c.tenant_id, table.c.updated_at, table.c.id)
        for table in (*CATALOGUE_TABLES.values(), time_entry)
    ),
    Index(
        "ix_time_entry_owner_changes",
        time_entry.c.tenant_id,
        time_entry.c.owner_id,
        time_entry.c.updated_at,
        time_entry.c.id,
    ),
]


def _change_clauses(table: Table, live_only: bool) -> builtins.list[Any]:
    clauses = [
        table.c.tenant_id == bindparam("tenant"),
        # A row-value comparison: one range of the (tenant, updated_at, id) index.
        tuple_(table.c.updated_at, table.c.id) > tuple_(bindparam("at"), bindparam("after_id")),
        table.c.updated_at <= bindparam("until"),
    ]
    if live_only:
        clauses.append(table.c.deleted.is_(None))
    return clauses


def _change_params(tenant: str, query: ChangeQuery) -> dict[str, Any]:
    return {
        "tenant": tenant,
        "at": query.after[0],
        "after_id": query.after[1],
        "until": query.until,
        "limit": query.limit,
    }


def catalogue_changes(repository: SqlCatalogue, query: ChangeQuery) -> builtins.list[Record]:
    """A page of a catalogue's sync list (repository.ChangeQuery)."""
    t = repository._table
    live_only = repository.marker and not query.include_deleted

    def build() -> Any:
        return (
            select(t)
            .where(*_change_clauses(t, live_only))
            .order_by(t.c.updated_at, t.c.id)
            .limit(bindparam("limit", type_=Integer, literal_execute=True))
        )

    rows = repository._uow.conn.execute(
        _statement(("changes", t.name, live_only), build), _change_params(repository._uow.actor.tenant_id, query)
    )
    return [{**_record_from(dict(r._mapping), repository.marker), "updated_at": r.updated_at} for r in rows]


def time_entry_changes(repository: SqlTimeEntries, query: ChangeQuery) -> builtins.list[Record]:
    """A page of the time entries' sync list, with the joined names."""
    t = time_entry
    owners = None if query.owners is None else ("one" if len(query.owners) == 1 else "many")

    def build() -> Any:
        clauses = _change_clauses(t, not query.include_deleted)
        if owners == "one":
            clauses.append(t.c.owner_id == bindparam("owner"))
        elif owners == "many":
            clauses.append(t.c.owner_id.in_(bindparam("owners", expanding=True)))
        return (
            select(*_NAMED_COLUMNS, t.c.updated_at.label("changed_at"))
            .select_from(_NAMED_SOURCE)
            .where(*clauses)
            .order_by(t.c.updated_at, t.c.id)
            .limit(bindparam("limit", type_=Integer, literal_execute=True))
        )

    params = _change_params(repository._uow.actor.tenant_id, query)
    if query.owners is not None:
        params["owner" if owners == "one" else "owners"] = query.owners[0] if owners == "one" else list(query.owners)
    rows = repository._uow.conn.execute(
        _statement(("changes", "time_entry", owners, query.include_deleted), build), params
    )
    answered = []
    for row in rows:
        mapping = dict(row._mapping)
        changed_at = mapping.pop("changed_at")
        answered.append({**_record_from(mapping, True), "updated_at": changed_at})
    return answered
