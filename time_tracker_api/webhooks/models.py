"""The `/webhooks` namespace's contract: its Swagger models and query parameters, and the wire
shapes of an endpoint and of a delivery."""

from __future__ import annotations

from typing import Any

from flask_restx import Namespace, fields
from flask_restx import inputs as restx_inputs

from commons.data_access_layer.repository import Record
from commons.domain.clock import format_instant
from commons.domain.webhooks import DELIVERED, MAX_DESCRIPTION, PENDING, SUBSCRIPTIONS
from time_tracker_api.inputs import query_parser
from time_tracker_api.resources import ERROR, NullableString

ns = Namespace(
    "webhooks",
    description="Signed webhooks (Standard Webhooks) of your tenant's writes, with a delivery log (admin)",
)
ns.add_model(ERROR.name, ERROR)

_EVENTS_HELP = (
    "Event types: `<entity>.created|updated|deleted` for customer, project_type, project, activity, "
    "technology and time_entry, plus `time_entry.started` (clock-in, restart) and `time_entry.stopped`; "
    "`time_entry.*` or `*` for all."
)
webhook_input = ns.model(
    "WebhookInput",
    {
        "url": fields.String(
            required=True,
            max_length=2000,
            description="https only; not a private address",
            example="https://example.com/hooks/tt",
        ),
        "events": fields.List(
            fields.String(enum=list(SUBSCRIPTIONS)),
            required=True,
            min_items=1,
            description=_EVENTS_HELP,
            example=["time_entry.*", "customer.created"],
        ),
        "description": NullableString(max_length=MAX_DESCRIPTION, example="Payroll sync"),
        "active": fields.Boolean(description="Deliveries are made while true (default)", example=True),
    },
)
webhook_update = ns.model(
    "WebhookUpdate",
    {
        "url": fields.String(max_length=2000, example="https://example.com/hooks/tt"),
        "events": fields.List(fields.String(enum=list(SUBSCRIPTIONS)), min_items=1, example=["*"]),
        "description": NullableString(max_length=MAX_DESCRIPTION),
        "active": fields.Boolean(description="true enables again an endpoint that was disabled", example=True),
    },
)
webhook = ns.model(
    "Webhook",
    {
        "id": fields.String(readonly=True, example="0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"),
        "tenant_id": fields.String(readonly=True),
        "url": fields.String(example="https://example.com/hooks/tt"),
        "events": fields.List(fields.String, example=["time_entry.*"]),
        "description": NullableString,
        "active": fields.Boolean,
        "disabled_reason": NullableString(description="Why it was disabled automatically (null when it was not)"),
        "failing_since": NullableString(description="Every attempt has failed since then (null when healthy)"),
        "last_error": NullableString(description="The last failed attempt's error"),
        "created_at": fields.String(example="2024-05-01T09:30:00.000Z"),
        "updated_at": fields.String(example="2024-05-01T09:30:00.000Z"),
        "deleted": NullableString(readonly=True, description="Always null"),
    },
)
created_webhook = ns.inherit(
    "CreatedWebhook",
    webhook,
    {
        "secret": fields.String(
            description="The signing secret (Standard Webhooks `whsec_...`), shown this once only",
            example="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        )
    },
)
attempt = ns.model(
    "DeliveryAttempt",
    {
        "at": fields.String(example="2024-05-01T09:30:01.000Z"),
        "status_code": fields.Integer(description="The answer's status (null when none came)", example=200),
        "latency_ms": fields.Integer(example=84),
        "error": NullableString(example="HTTP 503"),
        "response_excerpt": NullableString(description="The first 256 bytes of the answer, no more is kept"),
    },
)
delivery = ns.model(
    "WebhookDelivery",
    {
        "id": fields.String(description="The `webhook-id` header: the same on every attempt", example="msg_3f2a..."),
        "endpoint_id": fields.String,
        "event_id": fields.String(description="The audit event (GET /events)"),
        "item_id": fields.String,
        "type": fields.String(example="time_entry.stopped"),
        "status": fields.String(enum=["pending", "delivered", "failed", "cancelled"]),
        "delivered": fields.Boolean,
        "attempts": fields.Integer(example=1),
        "last_status_code": fields.Integer(example=200),
        "last_latency_ms": fields.Integer(example=84),
        "next_attempt": NullableString(description="When it is tried next (pending only)"),
        "created_at": fields.String,
        "attempts_log": fields.List(fields.Nested(attempt)),
        "payload": fields.Raw(
            description="The body sent",
            example={
                "type": "time_entry.stopped",
                "timestamp": "2024-05-01T11:00:00.000Z",
                "data": {
                    "id": "8c8c6b4a-8e63-4d6b-9b0b-0f0f4c7b7c3e",
                    "item_id": "5a1e0c2e-3b9e-4d7e-9a55-4f1f2b6a9c11",
                    "container_id": "time_entry",
                    "action": "update",
                    "user_id": "u-1",
                    "description": "Stop time entry",
                    "date": "2024-05-01T11:00:00.000Z",
                },
            },
        ),
    },
)
delivery_page = ns.model(
    "WebhookDeliveryPage",
    {
        "data": fields.List(fields.Nested(delivery)),
        "continuation": NullableString(description="Pass it back for the next page; null at the end"),
    },
)
pages = query_parser()
pages.add_argument(
    "limit", type=restx_inputs.int_range(1, 200), default=50, location="args", help="Page size (max 200)"
)
pages.add_argument("continuation", location="args", help="The token of the previous page")


event_types = ns.model(
    "WebhookEventTypes",
    {
        "types": fields.List(fields.String, example=["time_entry.started", "time_entry.stopped"]),
        "wildcards": fields.List(fields.String, example=["*", "time_entry.*"]),
    },
)


def endpoint_view(record: Record, *, with_secret: bool = False) -> dict[str, Any]:
    view = {
        k: record.get(k)
        for k in ("id", "tenant_id", "url", "description", "events", "active", "disabled_reason", "last_error")
    }
    view["failing_since"] = format_instant(record.get("failing_since"))
    view["created_at"] = format_instant(record.get("created_at"))
    view["updated_at"] = format_instant(record.get("updated_at"))
    view["deleted"] = None
    if with_secret:
        view["secret"] = record["secret"]
    return view


def delivery_view(record: Record) -> dict[str, Any]:
    view = {
        k: record.get(k) for k in ("id", "endpoint_id", "event_id", "item_id", "type", "status", "attempts", "payload")
    }
    view.update(
        last_status_code=record.get("last_status_code"),
        last_latency_ms=record.get("last_latency_ms"),
        next_attempt=format_instant(record.get("next_at")) if record.get("status") == PENDING else None,
        created_at=format_instant(record.get("created_at")),
        delivered=record.get("status") == DELIVERED,
        attempts_log=[{**a, "at": format_instant(a.get("at"))} for a in record.get("log", [])],
    )
    return view
