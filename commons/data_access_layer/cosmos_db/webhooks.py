"""Webhooks on Cosmos DB: the `webhook` and `webhook_delivery` containers (partition key
`/tenant_id`).

An admin's endpoint write is one transactional batch with its outbox event (as every business
write), so the `webhook` container's change feed feeds the audit log. Writes are conditional on
`_etag` (`If-Match`), so of two dispatchers claiming one delivery only one wins. Every query is
single-partition except the dispatcher's scan for due deliveries (`due`), which must see every
tenant: one cross-partition query per poll, filtered on the indexed `status` and `next_at`,
its pages followed to the end (a short page says nothing). Finished deliveries expire after
`FINISHED_TTL_S` (the container's TTL is on).
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from azure.cosmos import exceptions

from commons.data_access_layer.cosmos_db.documents import SDK_ERRORS, decode_token, encode_token, outbox_event, params
from commons.data_access_layer.cosmos_db.documents import translate as translate_error
from commons.data_access_layer.cosmos_db.units import BatchFailed, Partition
from commons.data_access_layer.events import Actor, event_context
from commons.data_access_layer.repository import Record
from commons.data_access_layer.webhooks import new_endpoint
from commons.domain.clock import now_ms
from commons.domain.errors import Invalid, NotFound
from commons.domain.webhooks import PENDING

if TYPE_CHECKING:
    from commons.data_access_layer.cosmos_db.store import CosmosStore

#: Delivered, failed and cancelled deliveries stay in the log this long.
FINISHED_TTL_S = 30 * 24 * 3600
_SYSTEM = frozenset(("_rid", "_self", "_ts", "_attachments", "_lsn"))
_ENDPOINT_ONLY = " AND NOT IS_DEFINED(c._kind)"


def _record(doc: Mapping[str, Any]) -> Record:
    return {k: v for k, v in doc.items() if k not in _SYSTEM and k != "ttl"}


def _body(record: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k not in _SYSTEM and k != "_etag"}


class CosmosWebhooks:
    """The Cosmos DB implementation of `Webhooks`."""

    def __init__(self, store: CosmosStore) -> None:
        self.store = store

    def _endpoints(self, tenant: str) -> Partition:
        return Partition(self.store, "webhook", tenant, "Webhook")

    def _deliveries(self, tenant: str) -> Partition:
        return Partition(self.store, "webhook_delivery", tenant, "Delivery")

    # ------------------------------------------------------------------ endpoints

    def add_endpoint(self, actor: Actor, fields: Mapping[str, Any]) -> Record:
        doc = new_endpoint(actor, fields)
        part = self._endpoints(actor.tenant_id)
        try:
            results = part.execute([("create", (doc,), {}), ("create", (outbox_event(doc),), {})])
        except BatchFailed as failed:
            raise failed.domain_error() from None
        except SDK_ERRORS as error:
            raise translate_error(error, "Webhook") from error
        return _record(results[0] or doc)

    def get_endpoint(self, tenant: str, endpoint_id: str) -> Record:
        try:
            doc = self._endpoints(tenant).read(endpoint_id)
        except SDK_ERRORS as error:
            raise translate_error(error, "Webhook") from error
        if doc.get("_kind") or doc.get("deleted"):
            raise NotFound("Webhook not found")
        return _record(doc)

    def list_endpoints(self, tenant: str) -> builtins.list[Record]:
        try:
            docs = self._endpoints(tenant).query(
                "SELECT * FROM c WHERE c.tenant_id = @tenant AND IS_NULL(c.deleted)" + _ENDPOINT_ONLY
            )
        except SDK_ERRORS as error:
            raise translate_error(error, "Webhook") from error
        return sorted((_record(d) for d in docs), key=lambda r: (r["created_at"], r["id"]))

    def write_endpoint(self, endpoint: Record, etag: str, actor: Actor | None = None, action: str = "update") -> Record:
        now = now_ms()
        doc = {**_body(endpoint), "updated_at": now}
        part = self._endpoints(doc["tenant_id"])
        try:
            if actor is None:
                return _record(part.replace(doc, etag))
            doc["_last_event_ctx"] = event_context(actor, "webhook", action, now)
            results = part.execute(
                [("replace", (doc["id"], doc), {"if_match_etag": etag}), ("create", (outbox_event(doc),), {})]
            )
        except BatchFailed as failed:
            raise failed.domain_error() from None
        except SDK_ERRORS as error:
            raise translate_error(error, "Webhook") from error
        return _record(results[0] or doc)

    # ------------------------------------------------------------------ deliveries

    def enqueue(self, deliveries: Iterable[Mapping[str, Any]]) -> int:
        new = 0
        for delivery in deliveries:
            try:
                self.store.proxy("webhook_delivery").create_item(_body(delivery))
                new += 1
            except exceptions.CosmosResourceExistsError:
                pass  # enqueued before: a replay of the feed
            except SDK_ERRORS as error:
                raise translate_error(error, "Delivery") from error
        return new

    def get_delivery(self, tenant: str, delivery_id: str) -> Record:
        try:
            return _record(self._deliveries(tenant).read(delivery_id))
        except SDK_ERRORS as error:
            raise translate_error(error, "Delivery") from error

    def list_deliveries(
        self, tenant: str, endpoint_id: str, limit: int, continuation: str | None
    ) -> tuple[builtins.list[Record], str | None]:
        try:
            docs, token = self._deliveries(tenant).page(
                "SELECT * FROM c WHERE c.tenant_id = @tenant AND c.endpoint_id = @endpoint ORDER BY c.seq DESC",
                limit,
                decode_token(continuation),
                endpoint=endpoint_id,
            )
        except exceptions.CosmosHttpResponseError as error:
            if error.status_code == 400 and continuation:
                raise Invalid("continuation is not a token this API gave") from None
            raise translate_error(error, "Delivery") from error
        except SDK_ERRORS as error:
            raise translate_error(error, "Delivery") from error
        return [_record(d) for d in docs], encode_token(token)

    def due(self, now: int, limit: int) -> builtins.list[Record]:
        found: list[dict[str, Any]] = []
        try:
            pages: Any = self.store.proxy("webhook_delivery").query_items(
                "SELECT * FROM c WHERE c.status = @pending AND c.next_at <= @now AND c.lease_until <= @now",
                parameters=params(pending=PENDING, now=now),
                enable_cross_partition_query=True,
                max_item_count=limit,
            )
            for doc in pages:
                found.append(doc)
                if len(found) >= limit:
                    break
        except SDK_ERRORS as error:
            raise translate_error(error, "Delivery") from error
        return sorted((_record(d) for d in found), key=lambda r: r["seq"])

    def head(self, tenant: str, endpoint_id: str, item_id: str) -> Record | None:
        try:
            docs = self._deliveries(tenant).query(
                "SELECT TOP 1 * FROM c WHERE c.tenant_id = @tenant AND c.endpoint_id = @endpoint "
                "AND c.item_id = @item AND c.status = @pending ORDER BY c.seq",
                endpoint=endpoint_id,
                item=item_id,
                pending=PENDING,
            )
        except SDK_ERRORS as error:
            raise translate_error(error, "Delivery") from error
        return _record(docs[0]) if docs else None

    def pending(self, tenant: str, endpoint_id: str) -> builtins.list[Record]:
        try:
            docs = self._deliveries(tenant).query(
                "SELECT * FROM c WHERE c.tenant_id = @tenant AND c.endpoint_id = @endpoint AND c.status = @pending",
                endpoint=endpoint_id,
                pending=PENDING,
            )
        except SDK_ERRORS as error:
            raise translate_error(error, "Delivery") from error
        return sorted((_record(d) for d in docs), key=lambda r: r["seq"])

    def write_delivery(self, delivery: Record, etag: str) -> Record:
        doc = _body(delivery)
        if doc.get("status") != PENDING:
            doc["ttl"] = FINISHED_TTL_S
        else:
            doc.pop("ttl", None)
        try:
            return _record(self._deliveries(doc["tenant_id"]).replace(doc, etag))
        except SDK_ERRORS as error:
            raise translate_error(error, "Delivery") from error
