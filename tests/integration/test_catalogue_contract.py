"""The catalogue part of the repository contract, on every engine."""

from __future__ import annotations

import uuid

import pytest

from commons.data_access_layer.events import Actor
from commons.data_access_layer.repository import CUSTOMERS, PROJECT_TYPES, PROJECTS, TECHNOLOGIES, Store
from commons.domain.errors import Conflict, NotFound, PreconditionFailed


def stored_context(store: Store, container: str, tenant: str, item_id: str) -> dict:
    """The `_last_event_ctx` as stored, read below the contract."""
    if store.engine_name == "memory":
        return store.stored(container, tenant, item_id)["_last_event_ctx"]  # type: ignore[attr-defined]
    if store.engine_name == "cosmos":
        return store.proxy(container).read_item(item_id, partition_key=tenant)["_last_event_ctx"]  # type: ignore[attr-defined]
    from sqlalchemy import select

    from commons.data_access_layer.sql import metadata

    table = metadata.tables[container]
    with store.engine.connect() as conn:  # type: ignore[attr-defined]
        return conn.execute(
            select(table.c.last_event_ctx).where(table.c.tenant_id == tenant, table.c.id == item_id)
        ).scalar_one()


def other(actor: Actor) -> Actor:
    return Actor(user_id=actor.user_id, tenant_id=str(uuid.uuid4()))


def test_add_then_get_returns_the_stored_fields_with_server_owned_ones(store: Store, actor: Actor) -> None:
    with store.unit_of_work(actor, write=True) as uow:
        added = uow.customers.add({"name": "Acme", "description": "first"})
    with store.unit_of_work(actor) as uow:
        got = uow.customers.get(added["id"])
    assert got["name"] == "Acme" and got["description"] == "first"
    assert got["tenant_id"] == actor.tenant_id and got["status"] == "active" and got["deleted"] is None
    assert got["_etag"] == added["_etag"]


def test_every_write_stamps_a_unique_event_context(store: Store, actor: Actor) -> None:
    with store.unit_of_work(actor, write=True) as uow:
        item = uow.customers.add({"name": "Stamped"})
    first = stored_context(store, "customer", actor.tenant_id, item["id"])
    with store.unit_of_work(actor, write=True) as uow:
        uow.customers.update(item["id"], {"description": "x"})
    ctx = stored_context(store, "customer", actor.tenant_id, item["id"])
    assert first["action"] == "create" and first["event_id"] != ctx["event_id"]
    assert ctx["action"] == "update" and ctx["user_id"] == actor.user_id and ctx["tenant_id"] == actor.tenant_id
    assert ctx["container_id"] == "customer" and len(ctx["event_id"]) == 32 and ctx["date"].endswith("Z")


def test_duplicate_live_name_conflicts_case_insensitively(store: Store, actor: Actor) -> None:
    with store.unit_of_work(actor, write=True) as uow:
        uow.activities.add({"name": "Development"})
    with pytest.raises(Conflict), store.unit_of_work(actor, write=True) as uow:
        uow.activities.add({"name": "development"})


def test_duplicate_live_name_conflicts_whatever_the_case_of_non_ascii_letters(store: Store, actor: Actor) -> None:
    # Found by TT-14: SQL's lower() folds ASCII only (SQLite always, PostgreSQL in the C
    # locale the tests run); every engine now keys names with cleaning.name_key.
    with store.unit_of_work(actor, write=True) as uow:
        uow.activities.add({"name": "Ñandú"})
    with pytest.raises(Conflict), store.unit_of_work(actor, write=True) as uow:
        uow.activities.add({"name": "ñANDÚ"})


def test_a_rename_that_changes_only_the_case_of_non_ascii_letters_is_allowed(store: Store, actor: Actor) -> None:
    with store.unit_of_work(actor, write=True) as uow:
        item = uow.activities.add({"name": "Ñandú"})
    with store.unit_of_work(actor, write=True) as uow:
        uow.activities.update(item["id"], {"name": "ñANDÚ"})
    with store.unit_of_work(actor) as uow:
        assert uow.activities.get(item["id"])["name"] == "ñANDÚ"
    with pytest.raises(Conflict), store.unit_of_work(actor, write=True) as uow:
        uow.activities.add({"name": "Ñandú"})  # the renamed item still holds the name


def test_a_rename_onto_another_live_items_name_in_another_case_conflicts(store: Store, actor: Actor) -> None:
    with store.unit_of_work(actor, write=True) as uow:
        uow.customers.add({"name": "Émile"})
        other_item = uow.customers.add({"name": "Zoë"})
    with pytest.raises(Conflict), store.unit_of_work(actor, write=True) as uow:
        uow.customers.update(other_item["id"], {"name": "éMILE"})
    with store.unit_of_work(actor) as uow:
        assert uow.customers.get(other_item["id"])["name"] == "Zoë"


def test_a_rename_frees_the_old_name_whatever_its_case(store: Store, actor: Actor) -> None:
    with store.unit_of_work(actor, write=True) as uow:
        item = uow.activities.add({"name": "Ñandú"})
    with store.unit_of_work(actor, write=True) as uow:
        uow.activities.update(item["id"], {"name": "Rhea"})
    with store.unit_of_work(actor, write=True) as uow:
        uow.activities.add({"name": "ñandú"})
    with pytest.raises(Conflict), store.unit_of_work(actor, write=True) as uow:
        uow.activities.add({"name": "RHEA"})


def test_reactivating_an_item_whose_name_was_taken_in_another_case_conflicts(store: Store, actor: Actor) -> None:
    with store.unit_of_work(actor, write=True) as uow:
        first = uow.customers.add({"name": "Ñandú"})
        uow.customers.delete(first["id"])
        uow.customers.add({"name": "ñANDÚ"})
    with pytest.raises(Conflict), store.unit_of_work(actor, write=True) as uow:
        uow.customers.update(first["id"], {"status": "active"})


def test_a_longest_name_whose_key_is_longer_is_stored_and_guarded(store: Store, actor: Actor) -> None:
    name = "İ" * 255  # its key, "İ".lower() * 255, is 510 code points
    with store.unit_of_work(actor, write=True) as uow:
        item = uow.activities.add({"name": name})
    with store.unit_of_work(actor) as uow:
        assert uow.activities.get(item["id"])["name"] == name
    with pytest.raises(Conflict), store.unit_of_work(actor, write=True) as uow:
        uow.activities.add({"name": name})


def test_same_name_in_another_tenant_is_allowed(store: Store, actor: Actor) -> None:
    for who in (actor, other(actor)):
        with store.unit_of_work(who, write=True) as uow:
            uow.customers.add({"name": "Globex"})


def test_deactivated_name_can_be_reused_and_stays_readable(store: Store, actor: Actor) -> None:
    with store.unit_of_work(actor, write=True) as uow:
        first = uow.customers.add({"name": "Initech"})
        uow.customers.delete(first["id"])
        second = uow.customers.add({"name": "Initech"})
    with store.unit_of_work(actor) as uow:
        assert uow.customers.get(first["id"])["status"] == "inactive"
        names = [(c["name"], c["status"]) for c in uow.customers.list()]
    assert sorted(names) == [("Initech", "active"), ("Initech", "inactive")]
    assert second["id"] != first["id"]


def test_marked_items_disappear_and_free_their_name(store: Store, actor: Actor) -> None:
    with store.unit_of_work(actor, write=True) as uow:
        tech = uow.technologies.add({"name": "python"})
        uow.technologies.delete(tech["id"])
        uow.technologies.add({"name": "python"})
    with store.unit_of_work(actor) as uow:
        with pytest.raises(NotFound):
            uow.technologies.get(tech["id"])
        assert [t["name"] for t in uow.technologies.list()] == ["python"]


def test_project_names_are_unique_per_customer_only(store: Store, actor: Actor) -> None:
    with store.unit_of_work(actor, write=True) as uow:
        a = uow.customers.add({"name": "A"})
        b = uow.customers.add({"name": "B"})
        uow.projects.add({"name": "Website", "customer_id": a["id"]})
        uow.projects.add({"name": "Website", "customer_id": b["id"]})
    with pytest.raises(Conflict), store.unit_of_work(actor, write=True) as uow:
        uow.projects.add({"name": "website", "customer_id": a["id"]})


def test_project_type_names_are_unique_per_customer_including_none(store: Store, actor: Actor) -> None:
    with store.unit_of_work(actor, write=True) as uow:
        uow.project_types.add({"name": "Fixed", "customer_id": None})
    with pytest.raises(Conflict), store.unit_of_work(actor, write=True) as uow:
        uow.project_types.add({"name": "Fixed", "customer_id": None})


def test_other_tenants_ids_are_not_found(store: Store, actor: Actor) -> None:
    with store.unit_of_work(actor, write=True) as uow:
        item = uow.customers.add({"name": "Mine"})
    stranger = other(actor)
    with store.unit_of_work(stranger, write=True) as uow:
        with pytest.raises(NotFound):
            uow.customers.get(item["id"])
        with pytest.raises(NotFound):
            uow.customers.update(item["id"], {"name": "Stolen"})
        with pytest.raises(NotFound):
            uow.customers.delete(item["id"])
        assert uow.customers.list() == [] and uow.customers.get_many([item["id"]]) == {}


def test_update_with_a_stale_etag_is_a_precondition_failure(store: Store, actor: Actor) -> None:
    with store.unit_of_work(actor, write=True) as uow:
        item = uow.customers.add({"name": "Versioned"})
    with store.unit_of_work(actor, write=True) as uow:
        updated = uow.customers.update(item["id"], {"description": "v2"}, if_match=item["_etag"])
    assert updated["_etag"] != item["_etag"]
    with pytest.raises(PreconditionFailed), store.unit_of_work(actor, write=True) as uow:
        uow.customers.update(item["id"], {"description": "v3"}, if_match=item["_etag"])


def test_list_filters_and_orders_by_name(store: Store, actor: Actor) -> None:
    with store.unit_of_work(actor, write=True) as uow:
        c = uow.customers.add({"name": "Zeta"})
        uow.project_types.add({"name": "b-type", "customer_id": c["id"]})
        uow.project_types.add({"name": "A-type", "customer_id": c["id"]})
        uow.project_types.add({"name": "other"})
    with store.unit_of_work(actor) as uow:
        names = [t["name"] for t in uow.project_types.list({"customer_id": c["id"]})]
    assert names == ["A-type", "b-type"]


def test_get_many_loads_only_the_asked_live_items(store: Store, actor: Actor) -> None:
    with store.unit_of_work(actor, write=True) as uow:
        c = uow.customers.add({"name": "C"})
        keep = uow.projects.add({"name": "keep", "customer_id": c["id"], "technologies": ["go"]})
        uow.projects.add({"name": "skip", "customer_id": c["id"]})
    with store.unit_of_work(actor) as uow:
        found = uow.projects.get_many([keep["id"], str(uuid.uuid4())])
    assert list(found) == [keep["id"]] and found[keep["id"]]["technologies"] == ["go"]


def test_a_failed_unit_of_work_writes_nothing(store: Store, actor: Actor) -> None:
    with pytest.raises(Conflict), store.unit_of_work(actor, write=True) as uow:
        uow.customers.add({"name": "Half"})
        uow.customers.add({"name": "half"})
    with store.unit_of_work(actor) as uow:
        assert uow.customers.list() == []


@pytest.mark.parametrize("spec", [CUSTOMERS, PROJECT_TYPES, PROJECTS, TECHNOLOGIES])
def test_missing_ids_are_not_found(store: Store, actor: Actor, spec: object) -> None:
    with store.unit_of_work(actor) as uow, pytest.raises(NotFound):
        uow.catalogue(spec).get(str(uuid.uuid4()))  # type: ignore[arg-type]


def test_migrations_are_idempotent(store: Store) -> None:
    """Re-running changes nothing, and an existing container does not stop the others."""
    import migrations

    before = store.migration_records()  # type: ignore[attr-defined]
    migrations.migrate(store)
    assert store.migration_records() == before  # type: ignore[attr-defined]
    assert store.create_containers(["customer", "project"]) == []
