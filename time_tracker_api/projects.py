"""Projects: what the time is spent on; each belongs to a customer."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask_restx import Namespace, fields

from commons.data_access_layer.repository import PROJECTS, Record, Store, UnitOfWork
from time_tracker_api.inputs import query_parser
from time_tracker_api.resources import (
    ERROR,
    Base,
    NullableString,
    Status,
    common_fields,
    name_field,
    public,
    register_catalogue,
    store,
)
from time_tracker_api.security import Identity, current_identity

ns = Namespace("projects", description="Projects (deactivated, never erased)")

project_input = ns.model(
    "ProjectInput",
    {
        "name": name_field("Website redesign"),
        "description": NullableString(max_length=250, example="The 2024 redesign"),
        "customer_id": NullableString(description="The customer (required on create)"),
        "project_type_id": NullableString(description="The project type"),
        "technologies": fields.List(fields.String, description="Technologies used", example=["python"]),
        "status": Status(description="active (default) or inactive"),
    },
)
summary = ns.model(
    "ProjectRelation",
    {"id": NullableString, "name": NullableString, "description": NullableString},
)
project = ns.inherit(
    "Project",
    project_input,
    {
        **common_fields(),
        "customer_name": NullableString(readonly=True),
        "customer": fields.Nested(summary, readonly=True),
        "project_type": fields.Nested(summary, readonly=True, allow_null=True, nullable=True),
    },
)

filters = query_parser()
filters.add_argument("customer_id", location="args", help="Only the projects of this customer")
filters.add_argument("project_type_id", location="args", help="Only the projects of this type")
filters.add_argument("status", choices=("active", "inactive"), location="args", help="Only projects with this status")


def _relation(record: Record | None) -> dict[str, Any] | None:
    if record is None:
        return None
    return {"id": record["id"], "name": record["name"], "description": record.get("description")}


def with_relations(uow: UnitOfWork, projects: list[Record]) -> list[Record]:
    """Attach `customer`, `customer_name` and `project_type` with two queries for any count."""
    customers = uow.customers.get_many({p["customer_id"] for p in projects if p.get("customer_id")})
    types = uow.project_types.get_many({p["project_type_id"] for p in projects if p.get("project_type_id")})
    for item in projects:
        owner = customers.get(item.get("customer_id") or "")
        item["customer"] = _relation(owner) or {"id": item.get("customer_id"), "name": None, "description": None}
        item["customer_name"] = owner["name"] if owner else None
        item["project_type"] = _relation(types.get(item.get("project_type_id") or ""))
    return projects


def list_projects(store: Store, identity: Identity, args: Mapping[str, Any]) -> list[Record]:
    """Projects of active customers (all of one customer when `customer_id` is given)."""
    wanted = {k: v for k, v in args.items() if v is not None}
    with store.unit_of_work(identity) as uow:
        projects = with_relations(uow, uow.projects.list(wanted))
        if "customer_id" in wanted:
            return projects
        active = {c["id"] for c in uow.customers.list({"status": "active"})}
        return [p for p in projects if p.get("customer_id") in active]


@ns.route("/recent")
@ns.response(401, "Missing or invalid token", ERROR)
class RecentProjects(Base):
    @ns.response(200, "Success", [project])
    @ns.doc(id="list_recent_projects")
    def get(self) -> Any:
        """Active projects you used in your latest time entries, most recent first

        The projects of your latest entries that are still active, for the clock-in picker.
        """
        from time_tracker_api.time_entries.service import recent_projects

        return [public(p) for p in recent_projects(store(), current_identity())]


register_catalogue(ns, PROJECTS, project_input, project, filters, list_view=list_projects, view=with_relations)
