"""Service functions of the catalogue (customers, project types, projects, activities,
technologies): field whitelisting, references, admin-only writes. Each owns its unit of work.
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

STATUSES = {"active": "active", "inactive": "inactive", 1: "active", 0: "inactive"}
_ID_FIELDS = ("customer_id", "project_type_id", "parent_id", "first_use_time_entry_id")
MAX_TECHNOLOGIES = 50
#: The longest value each text field keeps (the stores' column sizes); ids are 36 characters.
MAX_LENGTHS = {"name": 255, "description": 5000, "creation_date": 40, "technologies": 255}
MAX_ID = 36


def max_length(field: str) -> int:
    """The longest text `field` may hold (ids, then the named limits, else 5000)."""
    return MAX_ID if field.endswith("_id") else MAX_LENGTHS.get(field, 5000)


def _clean_text(value: Any, field: str, *, required: bool) -> str | None:
    if value is None:
        if required:
            raise Invalid(f"{field} can not be empty", field)
        return None
    if not isinstance(value, str):
        raise Invalid(f"{field} must be a string", field)
    value = value.strip()
    if not value:
        if required:
            raise Invalid(f"{field} can not be empty", field)
        return None
    limit = max_length(field)
    if len(value) > limit:
        raise Invalid(f"{field} is too long (at most {limit} characters)", field)
    return str(value)


def clean_fields(spec: CatalogueSpec, body: Mapping[str, Any], *, partial: bool) -> dict[str, Any]:
    """Keep only the fields a client may write, normalised; unknown keys are ignored."""
    values: dict[str, Any] = {}
    for field in spec.fields:
        if field not in body:
            continue
        value = body[field]
        if field == "name":
            values[field] = _clean_text(value, "name", required=True)
        elif field == "status":
            if value not in STATUSES or isinstance(value, float):
                raise Invalid("status must be 'active' or 'inactive'", "status")
            values[field] = STATUSES[value]
        elif field == "billable":
            # None: as the level above (a project as its customer; a customer: billable).
            if value is not None and not isinstance(value, bool):
                raise Invalid("billable must be true, false or null", "billable")
            values[field] = value
        elif field == "technologies":
            if value is None:
                value = []
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise Invalid("technologies must be an array of strings", "technologies")
            if any(len(v) > MAX_LENGTHS["technologies"] for v in value):
                raise Invalid(f"technologies are at most {MAX_LENGTHS['technologies']} characters each")
            values[field] = list(dict.fromkeys(v.strip() for v in value if v.strip()))[:MAX_TECHNOLOGIES]
        else:
            values[field] = _clean_text(value, field, required=False)
    if not partial and "name" not in values:
        raise Invalid("name is a required property", "name")
    return values


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
    store: Store, identity: Identity, spec: CatalogueSpec, body: Mapping[str, Any], view: View = as_stored
) -> Record:
    require_admin(identity)
    values = clean_fields(spec, body, partial=False)
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
    body: Mapping[str, Any],
    if_match: IfMatch | None,
    view: View = as_stored,
) -> Record:
    require_admin(identity)
    values = clean_fields(spec, body, partial=True)
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
