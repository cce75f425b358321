"""One-off upkeep of name keys (migration 09): every catalogue row gets its `name_key`
(`cleaning.name_key` of its name, which the repository writes on every add and name change),
and the live-name unique index moves from `lower(name)` (ASCII letters only) to it.

A database may already hold live items whose names differ only in the case of non-ASCII
letters ("Ñandú" and "ñandú"), which `lower(name)` let through. The oldest of them (by
`created_at`, then id) keeps the key; the later ones are left with a NULL key, which the
unique index does not count, and a warning names the tenant and the items: they keep their
names until renamed (as Cosmos keeps a duplicate stored before its name guards).
"""

from __future__ import annotations

import builtins
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Index, Table, bindparam, func, select, text, tuple_

from commons.data_access_layer.repository import CATALOGUES, CatalogueSpec
from commons.data_access_layer.sql.engine import sql_errors
from commons.data_access_layer.sql.tables import CATALOGUE_TABLES, _live
from commons.domain.cleaning import name_key

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from commons.data_access_layer.sql.store import SqlStore

log = logging.getLogger(__name__)

#: Rows read and written per transaction.
BATCH = 1000


@dataclass(frozen=True)
class Duplicate:
    """A live item left without a name key: `holder` (older) has the same name's key."""

    container: str
    tenant_id: str
    item_id: str
    name: str
    holder_id: str


def old_index_name(spec: CatalogueSpec) -> str:
    """The unique index on `lower(name)` that tables made before migration 09 have."""
    return f"ux_{spec.container}_live_name"


def key_index(table: Table) -> Index:
    """The live-name unique index on `name_key` (tables.py)."""
    [index] = [i for i in table.indexes if i.name == f"ux_{table.name}_live_name_key"]
    return index


def key_names(store: SqlStore, batch: int | None = None) -> builtins.list[Duplicate]:
    """Add the `name_key` column where it is missing, key every row that has none, and put the
    unique index on it in place of the `lower(name)` one; answer the live duplicates left
    without a key. Safe to run again.

    Rows are keyed in transactions of `batch` rows (default `BATCH`); then each table is locked
    against writers for a last pass (rows written meanwhile, by either version), the settling
    of live rows that came to share a key, and the swap of its indexes."""
    size = batch or BATCH
    store.add_missing_columns(spec.container for spec in CATALOGUES)
    duplicates: dict[tuple[str, str, str], Duplicate] = {}
    for spec in CATALOGUES:
        table = CATALOGUE_TABLES[spec.container]
        after: tuple[Any, ...] | None = ()
        while after is not None:
            with sql_errors(), store.writing() as conn:
                after = _key_batch(conn, spec, table, after, size, duplicates)
        with sql_errors(), store.writing() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text(f"LOCK TABLE {table.name} IN SHARE ROW EXCLUSIVE MODE"))
            after = ()
            while after is not None:
                after = _key_batch(conn, spec, table, after, size, duplicates)
            _settle(conn, spec, table, duplicates)
            _swap_indexes(conn, spec, table)
    found = builtins.list(duplicates.values())
    _warn(found)
    return found


def _key_batch(
    conn: Connection,
    spec: CatalogueSpec,
    table: Table,
    after: tuple[Any, ...],
    size: int,
    duplicates: dict[tuple[str, str, str], Duplicate],
) -> tuple[Any, ...] | None:
    """Key the next `size` rows without a key after `after` (tenant, created_at, id), oldest
    first in each tenant; answer where the next batch starts, None when none is left."""
    t = table
    scope = [t.c[f] for f in spec.unique_scope]
    order = (t.c.tenant_id, t.c.created_at, t.c.id)
    live = _live(t, spec)
    stmt = select(*order, t.c.name, *scope, live.label("live")).where(t.c.name_key.is_(None))
    if after:
        stmt = stmt.where(tuple_(*order) > tuple_(*after))
    rows = conn.execute(stmt.order_by(*order).limit(size)).all()
    if not rows:
        return None

    def slot(row: Any, key: str) -> tuple[str, ...]:
        return (row["tenant_id"], *(str(row[f] or "") for f in spec.unique_scope), key)

    keys = {row.id: name_key(str(row.name)) for row in rows}
    live_keys = sorted({keys[row.id] for row in rows if row.live})
    held: dict[tuple[str, ...], str] = {}
    if live_keys:
        holders = conn.execute(
            select(t.c.tenant_id, t.c.id, t.c.name_key, *scope).where(
                live,
                t.c.tenant_id.in_(sorted({row.tenant_id for row in rows})),
                t.c.name_key.in_(live_keys),
            )
        )
        held = {slot(h._mapping, h.name_key): h.id for h in holders}
    updates = []
    for row in rows:
        key = keys[row.id]
        if row.live:
            taken = slot(row._mapping, key)
            holder = held.get(taken)
            if holder is not None and holder != row.id:
                duplicates[(spec.container, row.tenant_id, row.id)] = Duplicate(
                    spec.container, row.tenant_id, row.id, row.name, holder
                )
                continue
            held[taken] = row.id
        updates.append({"w_tenant": row.tenant_id, "w_id": row.id, "key": key})
    if updates:
        conn.execute(
            t.update()
            .where(t.c.tenant_id == bindparam("w_tenant"), t.c.id == bindparam("w_id"))
            .values(name_key=bindparam("key")),
            updates,
        )
    last = rows[-1]
    return (last.tenant_id, last.created_at, last.id) if len(rows) == size else None


def _settle(
    conn: Connection, spec: CatalogueSpec, table: Table, duplicates: dict[tuple[str, str, str], Duplicate]
) -> None:
    """Live rows that share a key although each was keyed alone: written by the new version
    while the old `lower(name)` index still stood ("Ñandú" and "ñandú" both pass it), or keyed
    by it before the batches reached an older namesake. The oldest keeps the key, as in the
    batches; without this the new index could not be built, now or on any rerun."""
    t = table
    scope = [func.coalesce(t.c[f], "") for f in spec.unique_scope]
    live = _live(t, spec)
    shared = (
        select(t.c.tenant_id, *scope, t.c.name_key)
        .where(live, t.c.name_key.is_not(None))
        .group_by(t.c.tenant_id, *scope, t.c.name_key)
        .having(func.count() > 1)
    )
    for group in conn.execute(shared).all():
        tenant, *values, key = group
        same = [t.c[f] for f in spec.unique_scope]
        rows = conn.execute(
            select(t.c.id, t.c.name)
            .where(live, t.c.tenant_id == tenant, t.c.name_key == key)
            .where(*(func.coalesce(column, "") == value for column, value in zip(same, values, strict=True)))
            .order_by(t.c.created_at, t.c.id)
        ).all()
        holder = rows[0].id
        for row in rows[1:]:
            duplicates[(spec.container, tenant, row.id)] = Duplicate(spec.container, tenant, row.id, row.name, holder)
            conn.execute(t.update().where(t.c.tenant_id == tenant, t.c.id == row.id).values(name_key=None))
    _oldest_keeps(conn, spec, table, duplicates)


def _oldest_keeps(
    conn: Connection, spec: CatalogueSpec, table: Table, duplicates: dict[tuple[str, str, str], Duplicate]
) -> None:
    """A row left without a key because a younger one (the new version's) got there first
    takes the key back: the oldest keeps it, whoever wrote it (oldest first, so it wins)."""
    mine = [(d.tenant_id, d.item_id) for d in duplicates.values() if d.container == spec.container]
    if not mine:
        return
    t = table
    live = _live(t, spec)
    order = (t.c.created_at, t.c.id)
    columns = (t.c.tenant_id, t.c.id, t.c.name, *order, *[t.c[f] for f in spec.unique_scope])
    left = conn.execute(
        select(*columns).where(live, t.c.name_key.is_(None), tuple_(t.c.tenant_id, t.c.id).in_(mine)).order_by(*order)
    ).all()
    for row in left:
        key = name_key(str(row.name))
        in_scope = [func.coalesce(t.c[f], "") == (row._mapping[f] or "") for f in spec.unique_scope]
        holder = conn.execute(
            select(t.c.id, t.c.name, *order).where(live, t.c.tenant_id == row.tenant_id, t.c.name_key == key, *in_scope)
        ).first()
        if holder is None or (holder.created_at, holder.id) < (row.created_at, row.id):
            continue
        conn.execute(t.update().where(t.c.tenant_id == row.tenant_id, t.c.id == holder.id).values(name_key=None))
        conn.execute(t.update().where(t.c.tenant_id == row.tenant_id, t.c.id == row.id).values(name_key=key))
        del duplicates[(spec.container, row.tenant_id, row.id)]
        for found in [d for d in duplicates.values() if d.holder_id == holder.id and d.tenant_id == row.tenant_id]:
            duplicates[(found.container, found.tenant_id, found.item_id)] = Duplicate(
                found.container, found.tenant_id, found.item_id, found.name, row.id
            )
        duplicates[(spec.container, row.tenant_id, holder.id)] = Duplicate(
            spec.container, row.tenant_id, holder.id, holder.name, row.id
        )


def _swap_indexes(conn: Connection, spec: CatalogueSpec, table: Table) -> None:
    from commons.data_access_layer.sql.integrations import _index_names

    present = _index_names(conn, table.name)
    if old_index_name(spec) in present:
        conn.execute(text(f"DROP INDEX {old_index_name(spec)}"))
    index = key_index(table)
    if index.name not in present:
        index.create(conn)


def _warn(duplicates: builtins.list[Duplicate]) -> None:
    groups: dict[tuple[str, str, str], builtins.list[Duplicate]] = {}
    for found in duplicates:
        groups.setdefault((found.container, found.tenant_id, found.holder_id), []).append(found)
    for (container, tenant, holder), items in groups.items():
        log.warning(
            "tenant %s: live %s items %s have the name of %s (the oldest, which keeps it) in another "
            "case; they are left without a name key and keep their names until renamed",
            tenant,
            container,
            ", ".join(f"{d.item_id} ({d.name!r})" for d in items),
            holder,
        )
