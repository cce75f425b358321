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

CONTAINERS = ("customer", "project_type", "project", "activity", "technology", "time_entry")


def event_from(document: Mapping[str, Any], container_id: str | None = None) -> dict[str, Any] | None:
    """The audit event of one changed document, or None (logged) when it carries no context."""
    ctx = document.get("_last_event_ctx")
    if not isinstance(ctx, Mapping) or not ctx.get("event_id") or not document.get("id"):
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
        "item_id": document["id"],
        "container_id": ctx.get("container_id") or container_id,
        "session_id": ctx.get("session_id"),
        "date": date,
    }


def _versions(document: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The document once per recent write context it carries (Cosmos keeps a few, because its
    change feed compacts writes in quick succession into the latest version)."""
    recent = document.get("_recent_events")
    if not isinstance(recent, list) or not recent:
        return [document]
    return [{**document, "_last_event_ctx": ctx} for ctx in recent]


def events_from(documents: Iterable[Mapping[str, Any]], container_id: str | None = None) -> list[dict[str, Any]]:
    """The events of a batch of changes; documents without context are skipped, not fatal."""
    events: dict[str, dict[str, Any]] = {}
    for document in documents:
        for version in _versions(document):
            try:
                event = event_from(version, container_id)
            except Exception:  # noqa: BLE001 - one bad document never loses the batch
                log.exception("change of %s could not be turned into an event: skipped", container_id)
                continue
            if event is not None and event["tenant_id"] and event["date"]:
                events[event["id"]] = event
    if not events:
        log.warning("No valid events were found in a batch of %s", container_id)
    return list(events.values())
