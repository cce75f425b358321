"""Webhook delivery throughput (TT-15), a part of `make bench`.

In a tenant with one endpoint subscribed to everything, `events` writes are made through the
store, then timed apart: the events runner turning them into audit events and deliveries
(one page after another, as `cli.py events run` does), and the dispatcher sending them to a
receiver on loopback (HTTPS, signatures verified, 204 at once) with its default parallelism.
Two shapes: every event of a different item (sent in parallel), and every event of one item
(sent one after another: order per item allows no more).
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

from commons.config import Settings
from commons.data_access_layer.events import Actor
from commons.data_access_layer.repository import Store
from commons.webhooks import dispatch
from tests.tools.webhook_receiver import WebhookReceiver
from time_tracker_events.runner import run

MANY, ONE = "events of different items", "events of one item (in order)"


def _settings(receiver: WebhookReceiver) -> Settings:
    return Settings(
        jwt_secret="bench-secret-" + "b" * 40,
        webhook_allow_private_targets=True,
        webhook_ca_bundle=str(receiver.ca_file),
    )


def _measure(store: Store, events: int, one_item: bool) -> dict[str, float]:
    receiver = WebhookReceiver()
    settings = _settings(receiver)
    actor = Actor(str(uuid.uuid4()), str(uuid.uuid4()), "bench@example.com", is_admin=True)
    endpoint = store.webhooks.add_endpoint(
        actor,
        {"url": receiver.url, "events": ["*"], "active": True, "description": None, "secret": None},
    )
    from commons.domain.webhooks import new_secret

    endpoint = store.webhooks.write_endpoint({**endpoint, "secret": new_secret()}, endpoint["_etag"])
    receiver.secret = endpoint["secret"]
    feed = f"bench-webhooks-{uuid.uuid4().hex[:8]}"
    # Caught up with what the bench wrote before (not timed). The raw-database reference's
    # outbox rows carry no event context: the runner skips each with a warning, not wanted here.
    handler_log = logging.getLogger("time_tracker_events.handler")
    level, handler_log.level = handler_log.level, logging.ERROR
    try:
        run(store, feed, once=True)
    finally:
        handler_log.setLevel(level)
    try:
        with store.unit_of_work(actor, write=True) as uow:
            first = uow.customers.add({"name": f"Bench {uuid.uuid4().hex[:8]}"})
        for n in range(events - 1):
            with store.unit_of_work(actor, write=True) as uow:
                if one_item:
                    uow.customers.update(first["id"], {"description": f"v{n}"})
                else:
                    uow.customers.add({"name": f"Bench {uuid.uuid4().hex[:8]}"})
        started = time.perf_counter()
        run(store, feed, once=True)
        enqueued = time.perf_counter() - started
        started = time.perf_counter()
        deadline = started + 600
        while len(receiver.accepted()) < events and time.perf_counter() < deadline:
            if not dispatch(store, settings):
                time.sleep(0.01)
        sent = time.perf_counter() - started
        delivered = len({r.webhook_id for r in receiver.accepted()})
        return {
            "events": events,
            "delivered": delivered,
            "enqueue_s": enqueued,
            "dispatch_s": sent,
            "verified": float(all(r.verified for r in receiver.received)),
        }
    finally:
        receiver.close()


def bench_webhooks(store: Store, events: int) -> dict[str, Any]:
    """Both shapes, `events` writes each."""
    return {MANY: _measure(store, events, one_item=False), ONE: _measure(store, max(10, events // 5), one_item=True)}


def report_webhooks(results: dict[str, Any]) -> list[str]:
    lines = [
        "| webhook deliveries | events | runner: events stored and deliveries made per s "
        "| dispatcher: delivered per s | all signatures valid |",
        "|---|---|---|---|---|",
    ]
    for shape, got in results.items():
        made = got["events"] / got["enqueue_s"] if got["enqueue_s"] else 0
        sent = got["delivered"] / got["dispatch_s"] if got["dispatch_s"] else 0
        lines.append(
            f"| {shape} | {got['events']:,} | {made:,.0f} | {sent:,.0f} | {'yes' if got['verified'] else 'NO'} |"
        )
    return lines
