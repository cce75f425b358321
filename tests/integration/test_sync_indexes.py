"""Sync pages cost what they hold: the change query runs on the (tenant, updated_at, id)
index, a range from the cursor, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import event, text

from commons.data_access_layer.events import Actor
from commons.data_access_layer.repository import CUSTOMERS, ChangeQuery


def fill_customers(store: Any, tenant: str, count: int) -> None:
    """A tenant with a history, and fresh statistics: on a near-empty table PostgreSQL's planner
    may pick any index (every plan costs the same), so the choice would depend on what other
    tests wrote before."""
    from sqlalchemy import insert

    from commons.data_access_layer.sql import metadata

    now = 1_767_225_600_000
    rows = [
        {
            "tenant_id": tenant,
            "id": f"c-{n:05d}",
            "etag": "e",
            "last_event_ctx": {},
            "created_at": now + n,
            "updated_at": now + n,
            "name": f"Customer {n:05d}",
        }
        for n in range(count)
    ]
    with store.engine.begin() as conn:
        conn.execute(insert(metadata.tables["customer"]), rows)
        if conn.dialect.name == "postgresql":
            conn.execute(text("ANALYZE customer"))


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_the_change_query_uses_the_changes_index(store: Any, tenant: str) -> None:
    fill_customers(store, tenant, 2_000)
    query = ChangeQuery(after=(0, ""), until=2**60, limit=10, owners=("someone",))
    captured: list[tuple[str, Any]] = []
    with store.unit_of_work(Actor("u", tenant), write=True) as uow:  # SET LOCAL needs a transaction
        conn = uow.conn

        def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
            captured.append((statement, parameters))

        event.listen(conn, "before_cursor_execute", capture)
        try:
            uow.catalogue(CUSTOMERS).changes(query)
            uow.time_entries.changes(query)
        finally:
            event.remove(conn, "before_cursor_execute", capture)
        plans = []
        for statement, parameters in captured:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SET LOCAL enable_seqscan = off"))
                rows = conn.exec_driver_sql("EXPLAIN " + statement, parameters).fetchall()
            else:
                rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).fetchall()
            plans.append(" ".join(str(r[-1]) for r in rows))
    assert "ix_customer_changes" in plans[0], plans[0]
    # Per owner or tenant-wide: either is a range in change order (PostgreSQL picks by statistics).
    assert re.search(r"ix_time_entry_(owner_)?changes", plans[1]), plans[1]


def test_migration_07_adds_the_sync_indexes_to_tables_made_before_it(tmp_path: Any) -> None:
    import migrations
    from commons.data_access_layer.sql import SqlStore
    from commons.data_access_layer.sql.integrations import SYNC_INDEXES, _index_names

    target = SqlStore(f"sqlite:///{tmp_path / 'old.db'}")
    try:
        migrations.migrate(target)
        with target.engine.begin() as conn:  # as a database made before TT-15 was
            for index in SYNC_INDEXES:
                conn.execute(text(f"DROP INDEX {index.name}"))
        target.remove_migration_record("07_sync_tokens")
        migrations.migrate(target)
        migrations.migrate(target)  # and again: nothing to do
        with target.engine.connect() as conn:
            for index in SYNC_INDEXES:
                assert index.table is not None
                assert index.name in _index_names(conn, index.table.name)
    finally:
        target.dispose()
