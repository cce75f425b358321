"""Round trips to PostgreSQL (TT-17), read from the client's own protocol trace: pooled
connections are pinged only when in doubt (one the server closed is still replaced before a
request sees it), and a unit of work opened for reading sends its statements alone, without
BEGIN and COMMIT (at READ COMMITTED each statement has its own snapshot either way)."""

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


def sent(path: str) -> list[str]:
    """The simple-protocol queries the client sent, in order."""
    with open(path) as trace:
        return [
            line.split("Query", 1)[1].strip().strip('"') for line in trace if "\tF\t" in line and "\tQuery\t" in line
        ]


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
