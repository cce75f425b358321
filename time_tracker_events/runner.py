"""The local runner: the store's change feed (the SQL outbox, or Cosmos DB's change feed) fed
to the same handler as the Azure triggers, with a checkpoint after each stored page.

Events are stored before the checkpoint moves, and storing is idempotent, so a crash between
the two replays the page without loss and without duplicates. A page is at most `batch_size`
changes: memory stays bounded however far behind the runner is. Each page also makes the
webhook deliveries of its events (commons/webhooks), before the checkpoint moves.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from commons.data_access_layer.repository import Store
from commons.domain.errors import Unavailable
from commons.webhooks import enqueue
from time_tracker_events.handler import events_from, events_with_state

log = logging.getLogger(__name__)

#: Waits after a transient failure of the store: doubled each time, up to the last.
BACKOFF_SECONDS = (0.5, 1, 2, 4, 8, 16, 30)
#: With `once`, the feed must say "nothing new" this often in a row, `QUIET_PAUSE_S` apart: a
#: change feed read may be served by a replica that has not caught up yet (it answers 304
#: while the writes of other processes are still on their way to it, for milliseconds).
QUIET_READS = 2
QUIET_PAUSE_S = 0.2


def handle_page(store: Store, batch: list[tuple[str, dict[str, Any]]]) -> int:
    """Store the events of one page of changes; answer how many were new."""
    by_container: dict[str, list[dict[str, Any]]] = {}
    for container, document in batch:
        by_container.setdefault(container, []).append(document)
    events = [event for container, docs in by_container.items() for event in events_from(docs, container)]
    new = store.record_events(events) if events else 0
    # Webhook deliveries of the same page, before the checkpoint moves (TT-15): a crash
    # replays the page, and a replayed delivery is kept once (its id is the event's).
    enqueue(store, [pair for container, docs in by_container.items() for pair in events_with_state(docs, container)])
    return new


def run(
    store: Store,
    name: str = "default",
    *,
    once: bool = False,
    batch_size: int = 500,
    poll_seconds: float = 1.0,
    stop: Callable[[], bool] = lambda: False,
    after_store: Callable[[], None] = lambda: None,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Handle changes until none are left (`once`) or `stop()`; answer the new events stored.
    The store being unavailable is waited out with growing pauses (with `once`, it is raised
    after the last one)."""
    feed = store.change_feed(name)
    stored = 0
    failures = 0
    quiet = 0
    while not stop():
        try:
            batch, position = feed.read(batch_size)
            new = handle_page(store, batch) if batch else 0
            if batch:
                after_store()
            feed.commit(position)
        except Unavailable as error:
            if once and failures >= len(BACKOFF_SECONDS):
                raise
            pause = BACKOFF_SECONDS[min(failures, len(BACKOFF_SECONDS) - 1)]
            failures += 1
            log.warning("the store is unavailable (%s); trying again in %s s", error, pause)
            sleep(pause)
            continue
        failures = 0
        stored += new
        if batch:
            log.info("handled %d changes, %d new events", len(batch), new)
        if len(batch) < batch_size:  # the feed answers a short page only when caught up
            quiet = 0 if batch else quiet + 1
            if not once:
                sleep(poll_seconds)
            elif quiet >= QUIET_READS:
                break
            elif quiet:
                sleep(QUIET_PAUSE_S)
        else:
            quiet = 0
    return stored
