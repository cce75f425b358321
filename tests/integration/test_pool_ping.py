"""Round trips to PostgreSQL (TT-17), read from the client's own protocol trace: pooled
connections are pinged only when in doubt (one the server closed is still replaced before a
request sees it), a unit of work opened for reading sends its statements alone, without
BEGIN and COMMIT (at READ COMMITTED each statement has its own snapshot either way), and one
that writes sends BEGIN before anything else."""

from __future__ import annotations

import os
import tempfile
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import text

import migrations
from commons.data_access_layer.events import Actor
from commons.data_access_layer.sql import SqlStore
from commons.data_access_layer.sql.engine import TRUSTED_IDLE_S, ReadOnlyUnit, build_engine
from tests.conftest import unavailable
from tests.tools.postgres import PostgresServer, terminate_backend


@pytest.fixture
def engine(postgres: PostgresServer | None) -> Iterator[Any]:
    if postgres is None:
        unavailable("PostgreSQL could not start")
    built = build_engine(postgres.url)
    yield built
    built.dispose()


def traced(engine: Any) -> tuple[Any, str]:
    """The pool's one connection, its libpq protocol trace going to a file (psycopg's
    `PGconn.trace`): what the client really sends, pings included."""
    with engine.connect() as conn:
        conn.execute(text("SELECT 2"))
        conn.commit()
        record = conn.connection._connection_record
        handle, path = tempfile.mkstemp(suffix=".trace")
        conn.connection.dbapi_connection.pgconn.trace(handle)
    return record, path


def frontend_messages(path: str) -> list[str]:
    """Every message the client sent, in order: `Query BEGIN`, `Parse`, `Bind`, ..."""
    with open(path) as trace:
        fields = [line.rstrip("\n").split("\t") for line in trace if "\tF\t" in line]
    return [f"{f[3]} {f[4].strip().strip(chr(34))}" if f[3] == "Query" else f[3] for f in fields]


def sent(path: str) -> list[str]:
    """The simple-protocol queries the client sent, in order."""
    return [message.split(" ", 1)[1] for message in frontend_messages(path) if message.startswith("Query ")]


def pings(path: str) -> int:
    return sent(path).count("SELECT 1")


def test_a_connection_in_steady_use_is_not_pinged(engine: Any) -> None:
    record, path = traced(engine)
    for _ in range(5):
        with engine.connect() as conn:
            assert conn.connection._connection_record is record
            assert conn.execute(text("SELECT 3")).scalar_one() == 3
    assert pings(path) == 0
    os.unlink(path)


def test_a_connection_idle_too_long_is_pinged_before_use(engine: Any) -> None:
    record, path = traced(engine)
    record.info["tt_idle_since"] = time.monotonic() - TRUSTED_IDLE_S - 1
    with engine.connect() as conn:
        assert conn.connection._connection_record is record
        assert conn.execute(text("SELECT 3")).scalar_one() == 3
    assert pings(path) == 1
    # Pinged in autocommit: no ROLLBACK, after which psycopg would drop its prepared statements.
    assert sent(path)[:2] == ["SELECT 1", "BEGIN"]
    os.unlink(path)


def test_a_connection_the_server_closed_is_replaced_before_the_request_uses_it(
    engine: Any, postgres: PostgresServer
) -> None:
    with engine.connect() as conn:
        victim = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
    terminate_backend(postgres.url, victim)
    deadline = time.monotonic() + 5
    with engine.connect() as conn:  # a pooled connection whose server is gone: no error here
        while conn.execute(text("SELECT pg_backend_pid()")).scalar_one() == victim:
            assert time.monotonic() < deadline
    assert engine.pool.checkedin() == 1


def test_a_read_unit_sends_its_statements_without_begin_or_commit(postgres: PostgresServer | None) -> None:
    if postgres is None:
        unavailable("PostgreSQL could not start")
    store = SqlStore(postgres.url)
    migrations.migrate(store)
    actor = Actor(tenant_id=str(uuid.uuid4()), user_id=str(uuid.uuid4()))
    with store.unit_of_work(actor, write=True) as uow:
        uow.customers.add({"name": "Traced"})
    _, path = traced(store.engine)
    with store.unit_of_work(actor) as uow:
        assert [c["name"] for c in uow.customers.list()] == ["Traced"]
    assert "BEGIN" not in sent(path) and "COMMIT" not in sent(path)
    with store.unit_of_work(actor, write=True) as uow:
        uow.customers.add({"name": "Written"})
    assert sent(path)[-1] == "COMMIT"  # writes keep their transaction
    with pytest.raises(ReadOnlyUnit), store.unit_of_work(actor) as uow:
        uow.customers.add({"name": "Not atomic"})
    with pytest.raises(ReadOnlyUnit), store.unit_of_work(actor) as uow:
        uow.time_entries.lock_owner(actor.user_id)
    store.dispose()
    os.unlink(path)


def test_a_write_unit_is_one_transaction_begun_before_its_first_statement(
    postgres: PostgresServer | None,
) -> None:
    """The driver stays in autocommit (engine.py); a write unit's BEGIN is sent by the engine
    before anything else of the unit, so no statement of it runs outside its transaction."""
    if postgres is None:
        unavailable("PostgreSQL could not start")
    store = SqlStore(postgres.url)
    migrations.migrate(store)
    actor = Actor(tenant_id=str(uuid.uuid4()), user_id=str(uuid.uuid4()))
    _, path = traced(store.engine)
    with store.unit_of_work(actor, write=True) as uow:
        assert uow.conn.connection.driver_connection.info.transaction_status == 2  # INTRANS
        uow.time_entries.lock_owner(actor.user_id)
        uow.customers.add({"name": "In one transaction"})
    messages = frontend_messages(path)
    assert messages[0] == "Query BEGIN" and messages[-1] == "Query COMMIT"
    assert messages.count("Query BEGIN") == 1 and {"Parse", "Bind"} & set(messages)
    with pytest.raises(RuntimeError), store.unit_of_work(actor, write=True) as uow:
        uow.customers.add({"name": "Rolled back"})
        raise RuntimeError("after the first write")
    with store.unit_of_work(actor) as uow:
        assert [c["name"] for c in uow.customers.list()] == ["In one transaction"]
    store.dispose()
    os.unlink(path)


def test_a_read_unit_changes_no_setting_of_its_connection(postgres: PostgresServer | None) -> None:
    """Pooled connections are in autocommit for good: a read unit neither sets nor resets
    anything on its connection (setting autocommit and SQLAlchemy resetting it at checkin
    were four psycopg setters a read, 8 % of a one-statement read's CPU)."""
    if postgres is None:
        unavailable("PostgreSQL could not start")
    store = SqlStore(postgres.url)
    migrations.migrate(store)
    actor = Actor(tenant_id=str(uuid.uuid4()), user_id=str(uuid.uuid4()))
    dialect, calls = store.engine.dialect, []
    for name in ("set_isolation_level", "reset_isolation_level"):
        original = getattr(dialect, name)
        setattr(dialect, name, lambda *args, _name=name, _original=original: calls.append(_name) or _original(*args))
    for _ in range(3):
        with store.unit_of_work(actor) as uow:
            assert uow.time_entries.running(actor.user_id) is None
            assert uow.customers.list() == []
            assert uow.conn.connection.driver_connection.autocommit is True
    assert calls == []
    store.dispose()


def test_a_clock_in_sends_two_statements_and_a_stop_or_an_edit_three_between_begin_and_commit(
    postgres: PostgresServer | None,
) -> None:
    """The owner's lock carries the tenant's settings and the entry's references, and the
    entry's INSERT its overlap check and its outbox row (TT-17: two round trips where there
    were five): BEGIN, the lock with both reads, the guarded entry with its outbox row, COMMIT.
    An edit's UPDATE checks the overlaps itself in the same way."""
    if postgres is None:
        unavailable("PostgreSQL could not start")
    from commons.config import Settings
    from time_tracker_api import create_app
    from time_tracker_api.security import mint_token

    store = SqlStore(postgres.url)
    migrations.migrate(store)
    tenant, user, secret = str(uuid.uuid4()), str(uuid.uuid4()), "trace-secret-" + "t" * 40
    with store.unit_of_work(Actor(tenant_id=tenant, user_id=user), write=True) as uow:
        project_id = uow.projects.add({"name": "Traced", "customer_id": uow.customers.add({"name": "C"})["id"]})["id"]
        activity_id = uow.activities.add({"name": "A"})["id"]
    client = create_app(Settings(jwt_secret=secret, sql_database_uri=postgres.url), store=store).test_client()
    me = {"Authorization": "Bearer " + mint_token(secret, user_id=user, tenant_id=tenant, email="me@example.com")}
    refs = {"project_id": project_id, "activity_id": activity_id}
    past = {**refs, "start_date": "2024-05-01T08:00:00Z", "end_date": "2024-05-01T09:00:00Z"}
    assert client.post("/time-entries", json=past, headers=me).status_code == 201  # a worker that knows the user
    _, path = traced(store.engine)
    answer = client.post("/time-entries", json=refs, headers=me)
    assert answer.status_code == 201 and answer.get_json()["project_name"] == "Traced"
    messages = frontend_messages(path)
    assert messages[0] == "Query BEGIN" and messages[-1] == "Query COMMIT"
    assert messages.count("Bind") == 2, messages
    # A stop: the lock with the settings, the running entry, its update with its outbox row.
    sent_before = len(messages)
    stopped = client.put("/time-entries/stop", headers=me)
    assert stopped.status_code == 200 and stopped.get_json()["id"] == answer.get_json()["id"]
    messages = frontend_messages(path)[sent_before:]
    assert messages[0] == "Query BEGIN" and messages[-1] == "Query COMMIT"
    assert messages.count("Bind") == 3, messages
    with store.unit_of_work(Actor(tenant_id=tenant, user_id=user)) as uow:
        feed = uow.conn.execute(
            text("SELECT document FROM change_log WHERE item_id = :id ORDER BY seq"), {"id": stopped.get_json()["id"]}
        ).scalars()
        assert [doc["end_at"] is None for doc in feed] == [True, False]  # the clock-in, then the stop
    # An edit: the lock with the settings, the entry, its update guarded by the overlap check
    # (which was a statement of its own) with its outbox row.
    sent_before = len(frontend_messages(path))
    edit = {"start_date": "2024-05-01T09:00:00Z", "end_date": "2024-05-01T09:30:00Z", "description": "moved"}
    edited = client.put(f"/time-entries/{answer.get_json()['id']}", json=edit, headers=me)
    assert edited.status_code == 200 and edited.get_json()["start_date"] == "2024-05-01T09:00:00.000Z"
    messages = frontend_messages(path)[sent_before:]
    assert messages[0] == "Query BEGIN" and messages[-1] == "Query COMMIT"
    assert messages.count("Bind") == 3, messages
    clash = client.put(
        f"/time-entries/{answer.get_json()['id']}", json={"start_date": "2024-05-01T08:30:00Z"}, headers=me
    )
    assert clash.status_code == 422 and "another time entry" in clash.get_json()["message"]
    store.dispose()
    os.unlink(path)
