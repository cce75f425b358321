"""Technologies: the tags people put on their work (python, angular...)."""

from __future__ import annotations

from flask_restx import Namespace

from commons.data_access_layer.repository import TECHNOLOGIES
from time_tracker_api.resources import NullableString, common_fields, name_field, register_catalogue

ns = Namespace("technologies", description="Technologies")

technology_input = ns.model(
    "TechnologyInput",
    {
        "name": name_field("python"),
        "first_use_time_entry_id": NullableString(description="The time entry that used it first"),
        "creation_date": NullableString(description="When it was first used (default: now)"),
    },
)
technology = ns.inherit("Technology", technology_input, common_fields())

register_catalogue(ns, TECHNOLOGIES, technology_input, technology)
