"""Step 09 (TT-14): live names are unique by `cleaning.name_key` on SQL, in a database made from
scratch and in one made before the step, whose data may already hold live duplicates that
differ only in the case of non-ASCII letters (which `lower(name)` let through)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

import migrations
from commons.data_access_layer.events import Actor
from commons.data_access_layer.repository import ACTIVITIES, CATALOGUES, CUSTOMERS, PROJECTS, CatalogueSpec
from commons.data_access_layer.sql import SqlStore, name_keys
from commons.data_access_layer.sql.integrations import _index_names
from commons.data_access_layer.sql.tables import CATALOGUE_TABLES
from commons.domain.cleaning import name_key
from commons.domain.errors import Conflict
from tests.conftest import own_sql_store


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlStore]:
    """A database of its own, migrated from scratch."""
    store = own_sql_store(request, tmp_path, "names")
    yield store
    store.dispose()


def _old_index_ddl(spec: CatalogueSpec) -> str:
    """The live-name index of tables made before step 09, as its DDL was."""
    scope = "".join(f"coalesce({field}, ''), " for field in spec.unique_scope)
    live = "deleted IS NULL" if spec.soft_delete == "mark" else "status = 'active'"
    return (
        f"CREATE UNIQUE INDEX {name_keys.old_index_name(spec)} "
        f"ON {spec.container} (tenant_id, {scope}lower(name)) WHERE {live}"
    )


def _as_before_step_09(store: SqlStore) -> None:
    """What a store migrated up to step 08 looked like."""
    with store.engine.begin() as conn:
        for spec in CATALOGUES:
            conn.execute(text(f"DROP INDEX ux_{spec.container}_live_name_key"))
            conn.execute(text(f"ALTER TABLE {spec.container} DROP COLUMN name_key"))
            conn.execute(text(_old_index_ddl(spec)))
        conn.execute(text("DELETE FROM migration WHERE name LIKE '09%'"))


def _insert(store: SqlStore, spec: CatalogueSpec, tenant: str, name: str, created_at: int, **values: Any) -> str:
    """A row as the code before step 09 wrote it (no name key)."""
    item_id = values.pop("id", None) or str(uuid.uuid4())
    marker = {} if spec.soft_delete == "mark" else {"status": "active"}
    row = {
        "tenant_id": tenant,
        "id": item_id,
        "etag": uuid.uuid4().hex,
        "last_event_ctx": {},
        "created_at": created_at,
        "updated_at": created_at,
        "name": name,
        **marker,
        **({"technologies": []} if spec is PROJECTS else {}),
        **values,
    }
    with store.engine.begin() as conn:  # the columns given only: the table has no name_key
        conn.execute(CATALOGUE_TABLES[spec.container].insert(), row)
    return item_id


def _keys(store: SqlStore, spec: CatalogueSpec, tenant: str) -> dict[str, str | None]:
    table = CATALOGUE_TABLES[spec.container]
    with store.engine.connect() as conn:
        rows = conn.execute(select(table.c.id, table.c.name_key).where(table.c.tenant_id == tenant))
        return {row.id: row.name_key for row in rows}


def _indexes(store: SqlStore) -> set[str]:
    with store.engine.connect() as conn:
        return {name for spec in CATALOGUES for name in _index_names(conn, spec.container)}


def _live_name_indexes(store: SqlStore) -> set[str]:
    return {name for name in _indexes(store) if "_live_name" in name}


NEW_INDEXES = {f"ux_{spec.container}_live_name_key" for spec in CATALOGUES}


def test_a_database_made_from_scratch_keys_live_names_with_the_name_key(fresh_store: SqlStore) -> None:
    assert _live_name_indexes(fresh_store) == NEW_INDEXES
    actor = Actor("u", str(uuid.uuid4()))
    with fresh_store.unit_of_work(actor, write=True) as uow:
        item = uow.activities.add({"name": "Ñandú"})
    assert _keys(fresh_store, ACTIVITIES, actor.tenant_id) == {item["id"]: "ñandú"}
    with pytest.raises(Conflict), fresh_store.unit_of_work(actor, write=True) as uow:
        uow.activities.add({"name": "ñANDÚ"})
    migrations.migrate(fresh_store)  # nothing left to do
    assert _live_name_indexes(fresh_store) == NEW_INDEXES


def test_step_09_keys_a_database_made_before_it_and_keeps_the_oldest_of_duplicates(
    fresh_store: SqlStore, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    _as_before_step_09(fresh_store)
    assert not _live_name_indexes(fresh_store) & NEW_INDEXES
    tenant, neighbour = str(uuid.uuid4()), str(uuid.uuid4())
    # Live duplicates by non-ASCII case: the oldest by created_at keeps the name (not the
    # smallest id), the two later ones are left without a key.
    oldest = _insert(fresh_store, ACTIVITIES, tenant, "Ñandú", 1_000, id="z-oldest")
    later = _insert(fresh_store, ACTIVITIES, tenant, "ñandú", 2_000, id="a-later")
    latest = _insert(fresh_store, ACTIVITIES, tenant, "ÑANDÚ", 3_000, id="b-latest")
    plain = [_insert(fresh_store, ACTIVITIES, tenant, f"Activity {n}", 4_000 + n) for n in range(5)]
    # Not duplicates: an inactive item, another tenant, another customer's project.
    inactive = _insert(fresh_store, CUSTOMERS, tenant, "Émile", 1_000, status="inactive")
    active = _insert(fresh_store, CUSTOMERS, tenant, "éMILE", 2_000)
    elsewhere = _insert(fresh_store, ACTIVITIES, neighbour, "ñandú", 1_000)
    first = _insert(fresh_store, PROJECTS, tenant, "Ñandú", 1_000, customer_id=active)
    second = _insert(fresh_store, PROJECTS, tenant, "ñandú", 2_000, customer_id=inactive)
    with pytest.raises(IntegrityError), fresh_store.engine.begin() as conn:  # the old index (ASCII case)
        conn.execute(text("UPDATE activity SET name = 'activity 1' WHERE name = 'Activity 0'"))

    monkeypatch.setattr(name_keys, "BATCH", 2)  # batches across duplicates and tenants
    with caplog.at_level(logging.WARNING, logger=name_keys.__name__):
        migrations.migrate(fresh_store)
    migrations.migrate(fresh_store)  # and again: nothing to do

    assert _live_name_indexes(fresh_store) == NEW_INDEXES
    assert _keys(fresh_store, ACTIVITIES, tenant) == {
        oldest: "ñandú",
        later: None,
        latest: None,
        **{item: f"activity {n}" for n, item in enumerate(plain)},
    }
    assert _keys(fresh_store, ACTIVITIES, neighbour) == {elsewhere: "ñandú"}
    assert _keys(fresh_store, CUSTOMERS, tenant) == {inactive: "émile", active: "émile"}
    assert _keys(fresh_store, PROJECTS, tenant) == {first: "ñandú", second: "ñandú"}
    [warning] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert tenant in warning and oldest in warning and later in warning and latest in warning
    assert neighbour not in warning

    actor = Actor("u", tenant)
    with fresh_store.unit_of_work(actor) as uow:  # the duplicates keep their names
        names = sorted(a["name"] for a in uow.activities.list() if a["name"].lower() == "ñandú")
    assert names == sorted(["Ñandú", "ñandú", "ÑANDÚ"])
    with pytest.raises(Conflict), fresh_store.unit_of_work(actor, write=True) as uow:
        uow.activities.add({"name": "ñAnDú"})  # the oldest holds the name
    with fresh_store.unit_of_work(actor, write=True) as uow:
        uow.activities.update(latest, {"description": "an edit that keeps the name"})
        uow.activities.update(latest, {"name": "Ñandú"})  # the same key: still the same name
        uow.activities.update(later, {"name": "Rhea"})  # renamed: now it holds a key
    assert _keys(fresh_store, ACTIVITIES, tenant)[later] == "rhea"
    assert _keys(fresh_store, ACTIVITIES, tenant)[latest] is None
    with pytest.raises(Conflict), fresh_store.unit_of_work(actor, write=True) as uow:
        uow.activities.update(latest, {"name": "RHEA"})
    with pytest.raises(Conflict), fresh_store.unit_of_work(actor, write=True) as uow:
        uow.activities.update(plain[1], {"name": "ACTIVITY 0"})


def test_step_09_on_an_old_database_without_duplicates_warns_of_nothing(
    fresh_store: SqlStore, caplog: pytest.LogCaptureFixture
) -> None:
    _as_before_step_09(fresh_store)
    tenant = str(uuid.uuid4())
    items = {_insert(fresh_store, spec, tenant, "Ñandú", 1_000): spec for spec in CATALOGUES}
    with caplog.at_level(logging.WARNING, logger=name_keys.__name__):
        migrations.migrate(fresh_store)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    for item, spec in items.items():
        assert _keys(fresh_store, spec, tenant) == {item: name_key("Ñandú")}
    assert _live_name_indexes(fresh_store) == NEW_INDEXES


def test_step_09_settles_names_the_new_version_wrote_while_the_old_index_still_stood(fresh_store: SqlStore) -> None:
    _as_before_step_09(fresh_store)
    tenant = str(uuid.uuid4())
    legacy = _insert(fresh_store, ACTIVITIES, tenant, "ÑANDÚ", 500)  # the old code's, no key
    fresh_store.add_missing_columns(spec.container for spec in CATALOGUES)  # step 09 has begun
    # The new version, serving during the batches, keys what it writes; the old index
    # (`lower(name)`, ASCII only) lets both of these through.
    first = _insert(fresh_store, ACTIVITIES, tenant, "Ñandú", 1_000, name_key="ñandú")
    second = _insert(fresh_store, ACTIVITIES, tenant, "ñandú", 2_000, name_key="ñandú")

    migrations.migrate(fresh_store)

    assert _live_name_indexes(fresh_store) == NEW_INDEXES
    assert _keys(fresh_store, ACTIVITIES, tenant) == {legacy: "ñandú", first: None, second: None}
    with pytest.raises(Conflict), fresh_store.unit_of_work(Actor("u", tenant), write=True) as uow:
        uow.activities.add({"name": "ñandú"})
