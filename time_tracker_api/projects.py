"""Projects: what the time is spent on; each belongs to a customer."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask_restx import Namespace, fields

from commons.data_access_layer.repository import PROJECTS, Record, Store
from commons.domain.identity import Identity
from time_tracker_api.catalogue import with_relations
from time_tracker_api.catalogue_inputs import MAX_TECHNOLOGIES, max_length
from time_tracker_api.inputs import NOT_BLANK, query_parser
from time_tracker_api.resources import (
    ERROR,
    Base,
    NullableBoolean,
    NullableString,
    Status,
    common_fields,
    name_field,
    public,
    register_catalogue,
    store,
)
from time_tracker_api.security import current_identity
from time_tracker_api.time_entries.queries import recent_projects

ns = Namespace(
    "projects",
    description="Projects (deactivated, never erased). Deactivating a customer leaves its projects as "
    "they are: they stay listed and readable with customer.status inactive (filter with customer_status), "
    "and no time entry can be recorded, moved onto or restarted on them until the customer is active again.",
)

project_input = ns.model(
    "ProjectInput",
    {
        "name": name_field("Website redesign"),
        "description": NullableString(max_length=250, example="The 2024 redesign"),
        # Required on create (the update model makes every field optional), never null or blank.
        "customer_id": fields.String(
            required=True, pattern=NOT_BLANK, description="The customer", example="8c8c6b4a-8e63-4d6b-9b0b-0f0f4c7b7c3e"
        ),
        "project_type_id": NullableString(description="The project type"),
        "technologies": fields.List(
            fields.String(max_length=max_length("technologies")),
            max_items=MAX_TECHNOLOGIES,
            description="Technologies used",
            example=["python"],
        ),
        "status": Status(description="active (default) or inactive"),
        "billable": NullableBoolean(description="Time on this project is billable (null: as its customer)"),
    },
)
summary = ns.model(
    "ProjectRelation",
    {"id": NullableString, "name": NullableString, "description": NullableString},
)
customer_summary = ns.inherit(
    "ProjectCustomer",
    summary,
    {"status": NullableString(description="active or inactive: entries need an active customer", example="active")},
)
project = ns.inherit(
    "Project",
    project_input,
    {
        **common_fields(),
        "customer_name": NullableString(readonly=True),
        "customer": fields.Nested(customer_summary, readonly=True),
        "project_type": fields.Nested(summary, readonly=True, allow_null=True, nullable=True),
    },
)

filters = query_parser()
filters.add_argument("customer_id", location="args", help="Only the projects of this customer")
filters.add_argument("project_type_id", location="args", help="Only the projects of this type")
filters.add_argument(
    "status", choices=("active", "inactive"), location="args", help="Only projects with this status (their own)"
)
filters.add_argument(
    "customer_status",
    choices=("active", "inactive"),
    location="args",
    help="Only projects whose customer has this status (all when absent)",
)


def list_projects(store: Store, identity: Identity, args: Mapping[str, Any]) -> list[Record]:
    """Projects of every customer, each with its customer's status (`customer_status` filters on it)."""
    wanted = {k: v for k, v in args.items() if v is not None}
    customer_status = wanted.pop("customer_status", None)
    with store.unit_of_work(identity) as uow:
        projects = with_relations(uow, uow.projects.list(wanted))
    if customer_status is None:
        return projects
    return [p for p in projects if p["customer"]["status"] == customer_status]


@ns.route("/recent")
@ns.response(401, "Missing or invalid token", ERROR)
class RecentProjects(Base):
    @ns.response(200, "Success", [project])
    @ns.doc(id="list_recent_projects")
    def get(self) -> Any:
        """Active projects you used in your latest time entries, most recent first

        The projects of your latest entries that are still active, for the clock-in picker.
        """
        return [public(p) for p in recent_projects(store(), current_identity())]


register_catalogue(ns, PROJECTS, project_input, project, filters, list_view=list_projects, view=with_relations)
