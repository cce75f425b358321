"""The hot reads sent on the driver's cursor (commons/data_access_layer/sql/driver.py, TT-17)
answer exactly what SQLAlchemy's execution answers, value types included, and fail as it does:
a database error is SQLAlchemy's (so a 503, never a driver exception), and a connection lost
mid-unit is invalidated so that the pool replaces it."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import text

from commons.data_access_layer.events import Actor
from commons.data_access_layer.repository import EntryQuery
from commons.data_access_layer.sql import SqlStore, base, metadata
from commons.domain.errors import Conflict, Invalid, NotFound, Unavailable
from tests.conftest import unavailable
from tests.tools.postgres import PostgresServer, terminate_backend

HOUR = 3_600_000
START = 1_767_225_600_000  # 2026-01-01T00:00:00Z


@pytest.fixture(params=["sqlite", "postgres"])
def sql_store(request: pytest.FixtureRequest) -> SqlStore:
    found: SqlStore | None = request.getfixturevalue(f"{request.param}_store")
    if found is None:
        unavailable("PostgreSQL could not start")
    return found


def forms(store: SqlStore) -> dict[Any, Any]:
    """The driver forms compiled for the store's dialect (base._forms)."""
    return getattr(store.engine.dialect, "tt_driver_forms", {})


def without_the_driver(store: SqlStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every statement through SQLAlchemy's execution, as before the driver path."""
    monkeypatch.setattr(base, "compile_for_driver", lambda _stmt, _conn, _keys=None: None)
    monkeypatch.setattr(store.engine.dialect, "tt_driver_forms", {}, raising=False)


def typed(value: Any) -> Any:
    """A value with the type of every part spelled out: `1 == True`, but not on the wire."""
    if isinstance(value, dict):
        return {key: typed(item) for key, item in sorted(value.items())}
    if isinstance(value, list):
        return [typed(item) for item in value]
    if isinstance(value, tuple):
        return tuple(typed(item) for item in value)
    return (type(value).__name__, value)


def seeded(store: SqlStore) -> tuple[Actor, str, dict[str, str]]:
    actor = Actor(tenant_id=str(uuid.uuid4()), user_id=str(uuid.uuid4()), email="ana@example.com")
    other = str(uuid.uuid4())
    with store.unit_of_work(actor, write=True) as uow:
        customer = uow.customers.add({"name": "Acme", "billable": True})
        project = uow.projects.add({"name": "Site", "customer_id": customer["id"], "billable": False})
        activity = uow.activities.add({"name": "Build"})
        uow.users.remember(actor)
        refs = {"project_id": project["id"], "activity_id": activity["id"]}
        for n, owner in enumerate([actor.user_id, actor.user_id, other]):
            uow.time_entries.add(
                {
                    **refs,
                    "owner_id": owner,
                    "start_at": START + n * HOUR,
                    "end_at": START + n * HOUR + HOUR // 2,
                    "description": f"Entry {n}",
                    "technologies": ["python", "sql"],
                    "billable": n % 2 == 0,
                    "timezone_offset": -60,
                }
            )
        running = uow.time_entries.add(
            {**refs, "owner_id": actor.user_id, "start_at": START + 5 * HOUR, "end_at": None, "technologies": []}
        )
    return actor, running["id"], refs


def every_read(store: SqlStore, actor: Actor, running_id: str, refs: dict[str, str]) -> list[Any]:
    window = EntryQuery(owners=(actor.user_id,), start=START, end=START + 10 * HOUR)
    with store.unit_of_work(actor) as uow:
        entries = uow.time_entries
        return [
            entries.get(running_id),
            entries.running(actor.user_id),
            entries.list(window),
            entries.list(EntryQuery(owners=(actor.user_id,), start=START, end=START + 10 * HOUR, limit=2)),
            entries.list(EntryQuery(owners=(actor.user_id,), start=START, end=START + 10 * HOUR, limit=1, offset=1)),
            entries.list(EntryQuery(owners=None, start=START, end=START + 10 * HOUR)),
            entries.overlapping(actor.user_id, START, START + 2 * HOUR),
            entries.spans(window),
            entries.count(window),
            entries.references(refs["project_id"], refs["activity_id"]),
            entries.latest_per_project(actor.user_id, START, START + 10 * HOUR),
            uow.projects.get(refs["project_id"]),
        ]


def test_reads_on_the_driver_answer_what_sqlalchemy_answers_value_types_included(
    sql_store: SqlStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    actor, running_id, refs = seeded(sql_store)
    on_the_driver = every_read(sql_store, actor, running_id, refs)
    assert any(form is not None for form in forms(sql_store).values()), "no statement went to the driver"
    assert on_the_driver[1]["technologies"] == [] and on_the_driver[2][-1]["technologies"] == ["python", "sql"]
    assert on_the_driver[2][-1]["billable"] is True  # SQLite's 1, processed into a boolean
    without_the_driver(sql_store, monkeypatch)
    through_sqlalchemy = every_read(sql_store, actor, running_id, refs)
    assert typed(on_the_driver) == typed(through_sqlalchemy)


def test_statements_sqlalchemy_must_render_at_execution_stay_on_its_path(sql_store: SqlStore) -> None:
    actor, _, _ = seeded(sql_store)
    many = EntryQuery(owners=(actor.user_id, str(uuid.uuid4())), start=START, end=START + 10 * HOUR)
    with sql_store.unit_of_work(actor) as uow:
        assert len(uow.time_entries.list(many)) == 3
    expanding = [form for key, form in forms(sql_store).items() if "many" in str(key)]
    assert expanding and all(form is None for form in expanding)


def test_a_value_the_database_refuses_in_a_read_is_the_clients_error_not_a_driver_exception(
    sql_store: SqlStore,
) -> None:
    actor = Actor(tenant_id=str(uuid.uuid4()), user_id=str(uuid.uuid4()))
    # Text cannot hold NUL on PostgreSQL (psycopg's DataError, a 400); SQLite stores it: not found.
    refused = Invalid if sql_store.engine_name == "postgresql" else NotFound
    with pytest.raises(refused), sql_store.unit_of_work(actor) as uow:
        uow.time_entries.get("a\x00b")


def stored_shapes(store: SqlStore, tenant: str) -> dict[str, list[Any]]:
    """What the writes left in the tables, read through SQLAlchemy: every column's type, and the
    JSON columns' structure (ids, versions and times differ from one run to the next)."""
    from sqlalchemy import select

    def shape(value: Any) -> Any:
        if isinstance(value, dict):
            return {key: shape(item) for key, item in sorted(value.items()) if key not in ("id", "item_id")}
        if isinstance(value, list):
            return [shape(item) for item in value]
        return type(value).__name__

    shapes = {}
    with store.engine.connect() as conn:
        for name in ("customer", "time_entry", "change_log"):
            table = metadata.tables[name]
            rows = conn.execute(select(table).where(table.c.tenant_id == tenant)).mappings().all()
            shapes[name] = sorted((shape(dict(row)) for row in rows), key=repr)
    return shapes


def write_everything(store: SqlStore) -> str:
    actor = Actor(tenant_id=str(uuid.uuid4()), user_id=str(uuid.uuid4()), email="ana@example.com")
    with store.unit_of_work(actor, write=True) as uow:
        customer = uow.customers.add({"name": "Acme", "billable": True})
        project = uow.projects.add({"name": "Site", "customer_id": customer["id"]})
        activity = uow.activities.add({"name": "Build"})
        entry = uow.time_entries.add(
            {
                "project_id": project["id"],
                "activity_id": activity["id"],
                "owner_id": actor.user_id,
                "start_at": START,
                "end_at": None,
                "technologies": ["python", {"nested": [1, 2.5, None]}],
                "billable": False,
            }
        )
        uow.time_entries.update(entry["id"], {"end_at": START + HOUR, "description": None}, entry["_etag"])
        uow.customers.update(customer["id"], {"description": "Renamed"})
    return actor.tenant_id


def test_writes_on_the_driver_store_what_sqlalchemy_stores(
    sql_store: SqlStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    on_the_driver = stored_shapes(sql_store, write_everything(sql_store))
    assert any(
        form is not None and key[0] in ("insert", "update", "insert_logged") for key, form in forms(sql_store).items()
    ), "no write went to the driver"
    without_the_driver(sql_store, monkeypatch)
    through_sqlalchemy = stored_shapes(sql_store, write_everything(sql_store))
    assert on_the_driver == through_sqlalchemy
    assert on_the_driver["change_log"], "the outbox rows were written"


def test_a_second_running_entry_is_refused_by_the_database_as_a_conflict_on_the_driver_path(
    sql_store: SqlStore,
) -> None:
    actor, _, refs = seeded(sql_store)  # the actor has a running entry
    with pytest.raises(Conflict), sql_store.unit_of_work(actor, write=True) as uow:  # no check: the index refuses
        uow.time_entries.add({**refs, "owner_id": actor.user_id, "start_at": START + 9 * HOUR, "end_at": None})


def test_a_read_on_a_connection_lost_midway_is_unavailable_and_the_pool_retires_its_older_connections(
    postgres: PostgresServer | None,
) -> None:
    """As SQLAlchemy's own path does: a 503, and after a failover every pooled connection is
    suspect (one whose server went silent would hang a request until the client's timeout)."""
    if postgres is None:
        unavailable("PostgreSQL could not start")
    import migrations

    store = SqlStore(postgres.url)
    try:
        migrations.migrate(store)
        actor, _, _ = seeded(store)
        with store.engine.connect() as first, store.engine.connect() as second:  # two pooled connections
            pooled = {conn.execute(text("SELECT pg_backend_pid()")).scalar_one() for conn in (first, second)}
        with pytest.raises(Unavailable), store.unit_of_work(actor, write=True) as uow:
            victim = uow.conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
            terminate_backend(postgres.url, victim)
            uow.time_entries.running(actor.user_id)
        with store.unit_of_work(actor) as uow:  # no error now
            assert uow.time_entries.running(actor.user_id) is not None
        with store.engine.connect() as first, store.engine.connect() as second:
            now_pooled = {conn.execute(text("SELECT pg_backend_pid()")).scalar_one() for conn in (first, second)}
        assert not now_pooled & pooled, "a connection from before the failure was used again"
    finally:
        store.dispose()


def test_engines_configured_differently_do_not_share_compiled_statements(tmp_path: Any) -> None:
    """A compiled form closes over its dialect's JSON serialiser: it belongs to that engine."""
    import json

    from sqlalchemy import create_engine

    import migrations

    url = f"sqlite:///{tmp_path / 'two.db'}"
    migrations.migrate(SqlStore(url))
    actor = Actor(tenant_id=str(uuid.uuid4()), user_id=str(uuid.uuid4()))

    def marked(value: Any) -> str:
        return json.dumps({"marked": value})

    plain, other = SqlStore(url), SqlStore(url)
    other.engine = other._writer = create_engine(url, json_serializer=marked)  # a differently configured engine
    for store, name in ((plain, "Plain"), (other, "Other")):
        with store.engine.begin() as conn:
            base._execute(
                conn,
                ("insert", "activity"),
                metadata.tables["activity"].insert,
                {
                    "tenant_id": actor.tenant_id,
                    "id": name,
                    "etag": "e",
                    "name": name,
                    "name_key": name.lower(),
                    "status": "active",
                    "created_at": 0,
                    "updated_at": 0,
                    "last_event_ctx": {"by": name},
                },
            )
    with plain.engine.connect() as conn:
        stored = dict(conn.execute(text("SELECT id, last_event_ctx FROM activity ORDER BY id")).all())
    assert json.loads(stored["Plain"]) == {"by": "Plain"}
    assert json.loads(stored["Other"]) == {"marked": {"by": "Other"}}
