"""Changed documents -> audit events. Shared by the Azure Functions triggers and the local runner.

Delivery is at least once, so an event's id is derived from the write's own `event_id`
(stamped in `_last_event_ctx`): handling the same change twice yields the same event, which
the store keeps once.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from commons.domain.clock import format_instant, parse_instant

log = logging.getLogger(__name__)

CONTAINERS = ("customer", "project_type", "project", "activity", "technology", "time_entry", "money")


#: Documents that engines keep beside the items and that are no writes of their own: name
#: guards and owner leases (Cosmos). Outbox events (`_kind: "event"`) are the writes' events.
_BOOKKEEPING = ("guard", "lease")


def event_from(document: Mapping[str, Any], container_id: str | None = None) -> dict[str, Any] | None:
    """The audit event of one changed document, or None (logged) when it carries no context.

    An outbox event document (Cosmos) stands for a write of the item it names; any other
    document stands for its own latest write. Both carry the write's context, so a write seen
    both ways is one event."""
    kind = document.get("_kind")
    if kind in _BOOKKEEPING:
        return None
    item_id = document.get("item_id") if kind == "event" else document.get("id")
    ctx = document.get("_last_event_ctx")
    if not isinstance(ctx, Mapping) or not ctx.get("event_id") or not item_id:
        log.warning("change of %s/%s has no event context: skipped", container_id, document.get("id"))
        return None
    try:
        event_id = str(uuid.UUID(str(ctx["event_id"])))
        date = format_instant(parse_instant(ctx.get("date"), "date")) if ctx.get("date") else None
    except (ValueError, TypeError, AttributeError):
        log.warning("change of %s/%s has a malformed event context: skipped", container_id, document.get("id"))
        return None
    if date is None and isinstance(document.get("_ts"), (int, float)):
        date = format_instant(int(document["_ts"]) * 1000)
    return {
        "id": event_id,
        "tenant_id": document.get("tenant_id") or ctx.get("tenant_id"),
        "user_id": ctx.get("user_id"),
        "action": ctx.get("action"),
        "description": ctx.get("description"),
        "item_id": item_id,
        "container_id": ctx.get("container_id") or container_id,
        "session_id": ctx.get("session_id"),
        "date": date,
    }


def events_from(documents: Iterable[Mapping[str, Any]], container_id: str | None = None) -> list[dict[str, Any]]:
    """The events of a batch of changes; documents without context are skipped, not fatal."""
    events: dict[str, dict[str, Any]] = {}
    for document in documents:
        try:
            event = event_from(document, container_id)
        except Exception:  # noqa: BLE001 - one bad document never loses the batch
            log.exception("change of %s could not be turned into an event: skipped", container_id)
            continue
        if event is not None and event["tenant_id"] and event["date"]:
            events[event["id"]] = event
    if not events:
        log.warning("No valid events were found in a batch of %s", container_id)
    return list(events.values())
