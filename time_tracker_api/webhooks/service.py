"""The rules of webhook endpoints (admins of the tenant): create, change, delete, ping, and the
delivery log. Deliveries are made by the event pipeline and sent by the dispatcher
(commons/webhooks); the bodies are cleaned before (`inputs`)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from commons.config import Settings
from commons.data_access_layer.repository import Record, Store
from commons.domain.errors import Conflict, NotFound, PreconditionFailed
from commons.domain.identity import Identity, require_admin
from commons.domain.preconditions import IfMatch
from commons.domain.webhooks import PENDING, new_secret
from commons.webhooks import checked_target, ping
from time_tracker_api.webhooks.inputs import WebhookChanges

MAX_ENDPOINTS = 50


def _reachable(settings: Settings, url: str) -> None:
    """A target that passes the rules now (it is checked again before every attempt)."""
    checked_target(url, settings.webhook_allow_private_targets)


def list_webhooks(store: Store, identity: Identity) -> list[Record]:
    """The tenant's endpoints (admins only)."""
    require_admin(identity)
    return store.webhooks.list_endpoints(identity.tenant_id)


def create_webhook(store: Store, settings: Settings, identity: Identity, webhook: WebhookChanges) -> Record:
    """A new endpoint with a fresh secret (answered this once)."""
    require_admin(identity)
    values = webhook.values()
    _reachable(settings, values["url"])
    webhooks = store.webhooks
    # Each endpoint costs the pipeline work on every write of the tenant: a bound, not a quota.
    if len(webhooks.list_endpoints(identity.tenant_id)) >= MAX_ENDPOINTS:
        raise Conflict(f"A tenant has at most {MAX_ENDPOINTS} webhook endpoints; delete one first")
    values.update(secret=new_secret(), disabled_reason=None, failing_since=None, last_error=None)
    return webhooks.add_endpoint(identity, values)


def get_webhook(store: Store, identity: Identity, endpoint_id: str) -> Record:
    require_admin(identity)
    return store.webhooks.get_endpoint(identity.tenant_id, endpoint_id)


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
    edit: WebhookChanges,
    condition: IfMatch | None,
    now: int,
) -> Record:
    """Change url, events, description or active. Enabling a disabled endpoint clears its
    failure record and sends its waiting deliveries at once."""
    require_admin(identity)
    webhooks = store.webhooks
    changes = edit.values()
    if "url" in changes:
        _reachable(settings, changes["url"])

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
    require_admin(identity)
    webhooks = store.webhooks
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
    endpoint = store.webhooks.get_endpoint(identity.tenant_id, endpoint_id)
    return ping(store, settings, endpoint, now)


def list_deliveries(
    store: Store, identity: Identity, endpoint_id: str, limit: int, continuation: str | None
) -> tuple[list[Record], str | None]:
    require_admin(identity)
    webhooks = store.webhooks
    webhooks.get_endpoint(identity.tenant_id, endpoint_id)
    return webhooks.list_deliveries(identity.tenant_id, endpoint_id, limit, continuation)


def get_delivery(store: Store, identity: Identity, endpoint_id: str, delivery_id: str) -> Record:
    require_admin(identity)
    found = store.webhooks.get_delivery(identity.tenant_id, delivery_id)
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
    return store.webhooks.write_delivery({**delivery, **changes}, delivery["_etag"])
