"""Activities: what kind of work an entry is (development, meeting...), per tenant."""

from __future__ import annotations

from flask_restx import Namespace

from commons.data_access_layer.repository import ACTIVITIES
from time_tracker_api.inputs import query_parser
from time_tracker_api.resources import NullableString, Status, common_fields, name_field, register_catalogue

ns = Namespace("activities", description="Activities (archived, never erased)")

activity_input = ns.model(
    "ActivityInput",
    {
        "name": name_field("Development"),
        "description": NullableString(max_length=500, example="Writing and reviewing code"),
        "status": Status(description="active (default) or inactive"),
    },
)
activity = ns.inherit("Activity", activity_input, common_fields())

filters = query_parser()
filters.add_argument("status", choices=("active", "inactive"), location="args", help="Only activities with this status")

register_catalogue(ns, ACTIVITIES, activity_input, activity, filters)
