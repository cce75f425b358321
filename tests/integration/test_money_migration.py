"""Step 06 brings a store made before TT-16 up to date: the `money` table, and `billable` on
customers, projects and entries (null: as the level above), with its data kept."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

import migrations
from commons.data_access_layer.sql import SqlStore
from tests.api.test_time_entries_api import entry, set_now
from tests.conftest import Client, own_sql_store, settings_for_tests, token_for
from time_tracker_api import create_app


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlStore]:
    store = own_sql_store(request, tmp_path, "money")
    yield store
    store.dispose()


def _as_before_step_06(store: SqlStore) -> None:
    """What a store migrated up to step 05 looked like."""
    with store.engine.begin() as conn:
        for table in ("customer", "project", "time_entry"):
            conn.execute(text(f"ALTER TABLE {table} DROP COLUMN billable"))
        conn.execute(text("DROP TABLE money"))
        conn.execute(text("DELETE FROM migration WHERE name LIKE '06%'"))


def test_step_06_adds_money_to_an_existing_store_and_old_entries_follow_their_project(
    fresh_store: SqlStore,
) -> None:
    app = create_app(settings_for_tests(), store=fresh_store)
    set_now(app, "2024-06-15T00:00:00Z")
    tenant, admin_id = str(uuid.uuid4()), str(uuid.uuid4())
    admin = Client(app.test_client(), token_for(tenant, admin_id, admin=True))
    customer = admin.post("/customers", {"name": "Acme"})
    project = admin.post("/projects", {"name": "Website", "customer_id": customer["id"]})
    activity = admin.post("/activities", {"name": "Development"})
    setup = {"project": project, "activity": activity}
    admin.post("/time-entries", entry(setup, "2024-05-02T09:00:00Z", "2024-05-02T10:30:00Z"))
    _as_before_step_06(fresh_store)

    migrations.migrate(fresh_store)
    migrations.migrate(fresh_store)  # safe to repeat

    app = create_app(settings_for_tests(), store=fresh_store)
    set_now(app, "2024-06-15T00:00:00Z")
    admin = Client(app.test_client(), token_for(tenant, admin_id, admin=True))
    [old] = admin.get("/time-entries?start_date=2024-05-01&end_date=2024-05-31")
    assert old["billable"] is None  # stored before the field existed
    admin.post("/money/rates", {"amount": 10000})
    report = admin.get("/time-entries/report?start_date=2024-05-01&end_date=2024-05-31")
    assert (report["total"]["billable_seconds"], report["total"]["amount"]) == (5400, 15000)
    admin.put(f"/projects/{project['id']}", {"billable": False})
    again: dict[str, Any] = admin.get("/time-entries/report?start_date=2024-05-01&end_date=2024-05-31")
    assert again["total"]["amount"] == 0 and again["entries"][0]["billable"] is False
