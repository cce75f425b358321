"""The Cosmos DB implementation of `Store`: one client per process, units of work per call."""

from __future__ import annotations

import builtins
import logging
import math
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from azure.cosmos import ContainerProxy, CosmosClient, exceptions
from azure.cosmos.documents import ConnectionPolicy

from commons.config import Settings
from commons.data_access_layer.callers import KnownCallers
from commons.data_access_layer.cosmos_db import containers
from commons.data_access_layer.cosmos_db.documents import SDK_ERRORS, params, translate
from commons.data_access_layer.cosmos_db.events import CosmosChangeFeed, record_events
from commons.data_access_layer.cosmos_db.names import NameCache
from commons.data_access_layer.cosmos_db.sdk_fixes import per_thread_response_headers
from commons.data_access_layer.cosmos_db.units import CosmosUnitOfWork
from commons.data_access_layer.events import Actor
from commons.domain.errors import Unavailable

APP_ID = "time-tracker-api"
UNREACHABLE = "The database is unreachable; try again shortly"
#: After a failed attempt to reach the account, requests answer 503 at once for this long.
CONNECT_BACKOFF_S = 2.0
# The SDK logs every request and response at INFO.
logging.getLogger("azure").setLevel(logging.WARNING)
#: HTTP exchanges with the account in the current context (a request), retries included.
_round_trips: ContextVar[list[int] | None] = ContextVar("cosmos_round_trips", default=None)


@contextmanager
def counting_round_trips() -> Iterator[list[int]]:
    """Count the exchanges with the account made inside the block: `counter[0]`."""
    counter = [0]
    token = _round_trips.set(counter)
    try:
        yield counter
    finally:
        _round_trips.reset(token)


def _count(_response: Any) -> None:
    counter = _round_trips.get()
    if counter is not None:
        counter[0] += 1


def _first_contact(settings: Settings) -> dict[str, Any]:
    """The client's options for creating it within the timeouts too. Creating it reads the
    account with timeouts of its own (3 s, `ConnectionPolicy.DBAConnectionTimeout` and
    `DBAReadTimeout`, which replace ours for that read: `_synchronized_request.py` 199-207), up
    to 4 times with read timeouts of 3 s, 5 s, then ours (`_health_check_retry_policy.py`): an
    account that took connections and never answered was a 503 after 28 s with the defaults.
    Now its timeouts are ours, and `timeout` (`cosmos_client.py` 173, checked before each
    attempt: `_retry_utility.py` 131-134) ends the attempts after the first one. It bounds the
    creation only; later requests keep `connection_timeout`, `read_timeout` and the retries."""
    longest = max(settings.db_connect_timeout_seconds, settings.db_statement_timeout_seconds)
    policy = ConnectionPolicy()
    policy.DBAConnectionTimeout = settings.db_connect_timeout_seconds
    policy.DBAReadTimeout = longest  # type: ignore[assignment]  # annotated int; a float timeout works
    return {"connection_policy": policy, "timeout": longest}


class CosmosStore:
    """The Cosmos DB implementation of `Store`."""

    engine_name = "cosmos"

    def __init__(self, settings: Settings) -> None:
        per_thread_response_headers()  # the client is shared by the process's threads
        options: dict[str, Any] = {
            # A frozen or unreachable account is a 503 within these (DB_*_TIMEOUT_SECONDS),
            # not a request that hangs: one connection retry at most.
            "connection_timeout": settings.db_connect_timeout_seconds,
            "read_timeout": settings.db_statement_timeout_seconds,
            "retry_total": 1,
            # 429s are retried by the SDK after the server's x-ms-retry-after-ms, this often
            # (bounded: a request of the API should answer, 503, rather than hang).
            "retry_throttle_total": 5,
            "retry_throttle_backoff_max": 5,
            "enable_endpoint_discovery": settings.cosmos_endpoint_discovery,
            "user_agent": "TimeTrackerAPI",
            "raw_response_hook": _count,
            **_first_contact(settings),
        }
        if settings.cosmos_ca_bundle:
            options["connection_verify"] = settings.cosmos_ca_bundle
        self._options = options
        self._settings = settings
        self._client: CosmosClient | None = None
        self._database: Any = None
        self._lock = threading.Lock()
        self._failed_at = -math.inf
        self.database_name = settings.cosmos_database_name or ""
        self._proxies: dict[str, ContainerProxy] = {}
        self.remembered = KnownCallers()
        self.names = NameCache()
        from commons.data_access_layer.cosmos_db.integrations import CosmosIdempotencyKeys
        from commons.data_access_layer.cosmos_db.webhooks import CosmosWebhooks

        self.idempotency = CosmosIdempotencyKeys(self)
        self.webhooks = CosmosWebhooks(self)

    @property
    def client(self) -> CosmosClient:
        """Created on first use (the SDK contacts the account), so that the service starts,
        and answers 503, while the account is unreachable."""
        if self._client is None:
            with self._lock:
                if self._client is None:
                    # Requests that queued on the lock behind a failed attempt answer at once:
                    # each trying in turn made the k-th wait k attempts (seconds each).
                    if time.monotonic() - self._failed_at < CONNECT_BACKOFF_S:
                        raise Unavailable(UNREACHABLE)
                    s = self._settings
                    try:
                        if s.cosmos_connection_string:
                            client = CosmosClient.from_connection_string(s.cosmos_connection_string, **self._options)
                        else:
                            client = CosmosClient(
                                str(s.cosmos_account_uri), credential=s.cosmos_master_key or "", **self._options
                            )
                    except SDK_ERRORS as error:
                        self._failed_at = time.monotonic()
                        raise Unavailable(UNREACHABLE) from error
                    self._database = client.get_database_client(self.database_name)
                    self._client = client
        return self._client

    @property
    def database(self) -> Any:
        self.client  # noqa: B018 - creates the client and the database proxy
        return self._database

    def proxy(self, name: str) -> ContainerProxy:
        found = self._proxies.get(name)
        if found is None:
            found = self._proxies[name] = self.database.get_container_client(name)
        return found

    @contextmanager
    def unit_of_work(self, actor: Actor, *, write: bool = False) -> Iterator[CosmosUnitOfWork]:
        """Reads go out as they come; the time-entry writes of the unit are committed as one
        batch when the block ends without an error, and dropped otherwise."""
        uow = CosmosUnitOfWork(self, actor, write=write)
        try:
            yield uow
            uow.commit()
        except SDK_ERRORS as error:
            raise translate(error) from error

    def create_containers(self, names: Iterable[str]) -> builtins.list[str]:
        """Create the database (with the configured shared throughput) and the containers
        named that this engine has; bring existing ones' index policies up to date."""
        created = []
        try:
            offer = containers.throughput(self._settings.cosmos_throughput)
            self.client.create_database_if_not_exists(self.database_name, offer_throughput=offer)
            existing = {c["id"] for c in self.database.list_containers()}
            for name in names:
                if name in containers.CONTAINERS and containers.ensure(self.database, name, existing):
                    created.append(name)
        except SDK_ERRORS as error:
            raise translate(error) from error
        return created

    def change_feed(self, name: str) -> CosmosChangeFeed:
        return CosmosChangeFeed(self, name)

    def record_events(self, events: Iterable[Mapping[str, Any]]) -> int:
        try:
            return record_events(self, events)
        except SDK_ERRORS as error:
            raise translate(error) from error

    def ping(self) -> None:
        try:
            self.database.read()
        except SDK_ERRORS as error:
            raise Unavailable("The database is unavailable") from error

    def dispose(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    # migrate-anything storage
    def migration_records(self) -> builtins.list[tuple[str, str]]:
        self.create_containers(["migration"])
        docs = self.proxy("migration").query_items(
            "SELECT c.name, c.code FROM c WHERE c.app_id = @app", parameters=params(app=APP_ID), partition_key=APP_ID
        )
        return sorted((d["name"], d["code"]) for d in docs)

    def save_migration_record(self, name: str, code: str) -> None:
        self.proxy("migration").upsert_item({"id": name, "name": name, "code": code, "app_id": APP_ID})

    def remove_migration_record(self, name: str) -> None:
        try:
            self.proxy("migration").delete_item(name, partition_key=APP_ID)
        except exceptions.CosmosResourceNotFoundError:
            pass
