"""The audit log on Cosmos DB and the change feed that fills it.

Every write puts an outbox event document in the written item's partition, in the same
batch (documents.py). The change feed compacts an item's versions between two reads into the
latest one, but outbox documents are written once each, so the feed carries every event; the
handler stores them by event id, so a redelivered page adds nothing.
"""

from __future__ import annotations

import builtins
import logging
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from azure.cosmos import exceptions
from tenacity import Retrying, retry_if_exception, stop_after_delay, wait_random_exponential

from commons.data_access_layer.cosmos_db.containers import AUDITED
from commons.data_access_layer.cosmos_db.documents import SDK_ERRORS, decode_token, encode_token
from commons.data_access_layer.repository import EventQuery, Record
from commons.domain.clock import parse_instant
from commons.domain.errors import Invalid

if TYPE_CHECKING:
    from commons.data_access_layer.cosmos_db.store import CosmosStore
    from commons.data_access_layer.cosmos_db.units import CosmosUnitOfWork

log = logging.getLogger(__name__)
_HIDDEN = frozenset(("_rid", "_self", "_ts", "_attachments", "_etag", "_lsn", "date_at", "event_id"))


class CosmosEvents:
    """The audit log of one tenant, newest first, paged with continuation tokens."""

    def __init__(self, uow: CosmosUnitOfWork) -> None:
        self._items = uow.partition("event", "Event")

    def list(self, query: EventQuery) -> tuple[builtins.list[Record], str | None]:
        text = "SELECT * FROM c WHERE c.tenant_id = @tenant"
        values: dict[str, Any] = {}
        for field in ("item_id", "container_id", "user_id", "action"):
            value = getattr(query, field)
            if value:
                text += f" AND c.{field} = @{field}"
                values[field] = value
        if query.start is not None:
            text += " AND c.date_at >= @start"
            values["start"] = query.start
        if query.end is not None:
            text += " AND c.date_at < @end"
            values["end"] = query.end
        try:
            docs, token = self._items.page(
                text + " ORDER BY c.tenant_id DESC, c.date_at DESC",
                query.limit,
                decode_token(query.continuation),
                **values,
            )
        except exceptions.CosmosHttpResponseError as error:
            if error.status_code == 400 and query.continuation:
                raise Invalid("continuation is not a token this API gave") from None
            raise
        return [{k: v for k, v in d.items() if k not in _HIDDEN} for d in docs], encode_token(token)


class CosmosChangeFeed:
    """The audited containers' change feeds; continuations kept in the `leases` container.

    `read(limit)` answers fewer than `limit` changes only when every feed is caught up (the
    service answered 304 Not Modified): a short page is never taken for the end.
    """

    def __init__(self, store: CosmosStore, name: str) -> None:
        self.store = store
        self.lease_id = f"events-runner:{name}"

    def _tokens(self) -> dict[str, Any]:
        try:
            doc = self.store.proxy("leases").read_item(self.lease_id, partition_key=self.lease_id)
        except exceptions.CosmosResourceNotFoundError:
            return {}
        return dict(doc.get("continuations") or {})

    def _page(self, container: str, token: str | None, size: int) -> tuple[builtins.list[dict[str, Any]], str | None]:
        proxy = self.store.proxy(container)
        feed = (
            proxy.query_items_change_feed(continuation=token, max_item_count=size)
            if token
            else proxy.query_items_change_feed(start_time="Beginning", max_item_count=size)
        )
        pages: Any = feed.by_page()
        try:
            page = list(next(pages))
        except StopIteration:
            return [], token
        return page, pages.continuation_token or token

    def read(self, limit: int) -> tuple[builtins.list[tuple[str, dict[str, Any]]], dict[str, Any]]:
        tokens = self._tokens()
        batch: list[tuple[str, dict[str, Any]]] = []
        for container in AUDITED:
            while len(batch) < limit:
                page, token = self._page(container, tokens.get(container), limit - len(batch))
                if not page:
                    break  # caught up (304 on every range of this container)
                batch += [(container, dict(doc)) for doc in page]
                tokens[container] = token
            if len(batch) >= limit:
                break
        return batch, tokens

    def commit(self, position: dict[str, Any]) -> None:
        self.store.proxy("leases").upsert_item({"id": self.lease_id, "continuations": position})


def _throttled(error: BaseException) -> bool:
    return isinstance(error, exceptions.CosmosHttpResponseError) and error.status_code in (408, 429, 449, 503)


def record_events(store: CosmosStore, events: Iterable[Mapping[str, Any]]) -> int:
    """Store events by id (a stored id is skipped). Throttling is waited out for as long as
    the SDK's own default (30 s) and beyond, since giving up would lose the batch."""
    proxy = store.proxy("event")
    new = 0
    for item in events:
        doc = {**item, "date_at": parse_instant(item["date"], "date")}
        for attempt in Retrying(
            retry=retry_if_exception(_throttled),
            stop=stop_after_delay(120),
            wait=wait_random_exponential(multiplier=0.1, max=10),
            reraise=True,
        ):
            with attempt:
                try:
                    proxy.create_item(doc)
                    new += 1
                except exceptions.CosmosResourceExistsError:
                    pass  # delivered before: the id is the write's own
    return new


__all__ = ["SDK_ERRORS", "CosmosChangeFeed", "CosmosEvents", "record_events"]
