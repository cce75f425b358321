"""Azure Functions app (Python v2 programming model): one Cosmos DB trigger per container.

App settings: `COSMOS_DATABASE_URI` (the account's connection string, used by the triggers and
the store) and `DATABASE_NAME`. Triggers are thin: they hand the batch to `handler` and store
the events through the same data layer as the API (idempotent: a redelivered batch adds
nothing). Leases live in the `leases` container, one prefix per container.
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
    function = _trigger(container)
    function = app.cosmos_db_trigger(
        arg_name="documents",
        connection="COSMOS_DATABASE_URI",
        database_name="%DATABASE_NAME%",
        container_name=container,
        lease_container_name="leases",
        create_lease_container_if_not_exists=True,
        lease_container_prefix=f"{container}_",
    )(function)
    return app.function_name(name=f"handle_{container}_events")(function)


TRIGGERS = {container: _register(container) for container in CONTAINERS}
