"""The store goes away in the middle of a run: quick 503 JSON, nothing half-written, and the
service recovers when the store comes back, without a restart."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

import migrations
from commons.data_access_layer.sql import CLIENT_GRACE_S, SqlStore
from tests.conftest import Client, settings_for_tests, token_for, unavailable
from tests.tools.postgres import PostgresServer, start_postgres
from time_tracker_api import create_app


@pytest.fixture(scope="module")
def own_postgres() -> Iterator[PostgresServer | None]:
    try:
        server = start_postgres(durable=True)
    except (RuntimeError, OSError):
        yield None
        return
    yield server
    server.remove()


def test_postgresql_stopped_midway_gives_quick_503s_then_recovers(own_postgres: PostgresServer | None) -> None:
    if own_postgres is None:
        unavailable("PostgreSQL could not start")
    store = SqlStore(own_postgres.url)
    migrations.migrate(store)
    app = create_app(settings_for_tests(), store=store)
    tenant = str(uuid.uuid4())
    admin = Client(app.test_client(), token_for(tenant, admin=True))
    customer = admin.post("/customers", {"name": "Before"})
    project = admin.post("/projects", {"name": "P", "customer_id": customer["id"]})
    activity = admin.post("/activities", {"name": "A"})
    body: dict[str, Any] = {"project_id": project["id"], "activity_id": activity["id"]}
    admin.post("/time-entries", {**body, "start_date": "2024-05-01T09:00:00Z", "end_date": "2024-05-01T10:00:00Z"})

    own_postgres.stop(mode="immediate")
    try:
        began = time.monotonic()
        assert admin.get("/health", expect=503)["status"] == "unavailable"
        assert "unavailable" in admin.get("/customers", expect=503)["message"].lower()
        admin.post("/customers", {"name": "During"}, expect=503)
        admin.post(
            "/time-entries",
            {**body, "start_date": "2024-05-02T09:00:00Z", "end_date": "2024-05-02T10:00:00Z"},
            expect=503,
        )
        admin.get("/time-entries/running", expect=503)
        assert time.monotonic() - began < 10, "503s must come quickly, not after long timeouts"
    finally:
        own_postgres.start()

    deadline = time.monotonic() + 20
    while admin.http.get("/health").status_code != 200:
        assert time.monotonic() < deadline, "the service did not recover"
        time.sleep(0.2)
    assert [c["name"] for c in admin.get("/customers")] == ["Before"]
    entries = admin.get("/time-entries?start_date=2024-05-01&end_date=2024-05-31")
    assert [e["start_date"] for e in entries] == ["2024-05-01T09:00:00.000Z"]
    admin.post("/customers", {"name": "After"})
    admin.post("/time-entries", {**body, "start_date": "2024-05-02T09:00:00Z", "end_date": "2024-05-02T10:00:00Z"})
    store.dispose()


TIMEOUT_S, CONNECT_S = 2.0, 2


def test_a_frozen_postgresql_gives_503_within_the_timeout_then_recovers(own_postgres: PostgresServer | None) -> None:
    """SIGSTOP (not a stop): the server keeps its sockets and answers nothing. Every request
    ends within the configured timeout as a 503, and after SIGCONT the service serves again."""
    if own_postgres is None:
        unavailable("PostgreSQL could not start")
    store = SqlStore(own_postgres.url, statement_timeout_s=TIMEOUT_S, connect_timeout_s=CONNECT_S)
    migrations.migrate(store)
    app = create_app(settings_for_tests(db_statement_timeout_seconds=TIMEOUT_S), store=store)
    admin = Client(app.test_client(), token_for(str(uuid.uuid4()), admin=True))
    admin.post("/customers", {"name": "Before"})
    # At worst a pooled connection times out (statement timeout + grace) and the pool's one
    # reconnect attempt times out too (connect timeout).
    budget = TIMEOUT_S + CLIENT_GRACE_S + CONNECT_S + 0.5
    took: list[float] = []
    own_postgres.freeze()
    try:
        for call in (
            lambda: admin.get("/health", expect=503),
            lambda: admin.get("/customers", expect=503),
            lambda: admin.post("/customers", {"name": "During"}, expect=503),
            lambda: admin.get("/health", expect=503),
        ):
            began = time.monotonic()
            call()
            took.append(time.monotonic() - began)
    finally:
        own_postgres.thaw()
    assert max(took) < budget, f"503s took {took} (budget {budget}s)"
    deadline = time.monotonic() + 20
    while admin.http.get("/health").status_code != 200:
        assert time.monotonic() < deadline, "the service did not recover"
        time.sleep(0.2)
    assert [c["name"] for c in admin.get("/customers")] == ["Before"]
    admin.post("/customers", {"name": "After"})
    print(f"frozen PostgreSQL: 503s after {', '.join(f'{t:.2f}s' for t in took)}")
    store.dispose()
