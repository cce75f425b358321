"""Bulk seeding of a benchmark tenant straight into the SQL tables (fast, realistic shape)."""

from __future__ import annotations

import random
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any

from sqlalchemy import insert

from commons.data_access_layer.sql import SqlStore, activity, app_user, customer, project, time_entry
from commons.domain.cleaning import name_key
from commons.domain.clock import current_month_window

H = 3_600_000


@dataclass
class Tenant:
    tenant_id: str
    user_id: str
    admin_id: str
    project_ids: list[str] = field(default_factory=list)
    activity_ids: list[str] = field(default_factory=list)
    users: list[str] = field(default_factory=list)


def _row(tenant: str, **values: Any) -> dict[str, Any]:
    now = int(time.time() * 1000)
    ctx = {"event_id": uuid.uuid4().hex, "user_id": "seed", "tenant_id": tenant, "action": "create"}
    return {
        "tenant_id": tenant,
        "id": str(uuid.uuid4()),
        "etag": uuid.uuid4().hex,
        "last_event_ctx": ctx,
        "created_at": now,
        "updated_at": now,
        **values,
        **({"name_key": name_key(values["name"])} if "name" in values else {}),
    }


def seed_tenant(
    store: SqlStore, total_entries: int, month_entries: int = 200, users: int = 50, seed: int = 7
) -> Tenant:
    """A tenant of `total_entries` entries; the bench user has `month_entries` this month."""
    rng = random.Random(seed)
    tenant = Tenant(str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4()))
    tenant.users = [tenant.user_id] + [str(uuid.uuid4()) for _ in range(users - 1)]
    now = int(time.time() * 1000)
    month = current_month_window(now, UTC)
    with store.engine.begin() as conn:
        customers = [_row(tenant.tenant_id, name=f"Customer {i}", status="active") for i in range(5)]
        conn.execute(insert(customer), customers)
        projects = [
            _row(
                tenant.tenant_id,
                name=f"Project {i}",
                status="active",
                customer_id=customers[i % 5]["id"],
                technologies=[],
            )
            for i in range(20)
        ]
        conn.execute(insert(project), projects)
        activities = [_row(tenant.tenant_id, name=f"Activity {i}", status="active") for i in range(5)]
        conn.execute(insert(activity), activities)
        conn.execute(
            insert(app_user),
            [
                {
                    "tenant_id": tenant.tenant_id,
                    "id": u,
                    "email": f"user{i}@example.com",
                    "name": f"User {i}",
                    "updated_at": now,
                }
                for i, u in enumerate(tenant.users)
            ],
        )
        tenant.project_ids = [p["id"] for p in projects]
        tenant.activity_ids = [a["id"] for a in activities]
        rows: list[dict[str, Any]] = []

        def entry(owner: str, start: int, end: int | None) -> dict[str, Any]:
            return _row(
                tenant.tenant_id,
                owner_id=owner,
                project_id=rng.choice(tenant.project_ids),
                activity_id=rng.choice(tenant.activity_ids),
                description="Seeded work",
                uri=None,
                technologies=["python"],
                timezone_offset=300,
                start_at=start,
                end_at=end,
                deleted=None,
            )

        # The bench user's month: back-to-back 30-minute entries from the month start, then a running one.
        slot = max(1, (min(now, month.end) - month.start - H) // (month_entries + 1))
        for i in range(month_entries):
            start = month.start + i * slot
            rows.append(entry(tenant.user_id, start, start + min(slot, 30 * 60_000)))
        rows.append(entry(tenant.user_id, month.start + month_entries * slot, None))
        # History: every user, one hour a slot, going back from the month start.
        history = max(0, total_entries - len(rows))
        per_user = max(1, history // users)
        for n in range(history):
            owner = tenant.users[n % users]
            start = month.start - (n // users + 1) * 2 * H
            rows.append(entry(owner, start, start + H))
            if len(rows) >= 5000:
                conn.execute(insert(time_entry), rows)
                rows = []
        del per_user
        if rows:
            conn.execute(insert(time_entry), rows)
    if store.engine_name == "sqlite":
        # Steady state: the bulk load folded into the database file, not left in the WAL.
        with store.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    else:
        with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("ANALYZE")
    return tenant


def seed_tenant_through_store(
    store: Any, total_entries: int, month_entries: int = 200, users: int = 20, seed: int = 7
) -> Tenant:
    """The same shape through the repository contract (any engine; slower than bulk SQL)."""
    from commons.data_access_layer.events import Actor

    rng = random.Random(seed)
    tenant = Tenant(str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4()))
    tenant.users = [tenant.user_id] + [str(uuid.uuid4()) for _ in range(users - 1)]
    now = int(time.time() * 1000)
    month = current_month_window(now, UTC)
    admin = Actor(tenant.admin_id, tenant.tenant_id, "admin@example.com", is_admin=True)
    with store.unit_of_work(admin, write=True) as uow:
        customers = [uow.customers.add({"name": f"Customer {i}"}) for i in range(5)]
        tenant.project_ids = [
            uow.projects.add({"name": f"Project {i}", "customer_id": customers[i % 5]["id"]})["id"] for i in range(20)
        ]
        tenant.activity_ids = [uow.activities.add({"name": f"Activity {i}"})["id"] for i in range(5)]
    for i, user in enumerate(tenant.users):
        with store.unit_of_work(Actor(user, tenant.tenant_id, f"user{i}@example.com"), write=True) as uow:
            uow.users.remember(uow.actor)
    slot = max(1, (min(now, month.end) - month.start - H) // (month_entries + 1))
    plan: list[tuple[str, int, int | None]] = [
        (tenant.user_id, month.start + i * slot, month.start + i * slot + min(slot, 30 * 60_000))
        for i in range(month_entries)
    ]
    plan.append((tenant.user_id, month.start + month_entries * slot, None))
    for n in range(max(0, total_entries - len(plan))):
        start = month.start - (n // users + 1) * 2 * H
        plan.append((tenant.users[n % users], start, start + H))
    with store.unit_of_work(Actor(tenant.user_id, tenant.tenant_id), write=True) as uow:
        for owner, start, end in plan:
            uow.time_entries.add(
                {
                    "owner_id": owner,
                    "project_id": rng.choice(tenant.project_ids),
                    "activity_id": rng.choice(tenant.activity_ids),
                    "description": "Seeded work",
                    "technologies": ["python"],
                    "timezone_offset": 300,
                    "start_at": start,
                    "end_at": end,
                }
            )
    return tenant
