"""Webhook deliveries (TT-15): fed by the event pipeline, sent by a dispatcher.

- **Enqueue** (`enqueue`): the events runner and the Azure Functions triggers call it with the
  events of each page of changes, after storing the audit events and before moving their
  checkpoint. Every active endpoint of the event's tenant that subscribed to its type gets a
  delivery whose id (the `webhook-id`) derives from the endpoint and the event, so a replayed
  page adds nothing: each event reaches each endpoint at least once, and one `webhook-id` per
  event. Deliveries are numbered (`seq`) in the order the feed gives them, which is write order
  per item.
- **Dispatch** (`dispatch`): sends what is due, in parallel across items and in order within
  one item: only the pending delivery of lowest `seq` of an (endpoint, item) is sent; the
  others wait for it to be delivered or given up. A delivery is claimed with a conditional
  write (a lease), so several dispatchers (the local runner, the Functions timer) never send
  it twice at once. A failure is retried after the waits of `WEBHOOK_RETRY_SCHEDULE` (more
  than 24 h by default), then the delivery is `failed`; an endpoint whose deliveries have all
  failed for `WEBHOOK_DISABLE_AFTER_SECONDS` is disabled and says why.
- **Send**: one attempt is `sender.Sender.send` (signing, target checks, the POST).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from commons.config import Settings
from commons.data_access_layer.repository import Record, Store
from commons.data_access_layer.webhooks import Webhooks
from commons.domain.clock import now_ms
from commons.domain.errors import DomainError, NotFound, PreconditionFailed
from commons.domain.webhooks import (
    CANCELLED,
    DELIVERED,
    FAILED,
    MAX_ATTEMPTS_KEPT,
    PENDING,
    PING,
    attempt_record,
    delivery_id,
    disable_reason,
    event_types,
    next_attempt_at,
    payload,
    subscribed,
)
from commons.webhooks.sender import Outcome, Sender, body_of, sender_for

log = logging.getLogger(__name__)

#: A disabled endpoint's pending deliveries are looked at again this often (they resume at
#: once when an admin enables it again).
PAUSE_MS = 3_600_000
#: A claim outlives the attempt's timeout by this much (a dispatcher that died mid-send
#: leaves the delivery to another after that).
LEASE_GRACE_MS = 30_000


class _Sequence:
    """Numbers in feed order, increasing within a process (ms x 1000 + a counter: below 2^53,
    so Cosmos DB's JSON numbers hold them exactly)."""

    def __init__(self) -> None:
        self._last = 0
        self._lock = threading.Lock()

    def next(self) -> int:
        with self._lock:
            self._last = max(now_ms() * 1000, self._last + 1)
            return self._last


SEQUENCE = _Sequence()


# ---------------------------------------------------------------------------------- enqueue


def enqueue(store: Store, events: Iterable[tuple[Mapping[str, Any], bool | None]]) -> int:
    """Deliveries of `(event, running)` pairs (running: whether a written time entry runs,
    None when unknown) to the subscribed active endpoints of each event's tenant. Answers how
    many were new."""
    webhooks = store.webhooks
    endpoints: dict[str, list[Record]] = {}
    deliveries = []
    now = now_ms()
    for event, running in events:
        types = event_types(event, running)
        if not types:
            continue
        tenant = event["tenant_id"]
        if tenant not in endpoints:
            endpoints[tenant] = [e for e in webhooks.list_endpoints(tenant) if e.get("active")]
        for endpoint in endpoints[tenant]:
            if subscribed(endpoint["events"], types):
                deliveries.append(_delivery(endpoint, event, types[0], now))
    return webhooks.enqueue(deliveries) if deliveries else 0


def _delivery(endpoint: Record, event: Mapping[str, Any], event_type: str, now: int) -> dict[str, Any]:
    return {
        "id": delivery_id(endpoint["id"], event["id"]),
        "tenant_id": endpoint["tenant_id"],
        "endpoint_id": endpoint["id"],
        "event_id": event["id"],
        "item_id": event["item_id"],
        "type": event_type,
        "payload": payload(event, event_type),
        "seq": SEQUENCE.next(),
        "status": PENDING,
        "attempts": 0,
        "tries": 0,
        "log": [],
        "next_at": now,
        "lease_until": 0,
        "last_status_code": None,
        "last_latency_ms": None,
        "created_at": now,
        "updated_at": now,
    }


# ---------------------------------------------------------------------------------- dispatch


def dispatch(
    store: Store, settings: Settings, *, limit: int = 200, workers: int = 8, clock: Callable[[], int] = now_ms
) -> int:
    """Send the deliveries due now (one round); answer how many attempts were made."""
    webhooks = store.webhooks
    now = clock()
    endpoints: dict[tuple[str, str], Record | None] = {}
    queues: dict[tuple[str, str, str], list[Record]] = {}
    for delivery in webhooks.due(now, limit):  # lowest seq first
        queues.setdefault((delivery["tenant_id"], delivery["endpoint_id"], delivery["item_id"]), []).append(delivery)
    claimed: list[tuple[Record, Record]] = []
    for queue in queues.values():
        found = _claim(webhooks, queue, endpoints, now, settings)
        if found is not None:
            claimed.append(found)
    if not claimed:
        return 0
    sender = sender_for(settings)
    with ThreadPoolExecutor(max_workers=min(workers, len(claimed))) as pool:
        list(pool.map(lambda pair: _attempt(webhooks, sender, settings, pair[0], pair[1], clock), claimed))
    return len(claimed)


def _write_each(webhooks: Webhooks, deliveries: list[Record], changes: dict[str, Any]) -> None:
    for delivery in deliveries:
        try:
            webhooks.write_delivery({**delivery, **changes}, delivery["_etag"])
        except PreconditionFailed:
            continue  # changed meanwhile (claimed, redelivered): looked at again next round


def _claim(
    webhooks: Webhooks,
    queue: list[Record],
    endpoints: dict[tuple[str, str], Record | None],
    now: int,
    settings: Settings,
) -> tuple[Record, Record] | None:
    """The first due delivery of one item's queue, leased to this dispatcher, and its endpoint;
    None when the item must wait (then every due delivery of it is set to wait as long)."""
    first = queue[0]
    tenant, endpoint_id = first["tenant_id"], first["endpoint_id"]
    if (tenant, endpoint_id) not in endpoints:
        try:
            endpoints[(tenant, endpoint_id)] = webhooks.get_endpoint(tenant, endpoint_id)
        except NotFound:
            endpoints[(tenant, endpoint_id)] = None
    endpoint = endpoints[(tenant, endpoint_id)]
    if endpoint is None:
        _write_each(webhooks, queue, {"status": CANCELLED, "updated_at": now})
        return None
    if not endpoint.get("active"):
        _write_each(webhooks, queue, {"next_at": now + PAUSE_MS, "updated_at": now})
        return None
    head = webhooks.head(tenant, endpoint_id, first["item_id"])
    if head is not None and head["id"] != first["id"]:
        # An earlier event of the item is pending (in backoff, or being sent): wait for it.
        _write_each(webhooks, queue, {"next_at": max(head["next_at"], now + 1000), "updated_at": now})
        return None
    lease = now + int(settings.webhook_timeout_seconds * 1000) + LEASE_GRACE_MS
    try:
        return webhooks.write_delivery({**first, "lease_until": lease}, first["_etag"]), endpoint
    except PreconditionFailed:
        return None  # another dispatcher took it


def _attempt(
    webhooks: Webhooks, sender: Sender, settings: Settings, delivery: Record, endpoint: Record, clock: Callable[[], int]
) -> None:
    try:
        result = sender.send(endpoint["url"], endpoint["secret"], delivery["id"], body_of(delivery))
        record_outcome(webhooks, settings, delivery, result, clock(), endpoint)
    except Exception:  # noqa: BLE001 - one delivery's trouble never stops the others
        log.exception("webhook delivery %s could not be attempted", delivery["id"])


def record_outcome(
    webhooks: Webhooks, settings: Settings, delivery: Record, result: Outcome, now: int, seen: Record | None = None
) -> Record:
    """The delivery after one attempt (delivered, rescheduled or failed), and the endpoint's
    failure bookkeeping."""
    tries = int(delivery.get("tries") or 0) + 1
    changes: dict[str, Any] = {
        "attempts": int(delivery.get("attempts") or 0) + 1,
        "tries": tries,
        "log": [
            *delivery.get("log", []),
            attempt_record(now, result.status_code, result.latency_ms, result.error, result.excerpt),
        ][-MAX_ATTEMPTS_KEPT:],
        "last_status_code": result.status_code,
        "last_latency_ms": result.latency_ms,
        "lease_until": 0,
        "updated_at": now,
    }
    if result.ok:
        changes["status"] = DELIVERED
    else:
        following = next_attempt_at(tries, settings.webhook_retry_schedule, now)
        changes.update(status=FAILED) if following is None else changes.update(next_at=following)
    try:
        written = webhooks.write_delivery({**delivery, **changes}, delivery["_etag"])
    except PreconditionFailed:
        written = {**delivery, **changes}  # redelivered meanwhile: that request's state stands
    if not (result.ok and seen is not None and seen.get("failing_since") is None):
        _endpoint_health(webhooks, settings, delivery, result, now)  # (a success of a healthy one changes nothing)
    return written


def _endpoint_health(webhooks: Webhooks, settings: Settings, delivery: Record, result: Outcome, now: int) -> None:
    """A success clears the endpoint's failing streak; a failure starts or extends it and,
    once it has lasted `webhook_disable_after_seconds`, disables the endpoint with the reason."""
    for _ in range(5):
        try:
            endpoint = webhooks.get_endpoint(delivery["tenant_id"], delivery["endpoint_id"])
        except NotFound:
            return
        if result.ok:
            if endpoint.get("failing_since") is None:
                return
            changes: dict[str, Any] = {"failing_since": None}
        else:
            since = endpoint.get("failing_since") or now
            error = result.error or f"HTTP {result.status_code}"
            changes = {"failing_since": since, "last_error": error}
            reason = disable_reason(since, now, settings.webhook_disable_after_seconds, error)
            if reason and endpoint.get("active"):
                changes.update(active=False, disabled_reason=reason)
                log.warning("webhook %s disabled: %s", endpoint["id"], reason)
        try:
            webhooks.write_endpoint({**endpoint, **changes}, endpoint["_etag"])
            return
        except PreconditionFailed:
            continue  # another attempt's bookkeeping won: read again


def ping(store: Store, settings: Settings, endpoint: Record, now: int) -> Record:
    """Send a `webhook.ping` at once and log it as a delivery of its own (never retried)."""
    webhooks = store.webhooks
    event = {"id": f"ping:{now}:{SEQUENCE.next()}", "item_id": endpoint["id"], "date": None}
    delivery = _delivery(endpoint, event, PING, now)
    message = delivery["id"]
    delivery["payload"] = {
        "type": PING,
        "timestamp": datetime.fromtimestamp(now / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "data": {"webhook_id": endpoint["id"]},
    }
    result = sender_for(settings).send(endpoint["url"], endpoint["secret"], message, body_of(delivery))
    delivery.update(
        status=DELIVERED if result.ok else FAILED,
        attempts=1,
        tries=1,
        log=[attempt_record(now, result.status_code, result.latency_ms, result.error, result.excerpt)],
        last_status_code=result.status_code,
        last_latency_ms=result.latency_ms,
    )
    webhooks.enqueue([delivery])
    return webhooks.get_delivery(endpoint["tenant_id"], message)


def run_dispatcher(
    store: Store,
    settings: Settings,
    *,
    stop: Callable[[], bool] = lambda: False,
    poll_seconds: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Dispatch until `stop()`: at once again after a busy round, `poll_seconds` after an idle
    one; a store that is down is waited out."""
    while not stop():
        try:
            busy = dispatch(store, settings)
        except DomainError as error:
            log.warning("webhook dispatch failed (%s); trying again shortly", error)
            busy = 0
        except Exception:  # noqa: BLE001 - the loop outlives any one round
            log.exception("webhook dispatch round failed")
            busy = 0
        if not busy:
            sleep(poll_seconds)
