"""Document shapes and SDK plumbing shared by the Cosmos repositories.

A business container holds three kinds of documents in each tenant's partition:
- items (customers, entries ...), with no `_kind`;
- name guards (`_kind: "guard"`) and owner leases (`_kind: "lease"`), written in the same
  transactional batch as the items they protect;
- outbox events (`_kind: "event"`), one per write, in the same batch, so the change feed
  carries every write even though it compacts an item's versions into the latest one.
Item queries therefore always say `NOT IS_DEFINED(c._kind)`.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from typing import Any

from azure.core.exceptions import ServiceRequestError, ServiceResponseError
from azure.cosmos import exceptions

from commons.data_access_layer.repository import Record
from commons.domain import cursors
from commons.domain.errors import Conflict, DomainError, Invalid, NotFound, PreconditionFailed, Unavailable
from commons.domain.preconditions import stale

log = logging.getLogger(__name__)

#: Only items: guards, leases and outbox events are kept out of every item query.
ITEMS_ONLY = " AND NOT IS_DEFINED(c._kind)"
GUARD, LEASE, EVENT = "guard", "lease", "event"
#: Outbox events expire a week after their write (the container's TTL is on, default off):
#: long enough for any change-feed consumer to catch up after an outage.
OUTBOX_TTL_S = 7 * 24 * 3600

#: Stored keys that records leave out.
_SYSTEM = frozenset(
    ("_rid", "_self", "_ts", "_attachments", "_last_event_ctx", "_recent_events", "created_at", "updated_at", "_lsn")
)
#: Stored keys that records leave out but rewrites keep.
_KEPT = ("created_at", "_last_event_ctx")

SDK_ERRORS = (
    exceptions.CosmosHttpResponseError,
    exceptions.CosmosClientTimeoutError,
    ServiceRequestError,
    ServiceResponseError,
)


def record(doc: Mapping[str, Any], marker: bool = True) -> Record:
    """The contract's record of a stored item: system keys out, `_etag` kept."""
    data = {k: v for k, v in doc.items() if k not in _SYSTEM}
    data["deleted"] = data.get("deleted") if marker else None
    return data


def new_document(tenant: str, fields: Mapping[str, Any], context: dict[str, Any], now: int) -> dict[str, Any]:
    """A document to create: the fields, the server-owned keys, and its write context."""
    return {
        **fields,
        "id": str(uuid.uuid4()),
        "tenant_id": tenant,
        "deleted": None,
        "created_at": now,
        "updated_at": now,
        "_last_event_ctx": context,
    }


def stored_body(doc: Mapping[str, Any]) -> dict[str, Any]:
    """What a replace writes back of a stored document (the server's own keys left out)."""
    return {k: v for k, v in doc.items() if (k not in _SYSTEM or k in _KEPT) and k not in ("_etag", "_recent_events")}


def rewritten(
    stored: Mapping[str, Any], changes: Mapping[str, Any], context: dict[str, Any], now: int
) -> dict[str, Any]:
    """The stored document with `changes` and the write's context."""
    return {**stored_body(stored), **changes, "updated_at": now, "_last_event_ctx": context}


def outbox_event(item: Mapping[str, Any]) -> dict[str, Any]:
    """The outbox document of one write of `item` (same partition, same batch)."""
    context = item["_last_event_ctx"]
    return {
        "id": f"event:{context['event_id']}",
        "tenant_id": item["tenant_id"],
        "_kind": EVENT,
        "item_id": item["id"],
        "_last_event_ctx": context,
        "ttl": OUTBOX_TTL_S,
        # Whether a written time entry runs: webhooks tell a clock-in from a create (TT-15).
        **({"end_at": item["end_at"]} if "end_at" in item else {}),
    }


def params(**values: Any) -> list[dict[str, Any]]:
    return [{"name": f"@{k}", "value": v} for k, v in values.items()]


def translate(error: Exception, label: str = "Item") -> Exception:
    """SDK errors to domain errors (the caller raises the result)."""
    if isinstance(error, exceptions.CosmosHttpResponseError):
        return status_error(int(error.status_code or 500), label, str(error))
    if isinstance(error, (ServiceResponseError, exceptions.CosmosClientTimeoutError)):
        # The request went out and no answer came back: a write may have been applied.
        return Unavailable(UNANSWERED)
    if isinstance(error, ServiceRequestError):
        return Unavailable("The database is unreachable; try again shortly")
    return error


def status_error(status: int, label: str, detail: str = "") -> DomainError:
    """The contract's error for a status Cosmos DB answered (a request's or a batch operation's)."""
    if status == 404:
        return NotFound(f"{label} not found")
    if status == 409:
        return Conflict(f"{label} already exists")
    if status == 412:
        return PreconditionFailed(changed(label))
    if status == 408:
        return Unavailable(UNANSWERED)
    if status in (429, 449, 503):
        return Unavailable("The database is busy; try again shortly")
    log.error("Cosmos DB refused a request: %s %s", status, detail)
    return Unavailable("The database refused the request; try again later")


UNANSWERED = "The database did not answer in time; a change may have been saved, so reload before you retry"


def changed(label: str) -> str:
    return stale(label)


def decode_token(token: str | None) -> str | None:
    """The SDK's continuation from the URL-safe token the API gave."""
    if token is None:
        return None
    continuation = cursors.decode(token)
    if not isinstance(continuation, str):
        raise Invalid(cursors.NOT_OURS)
    return continuation


def encode_token(continuation: str | None) -> str | None:
    return cursors.encode(continuation) if continuation else None
