"""The local runner: the store's change feed (the SQL outbox, or Cosmos DB's change feed) fed
to the same handler as the Azure triggers, with a checkpoint after each stored batch.

Events are stored before the checkpoint moves, and storing is idempotent, so a crash between
the two replays the batch without loss and without duplicates.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from commons.data_access_layer.repository import Store
from time_tracker_events.handler import events_from

log = logging.getLogger(__name__)


def run(
    store: Store,
    name: str = "default",
    *,
    once: bool = False,
    batch_size: int = 500,
    poll_seconds: float = 1.0,
    stop: Callable[[], bool] = lambda: False,
    after_store: Callable[[], None] = lambda: None,
) -> int:
    """Handle changes until none are left (`once`) or `stop()`; answer the new events stored."""
    feed = store.change_feed(name)
    stored = 0
    while not stop():
        batch, position = feed.read(batch_size)
        new = 0
        if batch:
            events = []
            for container, document in batch:
                events += events_from([document], container)
            new = store.record_events(events)
            stored += new
            after_store()
        feed.commit(position)
        if batch:
            log.info("handled %d changes, %d new events", len(batch), new)
        if len(batch) < batch_size:
            if once:
                break
            time.sleep(poll_seconds)
    return stored
