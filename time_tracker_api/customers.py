"""Customers: the companies the work is done for."""

from __future__ import annotations

from flask_restx import Namespace

from commons.data_access_layer.repository import CUSTOMERS
from time_tracker_api.inputs import query_parser
from time_tracker_api.resources import (
    NullableBoolean,
    NullableString,
    Status,
    common_fields,
    name_field,
    register_catalogue,
)

ns = Namespace("customers", description="Customers (deactivated, never erased)")

customer_input = ns.model(
    "CustomerInput",
    {
        "name": name_field("Acme Corp."),
        "description": NullableString(max_length=250, example="Our oldest customer"),
        "status": Status(description="active (default) or inactive"),
        "billable": NullableBoolean(description="Time for this customer is billable (null: yes); projects inherit it"),
    },
)
customer = ns.inherit("Customer", customer_input, common_fields())

filters = query_parser()
filters.add_argument("status", choices=("active", "inactive"), location="args", help="Only customers with this status")

register_catalogue(ns, CUSTOMERS, customer_input, customer, filters)
