"""Project types: a tree of kinds of project, per customer or for the whole tenant."""

from __future__ import annotations

from flask_restx import Namespace

from commons.data_access_layer.repository import PROJECT_TYPES
from time_tracker_api.inputs import query_parser
from time_tracker_api.resources import NullableString, common_fields, name_field, register_catalogue

ns = Namespace("project-types", description="Project types")

project_type_input = ns.model(
    "ProjectTypeInput",
    {
        "name": name_field("Fixed price"),
        "description": NullableString(max_length=250, example="Delivered for an agreed price"),
        "customer_id": NullableString(description="The customer it belongs to; none for the whole tenant"),
        "parent_id": NullableString(description="The parent project type"),
    },
)
project_type = ns.inherit("ProjectType", project_type_input, common_fields())

filters = query_parser()
filters.add_argument("customer_id", location="args", help="Only the types of this customer")
filters.add_argument("parent_id", location="args", help="Only the children of this type")

register_catalogue(ns, PROJECT_TYPES, project_type_input, project_type, filters, noun="project type")
