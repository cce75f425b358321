"""Units of work on the SQL engines: a unit opened for reading only reads (on PostgreSQL it runs
in autocommit, on SQLite outside the writers' queue), and the writers of one SQLite file queue
on one pair of locks per process, whichever store they go through."""

from __future__ import annotations

import multiprocessing
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

import migrations
from commons.data_access_layer.events import Actor
from commons.data_access_layer.sql import SqlStore
from commons.data_access_layer.sql.base import advisory_lock
from commons.data_access_layer.sql.engine import ReadOnlyUnit
from commons.domain.errors import Unavailable
from tests.conftest import unavailable


@pytest.mark.parametrize("engine", ["sqlite", "postgres"])
def test_a_write_or_a_lock_in_a_unit_opened_for_reading_is_refused(engine: str, request: pytest.FixtureRequest) -> None:
    store: SqlStore | None = request.getfixturevalue(f"{engine}_store")
    if store is None:
        unavailable("PostgreSQL could not start")
    actor = Actor(tenant_id=str(uuid.uuid4()), user_id=str(uuid.uuid4()))
    with pytest.raises(ReadOnlyUnit), store.unit_of_work(actor) as uow:
        uow.customers.add({"name": "Not in a read unit"})
    if engine == "postgres":
        with pytest.raises(ReadOnlyUnit), store.unit_of_work(actor) as uow:
            uow.time_entries.lock_owner(actor.user_id)
    with store.unit_of_work(actor) as uow:
        assert uow.customers.list() == []


def test_writers_through_two_stores_on_one_sqlite_file_queue_one_after_the_other(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    first, second = SqlStore(url), SqlStore(url)
    migrations.migrate(first)
    actor = Actor(tenant_id=str(uuid.uuid4()), user_id=str(uuid.uuid4()))
    inside, spans = threading.Event(), {}

    def hold() -> None:
        with first.unit_of_work(actor, write=True):
            spans["first"] = time.monotonic()
            inside.set()
            time.sleep(0.3)
            spans["first_end"] = time.monotonic()

    holder = threading.Thread(target=hold)
    holder.start()
    assert inside.wait(5)
    with second.unit_of_work(actor, write=True) as uow:
        spans["second"] = time.monotonic()
        uow.customers.add({"name": "After the first"})
    holder.join()
    assert spans["second"] >= spans["first_end"], "the second store's writer did not wait its turn"
    # Behind the same locks, not SQLite's busy handler: one queue for the file in this process.
    assert first._thread_lock is second._thread_lock and first._lock_file is second._lock_file
    first.dispose()
    second.dispose()


def hold_the_writers_turn(url: str, entered: Any, release: Any) -> None:
    """In another process: take the writers' turn on the SQLite file (the process lock only,
    not SQLite's own write lock) and keep it until `release`."""
    store = SqlStore(url)
    with store._writer_turn(True):
        entered.set()
        release.wait(20)
    store.dispose()


def test_writers_in_two_processes_take_turns_on_one_sqlite_file_turn_after_turn(tmp_path: Path) -> None:
    """The process lock alone (SQLite's write lock is not taken by the other process) makes a
    writer wait, on every turn, its file kept open between turns (store._held_open_lock)."""
    url = f"sqlite:///{tmp_path / 'processes.db'}"
    store = SqlStore(url)
    migrations.migrate(store)
    actor = Actor(tenant_id=str(uuid.uuid4()), user_id=str(uuid.uuid4()))
    spawn = multiprocessing.get_context("spawn")
    for turn in range(2):
        entered, release = spawn.Event(), spawn.Event()
        holder = spawn.Process(target=hold_the_writers_turn, args=(url, entered, release))
        holder.start()
        try:
            assert entered.wait(30), "the other process never got its turn"
            threading.Timer(0.4, release.set).start()
            asked = time.monotonic()
            with store.unit_of_work(actor, write=True) as uow:
                waited = time.monotonic() - asked
                uow.customers.add({"name": f"Turn {turn}"})
        finally:
            release.set()
            holder.join(30)
        assert waited >= 0.3, f"turn {turn}: wrote while the other process held the write lock"
        assert holder.exitcode == 0
    assert store._lock_file.lockfile is not None and not store._lock_file.lockfile.closed
    store.dispose()


@pytest.mark.parametrize("engine", ["sqlite", "postgres"])
def test_a_read_unit_holds_no_transaction_each_statement_reads_what_is_committed(
    engine: str, request: pytest.FixtureRequest
) -> None:
    """Read units run in autocommit on both engines (one semantics: PostgreSQL's READ COMMITTED):
    a write committed between two statements of a read unit is seen by the second."""
    store: SqlStore | None = request.getfixturevalue(f"{engine}_store")
    if store is None:
        unavailable("PostgreSQL could not start")
    actor = Actor(tenant_id=str(uuid.uuid4()), user_id=str(uuid.uuid4()))
    with store.unit_of_work(actor) as uow:
        assert uow.customers.list() == []
        assert uow.time_entries.running(actor.user_id) is None  # a read on the driver's cursor
        driver = uow.conn.connection.driver_connection
        if engine == "sqlite":
            assert not driver.in_transaction  # no BEGIN was sent
        else:
            assert driver.info.transaction_status == 0  # IDLE: autocommit
        with store.unit_of_work(actor, write=True) as writer:
            writer.customers.add({"name": "Committed meanwhile"})
        assert [c["name"] for c in uow.customers.list()] == ["Committed meanwhile"]


def test_an_owners_lock_on_postgresql_is_held_until_the_unit_ends_and_only_for_that_owner(
    postgres_store: SqlStore | None,
) -> None:
    """The lock that serialises one owner's time-entry rules is a transaction-level advisory
    lock: another session cannot take it while the unit runs, takes another owner's at once,
    and takes it as soon as the unit has committed."""
    if postgres_store is None:
        unavailable("PostgreSQL could not start")
    actor = Actor(tenant_id=str(uuid.uuid4()), user_id=str(uuid.uuid4()))
    other = str(uuid.uuid4())
    probe = text("SELECT pg_try_advisory_xact_lock(hashtextextended(:key, 0))")

    def free(owner: str) -> bool:
        with postgres_store.engine.begin() as conn:  # another session, its transaction ended at once
            return bool(conn.execute(probe, {"key": f"time_entry:{actor.tenant_id}:{owner}"}).scalar_one())

    with postgres_store.unit_of_work(actor, write=True) as uow:
        uow.time_entries.lock_owner(actor.user_id)
        assert not free(actor.user_id) and free(other)
        uow.customers.add({"name": "Still holding"})
        assert not free(actor.user_id)
    assert free(actor.user_id)


def test_a_statement_on_the_driver_path_outside_any_unit_still_runs_in_a_transaction(
    postgres_store: SqlStore | None,
) -> None:
    """The drivers are in autocommit (engine.py), so the driver path autobegins as
    `Connection.execute` does: a lock taken on a fresh connection is held until it ends."""
    if postgres_store is None:
        unavailable("PostgreSQL could not start")
    key = f"test:{uuid.uuid4()}"
    probe = text("SELECT pg_try_advisory_xact_lock(hashtextextended(:key, 0))")
    with postgres_store.engine.connect() as conn:
        advisory_lock(conn, key)
        assert conn.in_transaction()
        with postgres_store.engine.begin() as other:
            assert other.execute(probe, {"key": key}).scalar_one() is False
    with postgres_store.engine.begin() as other:
        assert other.execute(probe, {"key": key}).scalar_one() is True


def test_a_begin_that_fails_is_sqlalchemys_error_and_the_connection_begins_again(tmp_path: Path) -> None:
    """BEGIN is sent from the dialect's `do_begin`, inside SQLAlchemy's error handling: a
    writer that finds the write lock taken gets SQLAlchemy's OperationalError, and the same
    connection's next statement begins a transaction as usual (sent from the `begin` event,
    the failure had left it unable to)."""
    store = SqlStore(f"sqlite:///{tmp_path / 'begin.db'}")
    migrations.migrate(store)
    holder = store.engine.connect().execution_options(tt_write=True)
    holder.begin()  # BEGIN IMMEDIATE: the write lock
    with store.engine.connect().execution_options(tt_write=True) as conn:
        conn.connection.driver_connection.execute("PRAGMA busy_timeout=0")  # type: ignore[union-attr]
        with pytest.raises(OperationalError, match="locked"):
            conn.begin()
        holder.rollback()
        holder.close()
        assert conn.execute(text("SELECT 1")).scalar_one() == 1
        assert conn.in_transaction() and conn.connection.driver_connection.in_transaction  # type: ignore[union-attr]
    store.dispose()


def test_threads_sharing_an_in_memory_database_lose_no_committed_write() -> None:
    """An in-memory SQLite database is one connection. Lent to every thread at once (as
    StaticPool lends it), one thread's COMMIT or rollback ended another's transaction: units
    reported committed and their rows gone, or "cannot start a transaction within a
    transaction". Lent to one unit at a time, every committed unit keeps both its rows."""
    store = SqlStore("sqlite://")
    migrations.migrate(store)
    committed: list[int] = []
    failures: list[str] = []

    def write(n: int) -> None:
        actor = Actor(user_id=f"writer-{n}", tenant_id="shared-memory")
        for i in range(40):
            try:
                with store.unit_of_work(actor, write=True) as uow:
                    uow.customers.add({"name": f"c-{n}-{i}"})
                    uow.activities.add({"name": f"a-{n}-{i}"})
                committed.append(1)
            except Exception as error:  # noqa: BLE001 - every failure is the finding
                failures.append(repr(error))

    def read(n: int) -> None:
        for _ in range(40):
            try:
                with store.unit_of_work(Actor(user_id=f"reader-{n}", tenant_id="shared-memory")) as uow:
                    uow.customers.list()
            except Exception as error:  # noqa: BLE001
                failures.append(repr(error))

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # the interleavings a busy server meets by chance
    try:
        threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
        threads += [threading.Thread(target=read, args=(n,)) for n in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    with store.unit_of_work(Actor(user_id="auditor", tenant_id="shared-memory")) as uow:
        stored = (len(uow.customers.list()), len(uow.activities.list()))
    store.dispose()
    assert failures == []
    assert stored == (len(committed), len(committed)) == (160, 160)


def test_a_unit_opened_inside_another_on_the_same_thread_shares_the_in_memory_database() -> None:
    """A request reads the caller's roles in a unit of its own inside its read unit: on an
    in-memory database the thread that holds the one connection gets it again at once (a
    pool of one made it wait for itself, then answer 503)."""
    store = SqlStore("sqlite://", connect_timeout_s=1)
    migrations.migrate(store)
    actor = Actor(user_id="nesting", tenant_id="nested")
    with store.unit_of_work(actor, write=True) as uow:
        uow.customers.add({"name": "Acme"})
    began = time.monotonic()
    with store.unit_of_work(actor) as outer:
        with store.unit_of_work(actor) as inner:
            assert [c["name"] for c in inner.customers.list()] == ["Acme"]
        assert [c["name"] for c in outer.customers.list()] == ["Acme"]
    assert time.monotonic() - began < 0.5
    store.dispose()


def test_a_unit_that_waits_past_the_pool_timeout_is_unavailable_not_an_error() -> None:
    """Every pooled connection busy for the whole pool timeout is a 503 (try again), not a 500:
    here the one connection of an in-memory database, held by a writer."""
    store = SqlStore("sqlite://", connect_timeout_s=1)
    migrations.migrate(store)
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with store.unit_of_work(Actor(user_id="holder", tenant_id="busy"), write=True):
            holding.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert holding.wait(10)
        began = time.monotonic()
        with pytest.raises(Unavailable, match="busy"), store.unit_of_work(Actor(user_id="late", tenant_id="busy")):
            pass
        assert 0.9 < time.monotonic() - began < 5
    finally:
        release.set()
        holder.join()
    with store.unit_of_work(Actor(user_id="late", tenant_id="busy")) as uow:  # free again
        assert uow.customers.list() == []
    store.dispose()
