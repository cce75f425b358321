"""The audit side of the memory engine: the change log (read as a change feed from named
checkpoints), the event log (fed from the writes as they are published, in order, and by
`record_events`), and Idempotency-Key claims."""

from __future__ import annotations

import builtins
import copy
import threading
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from commons.data_access_layer.idempotency import IdempotencyClaim
from commons.data_access_layer.memory.tables import Row
from commons.data_access_layer.repository import EventQuery, Record
from commons.domain import cursors
from commons.domain.clock import format_instant, parse_instant

if TYPE_CHECKING:
    from commons.data_access_layer.memory.unit_of_work import MemoryUnitOfWork

_ID = 36
_EVENT_FIELDS = ("id", "tenant_id", "item_id", "container_id", "user_id", "action", "description", "session_id")


def change_document(row: Mapping[str, Any]) -> dict[str, Any]:
    """A written row as a change feed delivers it (as the SQL outbox holds it)."""
    return copy.deepcopy({k: v for k, v in row.items() if k not in ("created_at", "updated_at")})


def event_of(container: str, document: Mapping[str, Any]) -> dict[str, Any]:
    """The audit event of one write: its id derived from the write's own `event_id`, as the
    events app derives it (time_tracker_events.handler), so feeding both ways is one event."""
    ctx = document["_last_event_ctx"]
    return {
        "id": str(uuid.UUID(str(ctx["event_id"]))),
        "tenant_id": document["tenant_id"],
        "item_id": document["id"],
        "container_id": ctx.get("container_id") or container,
        "user_id": ctx.get("user_id"),
        "action": ctx["action"],
        "description": ctx.get("description"),
        "session_id": ctx.get("session_id"),
        "date": ctx["date"],
    }


class AuditLog:
    """The store's change log and event log (their own lock: readers never wait for a unit)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._changes: list[tuple[str, dict[str, Any]]] = []
        self._checkpoints: dict[str, int] = {}
        #: tenant -> event id -> stored event (`date_at` in epoch ms).
        self._events: dict[str, dict[str, Row]] = {}

    def published(self, changes: Iterable[tuple[str, dict[str, Any]]]) -> None:
        """A unit's writes, in order: into the change log, and their events into the log."""
        changes = list(changes)
        with self._lock:
            self._changes.extend(changes)
            self._add(event_of(container, document) for container, document in changes)

    def record(self, events: Iterable[Mapping[str, Any]]) -> int:
        """Store audit events; one whose id is stored already is skipped. Answers how many
        were new."""
        with self._lock:
            return self._add(events)

    def _add(self, events: Iterable[Mapping[str, Any]]) -> int:
        new = 0
        for event in events:
            stored = self._events.setdefault(event["tenant_id"], {})
            if event["id"] in stored:
                continue
            row = {k: event.get(k) for k in _EVENT_FIELDS}
            row["date_at"] = parse_instant(event["date"], "date")
            stored[event["id"]] = row
            new += 1
        return new

    def events(self, tenant: str, query: EventQuery) -> tuple[builtins.list[Record], str | None]:
        """A keyset page of the tenant's events, newest first (as SqlEvents)."""
        after: tuple[int, str] | None = None
        if query.continuation:
            after = cursors.decode_position(query.continuation, _ID)
        with self._lock:
            rows = list(self._events.get(tenant, {}).values())
        wanted = {
            "item_id": query.item_id,
            "container_id": query.container_id,
            "user_id": query.user_id,
            "action": query.action,
        }
        found = [
            row
            for row in rows
            if all(not value or row[key] == value for key, value in wanted.items())
            and (query.start is None or row["date_at"] >= query.start)
            and (query.end is None or row["date_at"] < query.end)
            and (after is None or (row["date_at"], row["id"]) < after)
        ]
        found.sort(key=lambda row: (row["date_at"], row["id"]), reverse=True)
        page = found[: query.limit]
        token = cursors.encode((page[-1]["date_at"], page[-1]["id"])) if len(found) > query.limit else None
        return [_event_record(row) for row in page], token

    def read(self, name: str, limit: int) -> tuple[builtins.list[tuple[str, dict[str, Any]]], int]:
        with self._lock:
            start = self._checkpoints.get(name, 0)
            batch = self._changes[start : start + limit]
        return [(container, copy.deepcopy(document)) for container, document in batch], start + len(batch)

    def commit(self, name: str, position: int) -> None:
        with self._lock:
            self._checkpoints[name] = position


def _event_record(row: Mapping[str, Any]) -> Record:
    data = {k: row[k] for k in _EVENT_FIELDS}
    data["date"] = format_instant(row["date_at"])
    return data


class MemoryEvents:
    """The audit log of one tenant."""

    def __init__(self, uow: MemoryUnitOfWork) -> None:
        self._uow = uow

    def list(self, query: EventQuery) -> tuple[builtins.list[Record], str | None]:
        return self._uow.store.audit.events(self._uow.actor.tenant_id, query)


class MemoryChangeFeed:
    """The change log from a named checkpoint, in write order (a position is an index)."""

    def __init__(self, audit: AuditLog, name: str) -> None:
        self._audit = audit
        self.name = name

    def read(self, limit: int) -> tuple[builtins.list[tuple[str, dict[str, Any]]], int]:
        return self._audit.read(self.name, limit)

    def commit(self, position: int) -> None:
        self._audit.commit(self.name, position)


class MemoryIdempotencyKeys:
    """Claims keyed by (tenant, user, key), each change atomic under one lock."""

    #: One claim in this many also purges expired claims.
    PURGE_EVERY = 200

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._claims: dict[tuple[str, str, str], IdempotencyClaim] = {}
        self._count = 0

    def claim(self, tenant_id: str, user_id: str, key: str, wanted: IdempotencyClaim) -> IdempotencyClaim | None:
        with self._lock:
            self._count += 1
            if self._count % self.PURGE_EVERY == 0:
                self._claims = {k: c for k, c in self._claims.items() if c.expires_at > wanted.created_at}
            held = self._claims.get((tenant_id, user_id, key))
            stale = held is not None and (
                held.expires_at <= wanted.created_at
                or (held.state == "in_flight" and held.locked_until <= wanted.created_at)
            )
            if held is not None and not stale:
                return held
            self._claims[(tenant_id, user_id, key)] = replace(wanted, status=None, response=None)
            return None

    def get(self, tenant_id: str, user_id: str, key: str) -> IdempotencyClaim | None:
        with self._lock:
            held = self._claims.get((tenant_id, user_id, key))
        return None if held is None else replace(held, response=copy.deepcopy(held.response))

    def complete(
        self, tenant_id: str, user_id: str, key: str, owner: str, status: int, response: dict[str, Any]
    ) -> None:
        with self._lock:
            held = self._claims.get((tenant_id, user_id, key))
            if held is not None and held.owner == owner:
                self._claims[(tenant_id, user_id, key)] = replace(
                    held, state="done", status=status, response=copy.deepcopy(response)
                )

    def release(self, tenant_id: str, user_id: str, key: str, owner: str) -> None:
        with self._lock:
            held = self._claims.get((tenant_id, user_id, key))
            if held is not None and held.owner == owner:
                del self._claims[(tenant_id, user_id, key)]
