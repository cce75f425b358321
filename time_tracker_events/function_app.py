"""Azure Functions app (Python v2 programming model, Python 3.11): one Cosmos DB trigger per
business container.

App settings: `COSMOS_DATABASE_URI` (the account's connection string, used by the triggers and
the store) and `DATABASE_NAME`. Triggers are thin: they hand the batch to `handler` and store
the events through the same data layer as the API (idempotent: a redelivered batch adds
nothing). Each write's outbox event document is in the batch with the item (see
commons/data_access_layer/cosmos_db), so no write is compacted away by the change feed.

Delivery: the change feed processor moves a lease's checkpoint only when the function
returns, and a failing invocation is retried with exponential backoff without limit
(`max_retry_count=-1`): a batch that cannot be stored holds its lease until the store comes
back, rather than being skipped. Start position: a new lease starts at "now" (the trigger's
default, `start_from_beginning` off), so deploying the app does not replay history. Leases
live in the `leases` container under one prefix per container, none a prefix of another.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import azure.functions as func

from commons.config import Settings
from commons.data_access_layer.repository import Store
from commons.wiring import build_store
from time_tracker_events.handler import CONTAINERS, events_from

app = func.FunctionApp()
log = logging.getLogger(__name__)


@lru_cache(maxsize=1)
def store() -> Store:
    """One store (one CosmosClient) per worker process."""
    return build_store(Settings.from_env())


def handle(container: str, documents: func.DocumentList) -> int:
    events = events_from((doc.to_dict() for doc in documents), container)
    return store().record_events(events) if events else 0


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
