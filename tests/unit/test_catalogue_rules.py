"""The rules of the catalogue (time_tracker_api/catalogue.py, projects.py), called directly on
the memory engine: no Flask app, no HTTP, no database."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from commons.data_access_layer.events import Actor
from commons.data_access_layer.memory import MemoryStore
from commons.data_access_layer.repository import (
    ACTIVITIES,
    CATALOGUES,
    CUSTOMERS,
    PROJECT_TYPES,
    PROJECTS,
    TECHNOLOGIES,
    CatalogueSpec,
    Record,
)
from commons.domain.clock import parse_instant
from commons.domain.errors import Conflict, Forbidden, Invalid, NotFound, PreconditionFailed
from commons.domain.preconditions import IfMatch
from tests.unit import calls
from time_tracker_api import catalogue
from time_tracker_api.projects import list_projects
from time_tracker_api.time_entries import queries
from time_tracker_api.time_entries.service import Rules


def add(store: MemoryStore, who: Actor, spec: CatalogueSpec, **body: Any) -> Record:
    return calls.create_item(store, who, spec, body)


def change(store: MemoryStore, who: Actor, spec: CatalogueSpec, item: Record, **body: Any) -> Record:
    return calls.update_item(store, who, spec, item["id"], body, None)


def get(store: MemoryStore, who: Actor, spec: CatalogueSpec, item: Record) -> Record:
    return catalogue.get_item(store, who, spec, item["id"])


def delete(store: MemoryStore, who: Actor, spec: CatalogueSpec, item: Record, if_match: IfMatch | None = None) -> None:
    catalogue.delete_item(store, who, spec, item["id"], if_match)


def minimal(store: MemoryStore, who: Actor, spec: CatalogueSpec, name: str = "Thing") -> dict[str, Any]:
    """A valid body of `spec` (a project names a customer of its own)."""
    if spec is PROJECTS:
        return {"name": name, "customer_id": add(store, who, CUSTOMERS, name=f"Customer of {name}")["id"]}
    return {"name": name}


# ---------------------------------------------------------------- who may write


@pytest.mark.parametrize("spec", CATALOGUES, ids=lambda s: s.container)
def test_only_admins_write_the_catalogue_and_everyone_reads_it(
    store: MemoryStore, boss: Actor, ana: Actor, spec: CatalogueSpec
) -> None:
    body = minimal(store, boss, spec)
    item = calls.create_item(store, boss, spec, body)
    with pytest.raises(Forbidden, match="permissions"):
        calls.create_item(store, ana, spec, {**body, "name": "Nope"})
    with pytest.raises(Forbidden):
        change(store, ana, spec, item, name="Nope")
    with pytest.raises(Forbidden):
        delete(store, ana, spec, item)
    assert get(store, ana, spec, item)["name"] == "Thing"
    assert [i["name"] for i in catalogue.list_items(store, ana, spec, {})] == ["Thing"]


def test_the_admin_check_comes_before_the_body_is_looked_at(store: MemoryStore, ana: Actor) -> None:
    with pytest.raises(Forbidden):
        calls.create_item(store, ana, CUSTOMERS, {"name": ""})


# ---------------------------------------------------------------- unique names


def test_a_live_name_is_unique_whatever_its_case(store: MemoryStore, boss: Actor) -> None:
    add(store, boss, CUSTOMERS, name="Globex")
    with pytest.raises(Conflict):
        add(store, boss, CUSTOMERS, name=" globex ")
    other = add(store, boss, CUSTOMERS, name="Initech")
    with pytest.raises(Conflict):
        change(store, boss, CUSTOMERS, other, name="GLOBEX")
    bird = add(store, boss, CUSTOMERS, name="Ñandú")  # non-ASCII letters fold too (cleaning.name_key)
    with pytest.raises(Conflict):
        add(store, boss, CUSTOMERS, name="ñANDÚ")
    change(store, boss, CUSTOMERS, bird, name="ÑANDÚ")  # its own name in another case


def test_project_names_are_unique_per_customer_only(store: MemoryStore, boss: Actor) -> None:
    a = add(store, boss, CUSTOMERS, name="A")
    b = add(store, boss, CUSTOMERS, name="B")
    add(store, boss, PROJECTS, name="Website", customer_id=a["id"])
    moving = add(store, boss, PROJECTS, name="Website", customer_id=b["id"])
    with pytest.raises(Conflict):
        add(store, boss, PROJECTS, name="website", customer_id=a["id"])
    with pytest.raises(Conflict):
        change(store, boss, PROJECTS, moving, customer_id=a["id"])  # its name is taken there


def test_project_type_names_are_unique_per_customer_and_among_the_tenants_own(store: MemoryStore, boss: Actor) -> None:
    acme = add(store, boss, CUSTOMERS, name="Acme")
    add(store, boss, PROJECT_TYPES, name="Fixed")
    add(store, boss, PROJECT_TYPES, name="Fixed", customer_id=acme["id"])
    with pytest.raises(Conflict):
        add(store, boss, PROJECT_TYPES, name="fixed")
    with pytest.raises(Conflict):
        add(store, boss, PROJECT_TYPES, name="FIXED", customer_id=acme["id"])


def test_the_same_name_in_another_tenant_is_another_item(store: MemoryStore, boss: Actor) -> None:
    add(store, boss, CUSTOMERS, name="Acme")
    stranger = Actor(user_id=boss.user_id, tenant_id=str(uuid.uuid4()), is_admin=True)
    add(store, stranger, CUSTOMERS, name="Acme")


# ---------------------------------------------------------------- soft deletes


@pytest.mark.parametrize("spec", [CUSTOMERS, PROJECTS, ACTIVITIES], ids=lambda s: s.container)
def test_deleting_a_customer_project_or_activity_deactivates_it_and_frees_its_name(
    store: MemoryStore, boss: Actor, spec: CatalogueSpec
) -> None:
    body = minimal(store, boss, spec, "Initech")
    first = calls.create_item(store, boss, spec, body)
    delete(store, boss, spec, first)
    assert get(store, boss, spec, first)["status"] == "inactive"
    second = calls.create_item(store, boss, spec, body)
    listed = catalogue.list_items(store, boss, spec, {"status": "active", "customer_id": None})
    assert [i["id"] for i in listed] == [second["id"]]
    with pytest.raises(Conflict):
        change(store, boss, spec, first, status="active")  # the name is held again
    change(store, boss, spec, second, status=0)
    assert change(store, boss, spec, first, status=1)["status"] == "active"


@pytest.mark.parametrize("spec", [PROJECT_TYPES, TECHNOLOGIES], ids=lambda s: s.container)
def test_deleting_a_project_type_or_technology_hides_it_and_frees_its_name(
    store: MemoryStore, boss: Actor, spec: CatalogueSpec
) -> None:
    gone = add(store, boss, spec, name="gone")
    delete(store, boss, spec, gone)
    for attempt in (
        lambda: get(store, boss, spec, gone),
        lambda: change(store, boss, spec, gone, name="back"),
        lambda: delete(store, boss, spec, gone),
    ):
        with pytest.raises(NotFound):
            attempt()
    assert catalogue.list_items(store, boss, spec, {}) == []
    add(store, boss, spec, name="gone")


# ---------------------------------------------------------------- references


def test_a_project_belongs_to_an_existing_active_customer(store: MemoryStore, boss: Actor) -> None:
    with pytest.raises(Invalid, match="customer_id is required"):
        add(store, boss, PROJECTS, name="No customer")
    with pytest.raises(Invalid, match="customer_id is required"):
        add(store, boss, PROJECTS, name="Null customer", customer_id=None)
    with pytest.raises(Invalid, match="does not exist"):
        add(store, boss, PROJECTS, name="Ghost", customer_id=str(uuid.uuid4()))
    gone = add(store, boss, CUSTOMERS, name="Gone")
    delete(store, boss, CUSTOMERS, gone)
    with pytest.raises(Invalid, match="not active"):
        add(store, boss, PROJECTS, name="Late", customer_id=gone["id"])
    project = add(store, boss, PROJECTS, name="Here", customer_id=add(store, boss, CUSTOMERS, name="Live")["id"])
    with pytest.raises(Invalid, match="not active"):
        change(store, boss, PROJECTS, project, customer_id=gone["id"])
    with pytest.raises(Invalid, match="customer_id is required"):
        change(store, boss, PROJECTS, project, customer_id=None)


def test_a_projects_type_must_exist(store: MemoryStore, boss: Actor) -> None:
    customer = add(store, boss, CUSTOMERS, name="Acme")
    with pytest.raises(Invalid, match="project type"):
        add(store, boss, PROJECTS, name="P", customer_id=customer["id"], project_type_id=str(uuid.uuid4()))
    deleted = add(store, boss, PROJECT_TYPES, name="Old")
    delete(store, boss, PROJECT_TYPES, deleted)
    with pytest.raises(Invalid, match="project type"):
        add(store, boss, PROJECTS, name="P", customer_id=customer["id"], project_type_id=deleted["id"])


def test_a_project_types_customer_and_parent_must_exist(store: MemoryStore, boss: Actor) -> None:
    with pytest.raises(Invalid, match="Related customer"):
        add(store, boss, PROJECT_TYPES, name="T", customer_id=str(uuid.uuid4()))
    with pytest.raises(Invalid, match="parent project type"):
        add(store, boss, PROJECT_TYPES, name="T", parent_id=str(uuid.uuid4()))


def test_project_types_stay_a_tree(store: MemoryStore, boss: Actor) -> None:
    a = add(store, boss, PROJECT_TYPES, name="A")
    b = add(store, boss, PROJECT_TYPES, name="B", parent_id=a["id"])
    c = add(store, boss, PROJECT_TYPES, name="C", parent_id=b["id"])
    for parent in (a, b, c):
        with pytest.raises(Invalid, match="own ancestor"):
            change(store, boss, PROJECT_TYPES, a, parent_id=parent["id"])
    d = add(store, boss, PROJECT_TYPES, name="D")
    assert change(store, boss, PROJECT_TYPES, c, parent_id=d["id"])["parent_id"] == d["id"]
    assert change(store, boss, PROJECT_TYPES, d, parent_id=a["id"])["parent_id"] == a["id"]


def test_a_project_type_tree_deeper_than_fifty_is_refused(store: MemoryStore, boss: Actor) -> None:
    parent = add(store, boss, PROJECT_TYPES, name="0")
    for depth in range(1, 50):
        parent = add(store, boss, PROJECT_TYPES, name=str(depth), parent_id=parent["id"])
    with pytest.raises(Invalid, match="too deep"):
        add(store, boss, PROJECT_TYPES, name="50", parent_id=parent["id"])


def test_another_tenant_neither_finds_nor_uses_the_items(store: MemoryStore, boss: Actor) -> None:
    customer = add(store, boss, CUSTOMERS, name="Mine")
    stranger = Actor(user_id=boss.user_id, tenant_id=str(uuid.uuid4()), is_admin=True)
    for attempt in (
        lambda: get(store, stranger, CUSTOMERS, customer),
        lambda: change(store, stranger, CUSTOMERS, customer, name="Stolen"),
        lambda: delete(store, stranger, CUSTOMERS, customer),
    ):
        with pytest.raises(NotFound):
            attempt()
    with pytest.raises(Invalid, match="does not exist"):
        add(store, stranger, PROJECTS, name="X", customer_id=customer["id"])
    assert catalogue.list_items(store, stranger, CUSTOMERS, {}) == []


# ---------------------------------------------------------------- fields and versions


@pytest.mark.parametrize(
    "body, message",
    [
        ({}, "name is a required property"),
        ({"name": ""}, "name can not be empty"),
        ({"name": "   "}, "name can not be empty"),
        ({"name": None}, "name can not be empty"),
        ({"name": 5}, "name must be a string"),
        ({"name": "x" * 256}, "too long"),
        ({"name": "ok", "description": "x" * 5001}, "too long"),
        ({"name": "ok", "description": 5}, "description must be a string"),
        ({"name": "ok", "status": "archived"}, "status"),
        ({"name": "ok", "status": 1.0}, "status"),
        ({"name": "ok", "billable": "yes"}, "billable"),
    ],
)
def test_malformed_customer_fields_are_invalid_and_nothing_is_written(
    store: MemoryStore, boss: Actor, body: dict, message: str
) -> None:
    with pytest.raises(Invalid, match=message):
        calls.create_item(store, boss, CUSTOMERS, body)
    assert catalogue.list_items(store, boss, CUSTOMERS, {}) == []


def test_fields_are_cleaned_and_unknown_keys_ignored(store: MemoryStore, boss: Actor) -> None:
    body = {"name": " Safe ", "description": "  ", "id": "chosen", "tenant_id": "other", "deleted": "x", "evil": 1}
    created = calls.create_item(store, boss, CUSTOMERS, body)
    assert (created["name"], created["description"], created["status"]) == ("Safe", None, "active")
    assert created["id"] != "chosen" and created["tenant_id"] == boss.tenant_id and created["deleted"] is None
    assert "evil" not in get(store, boss, CUSTOMERS, created)
    again = change(store, boss, CUSTOMERS, created, id="moved", description="ok", billable=None)
    assert (again["id"], again["description"], again["billable"]) == (created["id"], "ok", None)


def test_project_technologies_are_unique_trimmed_and_at_most_fifty(store: MemoryStore, boss: Actor) -> None:
    customer = add(store, boss, CUSTOMERS, name="Acme")
    many = [f"t{n}" for n in range(49)]
    project = add(store, boss, PROJECTS, name="P", customer_id=customer["id"], technologies=["go", " go", "", *many])
    assert project["technologies"][:2] == ["go", "t0"] and len(project["technologies"]) == 50
    with pytest.raises(Invalid, match="at most 50 items"):
        change(store, boss, PROJECTS, project, technologies=[*many, "x", "y"])
    with pytest.raises(Invalid, match="at most 255"):
        change(store, boss, PROJECTS, project, technologies=["x" * 256])
    assert change(store, boss, PROJECTS, project, technologies=None)["technologies"] == []


def test_a_technology_gets_its_creation_date(store: MemoryStore, boss: Actor) -> None:
    created = add(store, boss, TECHNOLOGIES, name="python")
    assert parse_instant(created["creation_date"]) > 0
    given = add(store, boss, TECHNOLOGIES, name="go", creation_date="2020-01-01T00:00:00Z")
    assert given["creation_date"] == "2020-01-01T00:00:00Z"


def test_a_stale_if_match_is_a_precondition_failure(store: MemoryStore, boss: Actor) -> None:
    item = add(store, boss, CUSTOMERS, name="Versioned")
    fresh = calls.update_item(store, boss, CUSTOMERS, item["id"], {"description": "v2"}, IfMatch((item["_etag"],)))
    for attempt in (
        lambda: calls.update_item(store, boss, CUSTOMERS, item["id"], {"description": "v3"}, IfMatch((item["_etag"],))),
        lambda: delete(store, boss, CUSTOMERS, item, IfMatch((item["_etag"],))),
        lambda: delete(store, boss, CUSTOMERS, item, IfMatch(("a", item["_etag"]))),
    ):
        with pytest.raises(PreconditionFailed):
            attempt()
    delete(store, boss, CUSTOMERS, item, IfMatch(("a", fresh["_etag"])))
    assert get(store, boss, CUSTOMERS, item)["description"] == "v2"


# ---------------------------------------------------------------- projects as the API lists them


def test_projects_of_an_inactive_customer_stay_listed_with_its_status(store: MemoryStore, boss: Actor) -> None:
    live = add(store, boss, PROJECTS, **minimal(store, boss, PROJECTS, "Live"))
    gone = add(store, boss, PROJECTS, **minimal(store, boss, PROJECTS, "Gone"))
    catalogue.delete_item(store, boss, CUSTOMERS, gone["customer_id"], None)
    listed = {p["id"]: p for p in list_projects(store, boss, {})}
    assert listed[gone["id"]]["customer"]["status"] == "inactive" and listed[gone["id"]]["status"] == "active"
    assert [p["id"] for p in list_projects(store, boss, {"customer_status": "active"})] == [live["id"]]
    assert [p["id"] for p in list_projects(store, boss, {"customer_status": "inactive", "status": None})] == [
        gone["id"]
    ]


def test_recent_projects_are_the_active_ones_of_active_customers_used_last(
    store: MemoryStore, boss: Actor, ana: Actor
) -> None:
    activity = add(store, boss, ACTIVITIES, name="Dev")
    first = add(store, boss, PROJECTS, **minimal(store, boss, PROJECTS, "First"))
    second = add(store, boss, PROJECTS, **minimal(store, boss, PROJECTS, "Second"))
    now = parse_instant("2024-05-10T00:00:00Z")
    for day, project in ((1, first), (2, second)):
        body = {
            "project_id": project["id"],
            "activity_id": activity["id"],
            "start_date": f"2024-05-0{day}T09:00:00Z",
            "end_date": f"2024-05-0{day}T10:00:00Z",
        }
        calls.create_entry(store, ana, body, now, Rules())
    assert [p["name"] for p in queries.recent_projects(store, ana)] == ["Second", "First"]
    catalogue.delete_item(store, boss, PROJECTS, second["id"], None)
    catalogue.delete_item(store, boss, CUSTOMERS, first["customer_id"], None)
    assert queries.recent_projects(store, ana) == []
