"""Sync pages cost what they hold: the change query runs on the (tenant, updated_at, id)
index, a range from the cursor, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import event, text

from commons.data_access_layer.events import Actor
from commons.data_access_layer.repository import CUSTOMERS, ChangeQuery


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_the_change_query_uses_the_changes_index(store: Any, tenant: str) -> None:
    query = ChangeQuery(after=(0, ""), until=2**60, limit=10, owners=("someone",))
    captured: list[tuple[str, Any]] = []
    with store.unit_of_work(Actor("u", tenant)) as uow:
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
