"""Webhooks (`/webhooks`, admin of the tenant): signed deliveries of the tenant's writes.

Service functions first (the rules), then the namespace (thin resources). Deliveries are made
by the event pipeline and sent by the dispatcher (commons/webhooks.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from flask import current_app, request
from flask_restx import Namespace, fields
from flask_restx import inputs as restx_inputs

from commons.config import Settings
from commons.data_access_layer.repository import Record, Store
from commons.domain.clock import format_instant
from commons.domain.errors import Conflict, Invalid, NotFound, PreconditionFailed
from commons.domain.identity import Identity, require_admin
from commons.domain.preconditions import IfMatch
from commons.domain.webhooks import (
    DELIVERED,
    ENTITIES,
    EVENT_TYPES,
    MAX_DESCRIPTION,
    PENDING,
    SUBSCRIPTIONS,
    validate_subscriptions,
)
from commons.webhooks import checked_target, ping
from commons.wiring import build_webhooks
from time_tracker_api.inputs import body, query_parser
from time_tracker_api.resources import ERROR, Base, NullableString, if_match, store
from time_tracker_api.security import current_identity

# ----------------------------------------------------------------------------- service

MAX_ENDPOINTS = 50


def _url(settings: Settings, value: object) -> str:
    """A target that passes the rules now (it is checked again before every attempt)."""
    checked_target(value, settings.webhook_allow_private_targets)  # type: ignore[arg-type]
    return str(value).strip()


def _fields(settings: Settings, data: Mapping[str, Any], *, creating: bool) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if creating or "url" in data:
        values["url"] = _url(settings, data.get("url"))
    if creating or "events" in data:
        values["events"] = validate_subscriptions(data.get("events"))
    if "description" in data:
        description = data["description"]
        if description is not None and (not isinstance(description, str) or len(description) > MAX_DESCRIPTION):
            raise Invalid(f"description must be text of at most {MAX_DESCRIPTION} characters", "description")
        values["description"] = description
    elif creating:
        values["description"] = None
    if "active" in data:
        if not isinstance(data["active"], bool):
            raise Invalid("active must be true or false", "active")
        values["active"] = data["active"]
    elif creating:
        values["active"] = True
    return values


def list_webhooks(store: Store, identity: Identity) -> list[Record]:
    """The tenant's endpoints (admins only)."""
    require_admin(identity)
    return build_webhooks(store).list_endpoints(identity.tenant_id)


def create_webhook(store: Store, settings: Settings, identity: Identity, data: Mapping[str, Any]) -> Record:
    """A new endpoint with a fresh secret (answered this once)."""
    from commons.domain.webhooks import new_secret

    require_admin(identity)
    values = _fields(settings, data, creating=True)
    webhooks = build_webhooks(store)
    # Each endpoint costs the pipeline work on every write of the tenant: a bound, not a quota.
    if len(webhooks.list_endpoints(identity.tenant_id)) >= MAX_ENDPOINTS:
        raise Conflict(f"A tenant has at most {MAX_ENDPOINTS} webhook endpoints; delete one first")
    values.update(secret=new_secret(), disabled_reason=None, failing_since=None, last_error=None)
    return webhooks.add_endpoint(identity, values)


def get_webhook(store: Store, identity: Identity, endpoint_id: str) -> Record:
    require_admin(identity)
    return build_webhooks(store).get_endpoint(identity.tenant_id, endpoint_id)


def _expected(current: Record, condition: IfMatch | None) -> str:
    if condition is None:
        return str(current["_etag"])
    return condition.expected(lambda: str(current["_etag"]), "Webhook")


def _conditional(
    webhooks: Any, tenant: str, endpoint_id: str, condition: IfMatch | None, write: Callable[[Record], Record]
) -> tuple[Record, Record]:
    """Read, then write on that version. Without If-Match, a version changed meanwhile (the
    dispatcher's failure bookkeeping) is read again rather than answered with 412."""
    for attempt in range(1 if condition is not None else 5):
        current = webhooks.get_endpoint(tenant, endpoint_id)
        try:
            return current, write(current)
        except PreconditionFailed:
            if condition is not None or attempt == 4:
                raise
    raise AssertionError("unreachable")


def update_webhook(
    store: Store,
    settings: Settings,
    identity: Identity,
    endpoint_id: str,
    data: Mapping[str, Any],
    condition: IfMatch | None,
    now: int,
) -> Record:
    """Change url, events, description or active. Enabling a disabled endpoint clears its
    failure record and sends its waiting deliveries at once."""
    require_admin(identity)
    webhooks = build_webhooks(store)
    changes = _fields(settings, data, creating=False)

    def write(current: Record) -> Record:
        wanted = dict(changes)
        if wanted.get("active") and not current.get("active"):
            wanted.update(disabled_reason=None, failing_since=None, last_error=None)
        return webhooks.write_endpoint({**current, **wanted}, _expected(current, condition), identity, "update")

    current, updated = _conditional(webhooks, identity.tenant_id, endpoint_id, condition, write)
    if changes.get("active") and not current.get("active"):
        for delivery in webhooks.pending(identity.tenant_id, endpoint_id):
            try:
                webhooks.write_delivery({**delivery, "next_at": now, "tries": 0}, delivery["_etag"])
            except Exception:  # noqa: BLE001 - a dispatcher took it meanwhile; it will be sent
                continue
    return updated


def delete_webhook(store: Store, identity: Identity, endpoint_id: str, condition: IfMatch | None) -> None:
    """Soft delete: the endpoint disappears and gets nothing more (its log stays a while)."""
    import uuid

    require_admin(identity)
    webhooks = build_webhooks(store)
    changes = {"deleted": str(uuid.uuid4()), "active": False}
    _conditional(
        webhooks,
        identity.tenant_id,
        endpoint_id,
        condition,
        lambda current: webhooks.write_endpoint(
            {**current, **changes}, _expected(current, condition), identity, "delete"
        ),
    )


def ping_webhook(store: Store, settings: Settings, identity: Identity, endpoint_id: str, now: int) -> Record:
    """Send a signed `webhook.ping` now and answer its delivery record."""
    require_admin(identity)
    endpoint = build_webhooks(store).get_endpoint(identity.tenant_id, endpoint_id)
    return ping(store, settings, endpoint, now)


def list_deliveries(
    store: Store, identity: Identity, endpoint_id: str, limit: int, continuation: str | None
) -> tuple[list[Record], str | None]:
    require_admin(identity)
    webhooks = build_webhooks(store)
    webhooks.get_endpoint(identity.tenant_id, endpoint_id)
    return webhooks.list_deliveries(identity.tenant_id, endpoint_id, limit, continuation)


def get_delivery(store: Store, identity: Identity, endpoint_id: str, delivery_id: str) -> Record:
    require_admin(identity)
    found = build_webhooks(store).get_delivery(identity.tenant_id, delivery_id)
    if found["endpoint_id"] != endpoint_id:
        raise NotFound("Delivery not found")
    return found


def redeliver(store: Store, identity: Identity, endpoint_id: str, delivery_id: str, now: int) -> Record:
    """Send one event again, with the same `webhook-id`, as soon as its item's earlier
    deliveries allow (a fresh retry schedule)."""
    delivery = get_delivery(store, identity, endpoint_id, delivery_id)
    if delivery["status"] == PENDING and delivery.get("lease_until", 0) > now:
        raise Conflict("This delivery is being sent right now; look at its log in a few seconds")
    changes = {"status": PENDING, "next_at": now, "tries": 0, "lease_until": 0, "updated_at": now}
    return build_webhooks(store).write_delivery({**delivery, **changes}, delivery["_etag"])


# ----------------------------------------------------------------------------- views


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


def _settings() -> Settings:
    return current_app.extensions["time_tracker"].settings  # type: ignore[no-any-return]


def _now() -> int:
    return current_app.extensions["time_tracker"].clock()  # type: ignore[no-any-return]


def _entity(record: Record, status: int = 200, **kw: Any) -> tuple[dict[str, Any], int, dict[str, str]]:
    headers = {"ETag": f'"{record["_etag"]}"'}
    if status == 201:
        headers["Location"] = f"{request.root_path}{ns.path}/{record['id']}"
    return endpoint_view(record, **kw), status, headers


# ----------------------------------------------------------------------------- namespace

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


@ns.route("")
@ns.response(401, "Missing or invalid token", ERROR)
@ns.response(403, "You don't have enough permissions.", ERROR)
class Webhooks(Base):
    @ns.response(200, "Success", [webhook])
    @ns.doc(id="list_webhooks")
    def get(self) -> Any:
        """List your tenant's webhook endpoints (admin)

        Secrets are never listed: they are shown once, when an endpoint is created.
        """
        return [endpoint_view(r) for r in list_webhooks(store(), current_identity())]

    @ns.expect(webhook_input, validate=True)
    @ns.response(201, "Created; `secret` is shown this once", created_webhook, headers={"Location": "Its path"})
    @ns.response(400, "Invalid input, or a target that is not https or is a private address", ERROR)
    @ns.response(409, "The tenant has 50 endpoints already", ERROR)
    @ns.doc(id="create_webhook")
    def post(self) -> Any:
        """Create a webhook endpoint (admin)

        Every write of your tenant of a subscribed type is POSTed to `url` as JSON
        `{"type", "timestamp", "data"}` (data: the audit event), signed per the Standard Webhooks
        specification: headers `webhook-id` (the same on every retry: de-duplicate by it),
        `webhook-timestamp` and `webhook-signature` (`v1,<base64 HMAC-SHA256 of
        "{webhook-id}.{webhook-timestamp}.{body}">` with the secret's bytes after `whsec_`). Any
        2xx is a success; anything else, a redirect or no answer within the timeout is retried
        with exponential backoff for more than 24 h, each item's events in order. An endpoint
        failing for a day is disabled, with the reason. Targets: https only, never a private,
        loopback or link-local address, redirects not followed.
        """
        created = create_webhook(store(), _settings(), current_identity(), body())
        return _entity(created, 201, with_secret=True)


event_types = ns.model(
    "WebhookEventTypes",
    {
        "types": fields.List(fields.String, example=["time_entry.started", "time_entry.stopped"]),
        "wildcards": fields.List(fields.String, example=["*", "time_entry.*"]),
    },
)


@ns.route("/event-types")
@ns.response(401, "Missing or invalid token", ERROR)
class EventTypes(Base):
    @ns.response(200, "Success", event_types)
    @ns.doc(id="list_webhook_event_types")
    def get(self) -> Any:
        """The event types an endpoint can subscribe to

        `<entity>.created|updated|deleted` per entity, and `time_entry.started` (a clock-in: a create of a
        running entry, or a restart) and `time_entry.stopped`, which also count as `time_entry.created` /
        `time_entry.updated`. Wildcards: `<entity>.*` and `*`.
        """
        return {"types": list(EVENT_TYPES), "wildcards": ["*", *(f"{e}.*" for e in ENTITIES)]}


@ns.route("/<string:id>")
@ns.param("id", "The webhook endpoint identifier")
@ns.response(401, "Missing or invalid token", ERROR)
@ns.response(403, "You don't have enough permissions.", ERROR)
@ns.response(404, "Webhook not found", ERROR)
class WebhookItem(Base):
    @ns.response(200, "Success", webhook)
    @ns.doc(id="get_webhook")
    def get(self, id: str) -> Any:
        """Get a webhook endpoint, with why it was disabled if it was (admin)

        `failing_since` and `last_error` tell a failing endpoint; `disabled_reason` why it was disabled.
        The secret is not shown again.
        """
        return _entity(get_webhook(store(), current_identity(), id))

    @ns.expect(webhook_update, validate=True)
    @ns.response(200, "Updated", webhook)
    @ns.response(400, "Invalid input", ERROR)
    @ns.response(412, "If-Match does not match the current ETag", ERROR)
    @ns.doc(id="update_webhook")
    def put(self, id: str) -> Any:
        """Update a webhook endpoint; every field is optional (admin)

        `active: true` enables a disabled endpoint again: its failure record is cleared and its
        waiting deliveries are sent at once.
        """
        return _entity(update_webhook(store(), _settings(), current_identity(), id, body(), if_match(), _now()))

    @ns.response(204, "Deleted")
    @ns.response(412, "If-Match does not match the current ETag", ERROR)
    @ns.doc(id="delete_webhook")
    def delete(self, id: str) -> Any:
        """Delete a webhook endpoint: nothing more is sent to it (admin)

        Its waiting deliveries are cancelled; send If-Match with the ETag you read to refuse a lost update.
        """
        delete_webhook(store(), current_identity(), id, if_match())
        return None, 204


@ns.route("/<string:id>/ping")
@ns.param("id", "The webhook endpoint identifier")
@ns.response(401, "Missing or invalid token", ERROR)
@ns.response(403, "You don't have enough permissions.", ERROR)
@ns.response(404, "Webhook not found", ERROR)
class Ping(Base):
    @ns.response(200, "The ping's delivery: its status, response code, latency and excerpt", delivery)
    @ns.doc(id="ping_webhook")
    def post(self, id: str) -> Any:
        """Send a signed test event (`webhook.ping`) now and see what the target answered (admin)

        The answer is the ping's delivery record: status, response code, latency, error and a short
        excerpt of the answer. A ping is never retried and does not count towards disabling.
        """
        return delivery_view(ping_webhook(store(), _settings(), current_identity(), id, _now()))


@ns.route("/<string:id>/deliveries")
@ns.param("id", "The webhook endpoint identifier")
@ns.response(401, "Missing or invalid token", ERROR)
@ns.response(403, "You don't have enough permissions.", ERROR)
@ns.response(404, "Webhook not found", ERROR)
class Deliveries(Base):
    @ns.expect(pages)
    @ns.response(200, "A page of the delivery log, newest first", delivery_page)
    @ns.response(400, "Malformed token", ERROR)
    @ns.doc(id="list_webhook_deliveries")
    def get(self, id: str) -> Any:
        """The endpoint's delivery log, newest first (admin)

        Each delivery: its status (pending, delivered, failed, cancelled), attempts with status code,
        latency and a short excerpt of the answer, and when it is tried next.
        """
        a = pages.parse_args()
        data, token = list_deliveries(store(), current_identity(), id, a.get("limit") or 50, a.get("continuation"))
        return {"data": [delivery_view(d) for d in data], "continuation": token}


@ns.route("/<string:id>/deliveries/<string:delivery_id>")
@ns.param("id", "The webhook endpoint identifier")
@ns.param("delivery_id", "The delivery (its webhook-id)")
@ns.response(401, "Missing or invalid token", ERROR)
@ns.response(403, "You don't have enough permissions.", ERROR)
@ns.response(404, "Delivery not found", ERROR)
class DeliveryItem(Base):
    @ns.response(200, "Success", delivery)
    @ns.doc(id="get_webhook_delivery")
    def get(self, id: str, delivery_id: str) -> Any:
        """One delivery with every attempt (admin)

        Each attempt: when, the response code, the latency, the error and the first 256 bytes of the answer.
        """
        return delivery_view(get_delivery(store(), current_identity(), id, delivery_id))


@ns.route("/<string:id>/deliveries/<string:delivery_id>/redeliver")
@ns.param("id", "The webhook endpoint identifier")
@ns.param("delivery_id", "The delivery (its webhook-id)")
@ns.response(401, "Missing or invalid token", ERROR)
@ns.response(403, "You don't have enough permissions.", ERROR)
@ns.response(404, "Delivery not found", ERROR)
class Redeliver(Base):
    @ns.response(202, "Queued: it is sent again shortly, with the same webhook-id", delivery)
    @ns.response(409, "It is being sent right now", ERROR)
    @ns.doc(id="redeliver_webhook_delivery")
    def post(self, id: str, delivery_id: str) -> Any:
        """Send one event again (admin)

        The same `webhook-id` and body, a fresh retry schedule, after any earlier pending event
        of the same item.
        """
        return delivery_view(redeliver(store(), current_identity(), id, delivery_id, _now())), 202
