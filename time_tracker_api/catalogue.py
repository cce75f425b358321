"""Service functions of the catalogue (customers, project types, projects, activities,
technologies): references, admin-only writes, projects with their relations. Each owns its
unit of work; the bodies are cleaned before (`catalogue_inputs`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from commons.data_access_layer.repository import (
    CUSTOMERS,
    PROJECT_TYPES,
    PROJECTS,
    TECHNOLOGIES,
    CatalogueSpec,
    ChangeQuery,
    Record,
    Store,
    UnitOfWork,
    decisions,
)
from commons.domain.clock import format_instant, now_ms
from commons.domain.errors import Invalid, NotFound
from commons.domain.identity import Identity, require_admin
from commons.domain.preconditions import IfMatch
from time_tracker_api.catalogue_inputs import ItemChanges


def _check_references(uow: UnitOfWork, spec: CatalogueSpec, values: Mapping[str, Any], item_id: str | None) -> None:
    if spec is PROJECTS:
        if "customer_id" in values:
            if values["customer_id"] is None:
                raise Invalid("customer_id is required: a project belongs to a customer", "customer_id")
            _must_be_active_customer(uow, values["customer_id"])
        if values.get("project_type_id"):
            _must_exist(uow, PROJECT_TYPES, values["project_type_id"], "Related project type does not exist")
    elif spec is PROJECT_TYPES:
        if values.get("customer_id"):
            _must_exist(uow, CUSTOMERS, values["customer_id"], "Related customer does not exist")
        if values.get("parent_id"):
            _must_exist(uow, PROJECT_TYPES, values["parent_id"], "Related parent project type does not exist")
            _no_cycle(uow, values["parent_id"], item_id)


def _no_cycle(uow: UnitOfWork, parent_id: str, item_id: str | None, depth: int = 50) -> None:
    """The parent chain must not come back to the item (it stays a tree)."""
    current: str | None = parent_id
    for _ in range(depth):
        if current is None:
            return
        if current == item_id:
            raise Invalid("A project type can not be its own ancestor")
        found = uow.project_types.get_many([current]).get(current)
        current = found.get("parent_id") if found else None
    raise Invalid("The project type tree is too deep")


def _must_be_active_customer(uow: UnitOfWork, customer_id: str) -> None:
    try:
        found = uow.customers.get(customer_id)
    except NotFound:
        raise Invalid("Related customer does not exist") from None
    if found.get("status") != "active":
        raise Invalid("Related customer is not active")


def _must_exist(uow: UnitOfWork, spec: CatalogueSpec, item_id: str, message: str) -> None:
    try:
        uow.catalogue(spec).get(item_id)
    except NotFound:
        raise Invalid(message) from None


#: Turns stored records into what the API answers (joins); the identity for most entities.
View = Callable[[UnitOfWork, list[Record]], list[Record]]


def as_stored(_uow: UnitOfWork, records: list[Record]) -> list[Record]:
    return records


def list_items(
    store: Store, identity: Identity, spec: CatalogueSpec, filters: Mapping[str, Any], view: View = as_stored
) -> list[Record]:
    with store.unit_of_work(identity) as uow:
        return view(uow, uow.catalogue(spec).list({k: v for k, v in filters.items() if v is not None}))


def list_changes(
    store: Store, identity: Identity, spec: CatalogueSpec, query: ChangeQuery, view: View = as_stored
) -> list[Record]:
    """A sync page of the catalogue (`updated_since`), in change order."""
    with store.unit_of_work(identity) as uow:
        return view(uow, uow.catalogue(spec).changes(query))


def get_item(store: Store, identity: Identity, spec: CatalogueSpec, item_id: str, view: View = as_stored) -> Record:
    with store.unit_of_work(identity) as uow:
        return view(uow, [uow.catalogue(spec).get(item_id)])[0]


def create_item(
    store: Store, identity: Identity, spec: CatalogueSpec, item: ItemChanges, view: View = as_stored
) -> Record:
    require_admin(identity)
    values = item.values()
    if spec is PROJECTS and "customer_id" not in values:
        raise Invalid("customer_id is required: a project belongs to a customer", "customer_id")
    if spec is TECHNOLOGIES and not values.get("creation_date"):
        values["creation_date"] = format_instant(now_ms())
    with store.unit_of_work(identity, write=True) as uow:
        _check_references(uow, spec, values, None)
        return view(uow, [uow.catalogue(spec).add(values)])[0]


def _expected(uow: UnitOfWork, spec: CatalogueSpec, item_id: str, if_match: IfMatch | None) -> str | None:
    if if_match is None:
        return None
    return if_match.expected(lambda: uow.catalogue(spec).get(item_id)["_etag"], spec.label)


def update_item(
    store: Store,
    identity: Identity,
    spec: CatalogueSpec,
    item_id: str,
    changes: ItemChanges,
    if_match: IfMatch | None,
    view: View = as_stored,
) -> Record:
    require_admin(identity)
    values = changes.values()
    # Without If-Match, a change that lost a race with another writer is made again on the
    # version that writer left (an engine that fences writes says so with Contended).
    for attempt in decisions():
        with attempt, store.unit_of_work(identity, write=True) as uow:
            if spec is PROJECT_TYPES and values.get("parent_id"):
                # Two re-parentings at once could each see no cycle and together make one: the
                # tenant's tree changes one at a time.
                uow.project_types.lock()
            _check_references(uow, spec, values, item_id)
            expected = _expected(uow, spec, item_id, if_match)
            return view(uow, [uow.catalogue(spec).update(item_id, values, expected)])[0]
    raise AssertionError("decisions() either returns or raises")  # pragma: no cover


def delete_item(store: Store, identity: Identity, spec: CatalogueSpec, item_id: str, if_match: IfMatch | None) -> None:
    require_admin(identity)
    for attempt in decisions():
        with attempt, store.unit_of_work(identity, write=True) as uow:
            uow.catalogue(spec).delete(item_id, _expected(uow, spec, item_id, if_match))


# ---------------------------------------------------------------- projects with their relations


def _relation(record: Record | None) -> dict[str, Any] | None:
    if record is None:
        return None
    return {"id": record["id"], "name": record["name"], "description": record.get("description")}


def _customer(record: Record | None) -> dict[str, Any] | None:
    relation = _relation(record)
    if relation is not None and record is not None:
        relation["status"] = record.get("status")
    return relation


def with_relations(uow: UnitOfWork, projects: list[Record]) -> list[Record]:
    """Attach `customer`, `customer_name` and `project_type` with two queries for any count."""
    customers = uow.customers.get_many({p["customer_id"] for p in projects if p.get("customer_id")})
    types = uow.project_types.get_many({p["project_type_id"] for p in projects if p.get("project_type_id")})
    for item in projects:
        owner = customers.get(item.get("customer_id") or "")
        item["customer"] = _customer(owner) or {
            "id": item.get("customer_id"),
            "name": None,
            "description": None,
            "status": None,
        }
        item["customer_name"] = owner["name"] if owner else None
        item["project_type"] = _relation(types.get(item.get("project_type_id") or ""))
    return projects
