"""Azure Functions app (Python v2 programming model, Python 3.11): one Cosmos DB trigger per
business container.

App settings: `COSMOS_DATABASE_URI` (the account's connection string, used by the triggers and
the store) and `DATABASE_NAME`. Triggers are thin: they hand the batch to `handler` and store
the events through the same data layer as the API (idempotent: a redelivered batch adds
nothing). Each write's outbox event document is in the batch with the item (see
commons/data_access_layer/cosmos_db), so no write is compacted away by the change feed.

Webhooks (TT-15): each trigger also makes the webhook deliveries of its batch, and the timer
function `dispatch_webhooks` sends what is due every 10 seconds (commons/webhooks); the
`webhook` container has a trigger of its own, so endpoint changes are audited too.

Delivery: the change feed processor moves a lease's checkpoint only when the function
returns, and a failing invocation is retried with exponential backoff without limit
(`max_retry_count=-1`): a batch that cannot be stored holds its lease until the store comes
back, rather than being skipped. Start position: a new lease starts at "now" (the trigger's
default, `start_from_beginning` off), so deploying the app does not replay history. Leases
live in the `leases` container under one prefix per container, none a prefix of another.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import azure.functions as func

from commons.config import Settings
from commons.data_access_layer.repository import Store
from commons.webhooks import dispatch, enqueue
from commons.wiring import build_store
from time_tracker_events.handler import CONTAINERS, events_from, events_with_state

app = func.FunctionApp()
log = logging.getLogger(__name__)


_building = threading.Lock()


@lru_cache(maxsize=1)
def _built() -> Store:
    return build_store(Settings.from_env())


def store() -> Store:
    """One store (one CosmosClient) per worker process. The worker runs invocations on a
    thread pool: first calls at once wait for the one store being built (`lru_cache` alone
    built one for each, and the extra clients were never closed)."""
    with _building:
        return _built()


def handle(container: str, documents: func.DocumentList) -> int:
    changes = [doc.to_dict() for doc in documents]
    events = events_from(changes, container)
    stored = store().record_events(events) if events else 0
    # Webhook deliveries (TT-15) before the function returns (and the lease moves): a failed
    # enqueue retries the batch, and a replayed delivery is kept once.
    enqueue(store(), events_with_state(changes, container))
    return stored


def _trigger(container: str) -> Callable[[func.DocumentList], None]:
    def trigger(documents: func.DocumentList) -> None:
        stored = handle(container, documents)
        log.info("%s: %d changes, %d new events", container, len(documents), stored)

    trigger.__name__ = f"handle_{container}_events"
    return trigger


def _register(container: str) -> Any:
    """A failed invocation is retried forever, from 2 s doubling up to 15 min (retry policies
    apply to the Cosmos DB trigger: https://aka.ms/azure_functions_retries)."""
    function = _trigger(container)
    function = app.retry(
        strategy="exponential_backoff", max_retry_count="-1", minimum_interval="00:00:02", maximum_interval="00:15:00"
    )(function)
    function = app.cosmos_db_trigger(
        arg_name="documents",
        connection="COSMOS_DATABASE_URI",
        database_name="%DATABASE_NAME%",
        container_name=container,
        lease_container_name="leases",
        create_lease_container_if_not_exists=True,
        lease_container_prefix=f"{container}:",
    )(function)
    return app.function_name(name=f"handle_{container}_events")(function)


TRIGGERS = {container: _register(container) for container in CONTAINERS}

#: How long one timer run keeps dispatching (less than the timer's period).
DISPATCH_BUDGET_S = 8.0


@lru_cache(maxsize=1)
def settings() -> Settings:
    return Settings.from_env()


@app.function_name(name="dispatch_webhooks")
@app.timer_trigger(schedule="*/10 * * * * *", arg_name="timer", run_on_startup=False, use_monitor=False)
def dispatch_webhooks(timer: func.TimerRequest) -> None:
    """Every 10 s: send the webhook deliveries that are due (TT-15), round after round while
    there is work, for at most DISPATCH_BUDGET_S. Deliveries are claimed with a lease, so this
    can run beside the local runner's dispatcher, and a run cut short leaves nothing lost."""
    deadline = time.monotonic() + DISPATCH_BUDGET_S
    sent = 0
    while time.monotonic() < deadline:
        done = dispatch(store(), settings())
        sent += done
        if not done:
            break
    log.info("webhooks: %d attempts", sent)
