"""The `/webhooks` namespace (admin of the tenant): thin resources over `service`."""

from __future__ import annotations

from typing import Any

from flask import current_app, request

from commons.config import Settings
from commons.data_access_layer.repository import Record
from commons.domain.identity import require_admin
from commons.domain.webhooks import ENTITIES, EVENT_TYPES
from time_tracker_api.inputs import body
from time_tracker_api.resources import ERROR, Base, if_match, store
from time_tracker_api.security import current_identity
from time_tracker_api.webhooks import inputs, service
from time_tracker_api.webhooks.models import (
    created_webhook,
    delivery,
    delivery_page,
    delivery_view,
    endpoint_view,
    event_types,
    ns,
    pages,
    webhook,
    webhook_input,
    webhook_update,
)

#: What the package exports: the namespace, with the routes this module adds to it.
__all__ = ["ns"]


def _settings() -> Settings:
    return current_app.extensions["time_tracker"].settings  # type: ignore[no-any-return]


def _now() -> int:
    return current_app.extensions["time_tracker"].clock()  # type: ignore[no-any-return]


def _entity(record: Record, status: int = 200, **kw: Any) -> tuple[dict[str, Any], int, dict[str, str]]:
    headers = {"ETag": f'"{record["_etag"]}"'}
    if status == 201:
        headers["Location"] = f"{request.root_path}{ns.path}/{record['id']}"
    return endpoint_view(record, **kw), status, headers


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
        return [endpoint_view(r) for r in service.list_webhooks(store(), current_identity())]

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
        identity, payload = current_identity(), body()
        require_admin(identity)  # 403 before the body's fields are judged
        created = service.create_webhook(store(), _settings(), identity, inputs.new_webhook(payload))
        return _entity(created, 201, with_secret=True)


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
        return _entity(service.get_webhook(store(), current_identity(), id))

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
        identity, payload, condition = current_identity(), body(), if_match()
        require_admin(identity)  # 403 before the body's fields are judged
        edit = inputs.webhook_changes(payload)
        return _entity(service.update_webhook(store(), _settings(), identity, id, edit, condition, _now()))

    @ns.response(204, "Deleted")
    @ns.response(412, "If-Match does not match the current ETag", ERROR)
    @ns.doc(id="delete_webhook")
    def delete(self, id: str) -> Any:
        """Delete a webhook endpoint: nothing more is sent to it (admin)

        Its waiting deliveries are cancelled; send If-Match with the ETag you read to refuse a lost update.
        """
        service.delete_webhook(store(), current_identity(), id, if_match())
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
        return delivery_view(service.ping_webhook(store(), _settings(), current_identity(), id, _now()))


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
        data, token = service.list_deliveries(
            store(), current_identity(), id, a.get("limit") or 50, a.get("continuation")
        )
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
        return delivery_view(service.get_delivery(store(), current_identity(), id, delivery_id))


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
        return delivery_view(service.redeliver(store(), current_identity(), id, delivery_id, _now())), 202
