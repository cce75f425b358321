"""The webhooks part of the repository contract (TT-15): endpoints and their deliveries.

Kept beside `repository.py` rather than in it: the dispatcher works across tenants (it sends
whatever is due, whoever owns it), so these operations name the tenant instead of running in a
unit of work of one actor. Records are dicts with `_etag`; writes are conditional on it.

- An **endpoint** `{id, tenant_id, url, description, events, active, secret, disabled_reason,
  failing_since, last_error, created_at, updated_at, deleted}` is written by admins (each such
  write stamps `_last_event_ctx` and puts an outbox event, like every business write) and by
  the dispatcher (failure bookkeeping, automatic disabling).
- A **delivery** `{id (the webhook-id), tenant_id, endpoint_id, event_id, item_id, type,
  payload, seq, status, attempts, log, next_at, lease_until, last_status_code,
  last_latency_ms, created_at, updated_at}` is one event for one endpoint. `seq` orders the
  deliveries of one item; only the lowest pending one of an (endpoint, item) is sent.
"""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from commons.data_access_layer.events import CREATE, Actor, event_context
from commons.data_access_layer.repository import Record
from commons.domain.clock import now_ms


def new_endpoint(actor: Actor, fields: Mapping[str, Any]) -> Record:
    """An endpoint to store: the admin's fields and the server-owned ones (every engine's)."""
    now = now_ms()
    return {
        **fields,
        "id": str(uuid.uuid4()),
        "tenant_id": actor.tenant_id,
        "created_at": now,
        "updated_at": now,
        "deleted": None,
        "_last_event_ctx": event_context(actor, "webhook", CREATE, now),
    }


class Webhooks(Protocol):
    """Endpoints and deliveries of every tenant (one per store)."""

    def add_endpoint(self, actor: Actor, fields: Mapping[str, Any]) -> Record:
        """Insert an endpoint of the actor's tenant (with its outbox event)."""

    def get_endpoint(self, tenant: str, endpoint_id: str) -> Record:
        """The live endpoint; NotFound when missing or deleted."""

    def list_endpoints(self, tenant: str) -> builtins.list[Record]:
        """The tenant's live endpoints, oldest first."""

    def write_endpoint(self, endpoint: Record, etag: str, actor: Actor | None = None, action: str = "update") -> Record:
        """Replace the endpoint if it is still at `etag` (else PreconditionFailed). With an
        actor (an admin's change) the write stamps its context and puts an outbox event; the
        dispatcher's bookkeeping passes none."""

    def enqueue(self, deliveries: Iterable[Mapping[str, Any]]) -> int:
        """Store new deliveries; an id stored already is kept as it is (replays of the feed
        add nothing). Answers how many were new."""

    def get_delivery(self, tenant: str, delivery_id: str) -> Record:
        """One delivery of the tenant; NotFound when missing."""

    def list_deliveries(
        self, tenant: str, endpoint_id: str, limit: int, continuation: str | None
    ) -> tuple[builtins.list[Record], str | None]:
        """The endpoint's delivery log, newest first, and the token of the next page."""

    def due(self, now: int, limit: int) -> builtins.list[Record]:
        """Up to `limit` pending deliveries of any tenant whose next try is due and that no
        dispatcher holds (`lease_until` passed), lowest `seq` first."""

    def head(self, tenant: str, endpoint_id: str, item_id: str) -> Record | None:
        """The pending delivery of lowest `seq` of one item to one endpoint."""

    def pending(self, tenant: str, endpoint_id: str) -> builtins.list[Record]:
        """Every pending delivery of an endpoint."""

    def write_delivery(self, delivery: Record, etag: str) -> Record:
        """Replace the delivery if it is still at `etag` (else PreconditionFailed): how a
        dispatcher claims one (only one of several wins) and records an attempt."""
