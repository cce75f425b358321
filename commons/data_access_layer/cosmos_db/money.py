"""The tenant's money settings on Cosmos DB: one document (id `settings`) in the `money`
container, written with its outbox event in one batch, replaced with If-Match."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from commons.data_access_layer.cosmos_db.documents import new_document, outbox_event, record, rewritten, status_error
from commons.data_access_layer.events import CREATE, UPDATE, event_context
from commons.data_access_layer.repository import Record
from commons.domain.clock import now_ms
from commons.domain.errors import Contended, NotFound, PreconditionFailed
from commons.domain.preconditions import stale

if TYPE_CHECKING:
    from commons.data_access_layer.cosmos_db.units import CosmosUnitOfWork

CONTAINER = "money"
LABEL = "Money settings"
ID = "settings"


class CosmosMoney:
    def __init__(self, uow: CosmosUnitOfWork) -> None:
        self._uow = uow
        self._partition = uow.partition(CONTAINER, LABEL)
        self._stored: dict[str, Any] | None = None

    def get(self) -> Record | None:
        self._uow.flush(CONTAINER)
        try:
            self._stored = self._partition.read(ID)
        except NotFound:
            self._stored = None
            return None
        return record(self._stored, False)

    def put(self, settings: Mapping[str, Any], if_match: str | None, description: str | None = None) -> Record:
        now = now_ms()
        action = CREATE if if_match is None else UPDATE
        context = event_context(self._uow.actor, CONTAINER, action, now, description)
        if if_match is None:
            doc = {**new_document(self._partition.tenant, {"settings": dict(settings)}, context, now), "id": ID}
            operation: tuple[str, tuple[Any, ...], dict[str, Any]] = ("create", (doc,), {})
        else:
            stored = self._stored if self._stored is not None and self._stored.get("_etag") == if_match else None
            if stored is None:
                raise PreconditionFailed(stale(LABEL))
            doc = rewritten(stored, {"settings": dict(settings)}, context, now)
            operation = ("replace", (ID, doc), {"if_match_etag": if_match})
        answer = {**record(doc, False), "_etag": None}

        def stored_body(body: dict[str, Any]) -> None:
            answer["_etag"] = body.get("_etag")

        def failed(status: int) -> Exception:
            if status in (409, 412):
                # Another admin wrote the settings since they were read: decide again.
                return Contended(f"{LABEL} were changed at the same time; try again")
            return status_error(status, LABEL)

        self._uow.queue(CONTAINER, operation, stored_body, failed)
        self._uow.queue(CONTAINER, ("create", (outbox_event(doc),), {}))
        return answer
