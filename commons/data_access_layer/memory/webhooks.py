"""The memory implementation of `Webhooks` (commons/data_access_layer/webhooks.py): endpoints
and deliveries of every tenant, under one lock of their own, with the SQL engine's semantics
(conditional writes on `_etag`, replays of the feed adding nothing, the delivery log paged by
`(seq, id)`)."""

from __future__ import annotations

import builtins
import copy
import threading
import uuid
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from commons.data_access_layer.events import Actor, event_context
from commons.data_access_layer.memory.audit import change_document
from commons.data_access_layer.repository import Record
from commons.data_access_layer.webhooks import new_endpoint
from commons.domain import cursors
from commons.domain.clock import now_ms
from commons.domain.errors import NotFound, PreconditionFailed
from commons.domain.preconditions import stale
from commons.domain.webhooks import PENDING

if TYPE_CHECKING:
    from commons.data_access_layer.memory.store import MemoryStore


class MemoryWebhooks:
    """Endpoints and deliveries, keyed by (tenant, id)."""

    def __init__(self, store: MemoryStore) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._endpoints: dict[tuple[str, str], Record] = {}
        self._deliveries: dict[tuple[str, str], Record] = {}

    def _logged(self, actor: Actor | None, endpoint: Record) -> None:
        """An admin's endpoint write goes to the change log like every business write (the
        secret left out)."""
        if actor is not None:
            document = {k: v for k, v in endpoint.items() if k != "secret"}
            self._store.audit.published([("webhook", change_document(document))])

    # ------------------------------------------------------------------ endpoints

    def add_endpoint(self, actor: Actor, fields: Mapping[str, Any]) -> Record:
        endpoint = {**new_endpoint(actor, copy.deepcopy(dict(fields))), "_etag": uuid.uuid4().hex}
        with self._lock:
            self._endpoints[(actor.tenant_id, endpoint["id"])] = endpoint
            self._logged(actor, endpoint)
        return copy.deepcopy(endpoint)

    def get_endpoint(self, tenant: str, endpoint_id: str) -> Record:
        with self._lock:
            found = self._endpoints.get((tenant, endpoint_id))
            if found is None or found.get("deleted") is not None:
                raise NotFound("Webhook not found")
            return copy.deepcopy(found)

    def list_endpoints(self, tenant: str) -> builtins.list[Record]:
        with self._lock:
            live = [e for (t, _), e in self._endpoints.items() if t == tenant and e.get("deleted") is None]
            return copy.deepcopy(sorted(live, key=lambda e: (e["created_at"], e["id"])))

    def write_endpoint(self, endpoint: Record, etag: str, actor: Actor | None = None, action: str = "update") -> Record:
        now = now_ms()
        written = {**copy.deepcopy(endpoint), "updated_at": now, "_etag": uuid.uuid4().hex}
        if actor is not None:
            written["_last_event_ctx"] = event_context(actor, "webhook", action, now)
        key = (written["tenant_id"], written["id"])
        with self._lock:
            current = self._endpoints.get(key)
            if current is None or current["_etag"] != etag:
                raise PreconditionFailed(stale("Webhook"))
            self._endpoints[key] = written
            self._logged(actor, written)
        return copy.deepcopy(written)

    # ------------------------------------------------------------------ deliveries

    def enqueue(self, deliveries: Iterable[Mapping[str, Any]]) -> int:
        new = 0
        with self._lock:
            for delivery in deliveries:
                key = (delivery["tenant_id"], delivery["id"])
                if key not in self._deliveries:
                    self._deliveries[key] = {**copy.deepcopy(dict(delivery)), "_etag": uuid.uuid4().hex}
                    new += 1
        return new

    def get_delivery(self, tenant: str, delivery_id: str) -> Record:
        with self._lock:
            found = self._deliveries.get((tenant, delivery_id))
            if found is None:
                raise NotFound("Delivery not found")
            return copy.deepcopy(found)

    def list_deliveries(
        self, tenant: str, endpoint_id: str, limit: int, continuation: str | None
    ) -> tuple[builtins.list[Record], str | None]:
        after = cursors.decode_position(continuation, 40) if continuation else None
        with self._lock:
            rows = sorted(
                (
                    d
                    for (t, _), d in self._deliveries.items()
                    if t == tenant
                    and d["endpoint_id"] == endpoint_id
                    and (after is None or (d["seq"], d["id"]) < after)
                ),
                key=lambda d: (d["seq"], d["id"]),
                reverse=True,
            )[: limit + 1]
            page = copy.deepcopy(rows[:limit])
        token = cursors.encode((page[-1]["seq"], page[-1]["id"])) if len(rows) > limit else None
        return page, token

    def due(self, now: int, limit: int) -> builtins.list[Record]:
        with self._lock:
            ready = [
                d
                for d in self._deliveries.values()
                if d["status"] == PENDING and d["next_at"] <= now and d["lease_until"] <= now
            ]
            ready.sort(key=lambda d: (d["next_at"], d["seq"]))
            return copy.deepcopy(sorted(ready[:limit], key=lambda d: d["seq"]))

    def head(self, tenant: str, endpoint_id: str, item_id: str) -> Record | None:
        pending = [d for d in self.pending(tenant, endpoint_id) if d["item_id"] == item_id]
        return min(pending, key=lambda d: (d["seq"], d["id"]), default=None)

    def pending(self, tenant: str, endpoint_id: str) -> builtins.list[Record]:
        with self._lock:
            found = [
                d
                for (t, _), d in self._deliveries.items()
                if t == tenant and d["endpoint_id"] == endpoint_id and d["status"] == PENDING
            ]
            return copy.deepcopy(sorted(found, key=lambda d: d["seq"]))

    def write_delivery(self, delivery: Record, etag: str) -> Record:
        written = {**copy.deepcopy(delivery), "_etag": uuid.uuid4().hex}
        key = (written["tenant_id"], written["id"])
        with self._lock:
            current = self._deliveries.get(key)
            if current is None or current["_etag"] != etag:
                raise PreconditionFailed(stale("Delivery"))
            self._deliveries[key] = written
        return copy.deepcopy(written)
