"""The Cosmos DB engine of the repository contract (azure-cosmos, NoSQL API).

Every container is partitioned by `/tenant_id` and every query names the caller's tenant in
its text and as the partition key, so each one stays inside one logical partition.

Cosmos has no multi-document transactions across containers, so the contract's atomic rules
are built from its single-document guarantees:
- unique live names: a name guard document (id = container, scope and lowercased name) in the
  `guard` container, created before the item (a duplicate id is a 409), removed when the item
  stops being live; a guard whose item no longer holds the name is taken over (self-healing);
- one running entry and no overlaps per owner: an owner lease in the `guard` container,
  taken and released with `If-Match`, serialises the owner's rule checks and writes;
- optimistic concurrency: replaces carry the item's `_etag` with `IfNotModified`.
"""

from __future__ import annotations

import base64
import binascii
import builtins
import functools
import hashlib
import logging
import random
import threading
import time
import uuid
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ServiceRequestError, ServiceResponseError
from azure.cosmos import ContainerProxy, CosmosClient, PartitionKey, exceptions

from commons.config import Settings
from commons.data_access_layer.events import CREATE, DELETE, UPDATE, Actor, event_context
from commons.data_access_layer.repository import (
    ACTIVITIES,
    CUSTOMERS,
    PROJECT_TYPES,
    PROJECTS,
    TECHNOLOGIES,
    CatalogueSpec,
    Conflict,
    EntryQuery,
    EventQuery,
    Invalid,
    NotFound,
    PreconditionFailed,
    Record,
    Unavailable,
)
from commons.domain.clock import MAX_ENTRY_MS, MIN_INSTANT, OPEN_END

log = logging.getLogger(__name__)
# The SDK logs every request and response at INFO.
logging.getLogger("azure").setLevel(logging.WARNING)

APP_ID = "time-tracker-api"
#: Longer than any request can last (timeouts and bounded throttling retries included).
LEASE_MS = 60_000
#: A name guard whose item does not exist yet is left alone this long (its writer may be busy).
GUARD_GRACE_MS = 30_000
LEASE_WAIT_S = 10.0
_SYSTEM = (
    "_rid",
    "_self",
    "_ts",
    "_attachments",
    "_last_event_ctx",
    "_recent_events",
    "created_at",
    "updated_at",
    "_lsn",
)

#: Stored fields that records leave out but rewrites keep.
_KEPT = ("created_at", "_last_event_ctx", "_recent_events")

#: Containers, their partition key and what their indexes must serve.
CONTAINERS: dict[str, dict[str, Any]] = {
    "customer": {"pk": "/tenant_id"},
    "project_type": {"pk": "/tenant_id"},
    "project": {"pk": "/tenant_id"},
    "activity": {"pk": "/tenant_id"},
    "technology": {"pk": "/tenant_id"},
    "time_entry": {
        "pk": "/tenant_id",
        "composite": [
            [("/owner_id", "ascending"), ("/start_at", "descending")],
            [("/tenant_id", "ascending"), ("/start_at", "descending")],
        ],
    },
    "app_user": {"pk": "/tenant_id"},
    "guard": {"pk": "/tenant_id"},
    "event": {"pk": "/tenant_id", "composite": [[("/tenant_id", "ascending"), ("/date", "descending")]]},
    "leases": {"pk": "/id"},
    "migration": {"pk": "/app_id"},
}


def indexing_policy(name: str) -> dict[str, Any]:
    """Range indexes on everything but free text and the event context; composite indexes
    for the orderings the queries use."""
    policy: dict[str, Any] = {
        "indexingMode": "consistent",
        "automatic": True,
        "includedPaths": [{"path": "/*"}],
        "excludedPaths": [
            {"path": '/"_etag"/?'},
            {"path": "/_last_event_ctx/*"},
            {"path": "/_recent_events/*"},
            {"path": "/description/?"},
        ],
    }
    composite = CONTAINERS[name].get("composite")
    if composite:
        policy["compositeIndexes"] = [[{"path": p, "order": o} for p, o in index] for index in composite]
    return policy


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _record(doc: Mapping[str, Any], marker: bool = True) -> Record:
    data = {k: v for k, v in doc.items() if k not in _SYSTEM}
    data["deleted"] = data.get("deleted") if marker else None
    return data


#: How many recent write contexts a document carries (see `_stamp`).
RECENT_EVENTS = 20


def _stamp(doc: dict[str, Any], context: dict[str, Any]) -> None:
    """Stamp the write's context, and keep the last few in `_recent_events`: the change feed
    delivers only the latest version of a document, so writes in quick succession would
    otherwise lose their events; the handler emits one event per context (idempotently)."""
    doc["_last_event_ctx"] = context
    doc["_recent_events"] = [*(doc.get("_recent_events") or []), context][-RECENT_EVENTS:]


def _new_document(tenant: str, fields: Mapping[str, Any], context: dict[str, Any]) -> dict[str, Any]:
    """A document to create: the fields, the server-owned keys, and its write context."""
    now = _now_ms()
    doc = {
        **fields,
        "id": str(uuid.uuid4()),
        "tenant_id": tenant,
        "deleted": None,
        "created_at": now,
        "updated_at": now,
    }
    _stamp(doc, context)
    return doc


def _stored_body(doc: Mapping[str, Any]) -> dict[str, Any]:
    """What a replace writes back of a stored document (system keys left out)."""
    return {k: v for k, v in doc.items() if (k not in _SYSTEM or k in _KEPT) and k != "_etag"}


def _rewritten(stored: Mapping[str, Any], changes: Mapping[str, Any], context: dict[str, Any]) -> dict[str, Any]:
    """The stored document with `changes` and the write's context."""
    doc = {**_stored_body(stored), **changes, "updated_at": _now_ms()}
    _stamp(doc, context)
    return doc


def _params(**values: Any) -> list[dict[str, Any]]:
    return [{"name": f"@{k}", "value": v} for k, v in values.items()]


def _translate(error: Exception, label: str = "Item") -> Exception:
    """SDK errors to domain errors (the caller raises the result)."""
    if isinstance(error, exceptions.CosmosResourceNotFoundError):
        return NotFound(f"{label} not found")
    if isinstance(error, exceptions.CosmosResourceExistsError):
        return Conflict(f"{label} already exists")
    if isinstance(error, exceptions.CosmosAccessConditionFailedError):
        return PreconditionFailed(f"{label} was changed by someone else (ETag mismatch); reload it and retry")
    if isinstance(error, exceptions.CosmosHttpResponseError) and error.status_code in (408, 429, 449, 503):
        return Unavailable("The database is busy; try again shortly")
    if isinstance(error, (ServiceRequestError, ServiceResponseError)):
        return Unavailable("The database is unreachable; try again shortly")
    if isinstance(error, exceptions.CosmosHttpResponseError):
        log.error("Cosmos DB refused a request: %s", error)
        return Unavailable("The database refused the request; try again later")
    return error


class _Container:
    """One container of one tenant: parameterised single-partition queries and point ops."""

    def __init__(self, proxy: ContainerProxy, tenant: str, label: str) -> None:
        self.proxy = proxy
        self.tenant = tenant
        self.label = label

    def query(self, text: str, max_items: int | None = None, **params: Any) -> builtins.list[dict[str, Any]]:
        items = self.proxy.query_items(
            text, parameters=_params(tenant=self.tenant, **params), partition_key=self.tenant, max_item_count=max_items
        )
        return list(items)

    def read(self, item_id: str) -> dict[str, Any]:
        try:
            return self.proxy.read_item(item_id, partition_key=self.tenant)  # type: ignore[no-any-return]
        except exceptions.CosmosResourceNotFoundError:
            raise NotFound(f"{self.label} not found") from None

    def create(self, doc: dict[str, Any]) -> dict[str, Any]:
        try:
            return self.proxy.create_item(doc)  # type: ignore[no-any-return]
        except exceptions.CosmosResourceExistsError:
            raise Conflict(f"{self.label} already exists") from None

    def replace(self, doc: dict[str, Any], etag: str) -> dict[str, Any]:
        try:
            return self.proxy.replace_item(  # type: ignore[no-any-return]
                doc["id"], doc, etag=etag, match_condition=MatchConditions.IfNotModified
            )
        except exceptions.CosmosAccessConditionFailedError:
            raise PreconditionFailed(
                f"{self.label} was changed by someone else (ETag mismatch); reload it and retry"
            ) from None
        except exceptions.CosmosResourceNotFoundError:
            raise NotFound(f"{self.label} not found") from None

    def delete(self, item_id: str) -> None:
        try:
            self.proxy.delete_item(item_id, partition_key=self.tenant)
        except exceptions.CosmosResourceNotFoundError:
            pass


class CosmosCatalogue:
    """One catalogue container of one tenant."""

    def __init__(self, uow: CosmosUnitOfWork, spec: CatalogueSpec) -> None:
        self.spec = spec
        self._uow = uow
        self._items = uow.container(spec.container, spec.label)
        self._guards = uow.container("guard", "Name")
        self._marker = spec.soft_delete == "mark"

    def _live(self, doc: Mapping[str, Any]) -> bool:
        return doc.get("deleted") is None if self._marker else doc.get("status") == "active"

    def _visible(self) -> str:
        return " AND IS_NULL(c.deleted)" if self._marker else ""

    def _read(self, item_id: str) -> dict[str, Any]:
        doc = self._items.read(item_id)
        if self._marker and doc.get("deleted") is not None:
            raise NotFound(f"{self.spec.label} not found")
        return doc

    def get(self, item_id: str) -> Record:
        return _record(self._read(item_id), self._marker)

    def get_many(self, ids: Collection[str]) -> dict[str, Record]:
        wanted = sorted({i for i in ids if i})
        if not wanted:
            return {}
        docs = self._items.query(
            f"SELECT * FROM c WHERE c.tenant_id = @tenant AND ARRAY_CONTAINS(@ids, c.id){self._visible()}", ids=wanted
        )
        return {d["id"]: _record(d, self._marker) for d in docs}

    def list(self, filters: Mapping[str, Any] | None = None) -> builtins.list[Record]:
        text = f"SELECT * FROM c WHERE c.tenant_id = @tenant{self._visible()}"
        params: dict[str, Any] = {}
        for n, (key, value) in enumerate((filters or {}).items()):
            if key not in self.spec.filters and key != "status":
                raise ValueError(f"unknown filter {key}")
            if isinstance(value, (list, tuple, set, frozenset)):
                text += f" AND ARRAY_CONTAINS(@f{n}, c.{key})"
                params[f"f{n}"] = sorted(value)
            else:
                text += f" AND c.{key} = @f{n}"
                params[f"f{n}"] = value
        docs = self._items.query(text, **params)
        return sorted((_record(d, self._marker) for d in docs), key=lambda r: (str(r["name"]).lower(), r["id"]))

    # name guards ---------------------------------------------------------------------------

    def _guard_id(self, doc: Mapping[str, Any]) -> str:
        """A digest: names may hold characters Cosmos ids can not (/ \\ # ?)."""
        scope = "|".join(str(doc.get(f) or "") for f in self.spec.unique_scope)
        key = f"{scope}:{str(doc['name']).strip().lower()}"
        return f"{self.spec.container}:{hashlib.sha256(key.encode()).hexdigest()}"

    def _claim(self, doc: Mapping[str, Any]) -> str:
        """Reserve the live name of `doc`; Conflict when a live item holds it."""
        guard_id = self._guard_id(doc)
        body = {"id": guard_id, "tenant_id": self._items.tenant, "item_id": doc["id"], "claimed_at": _now_ms()}
        taken = Conflict(f"{self.spec.label} with that name already exists")
        try:
            self._guards.create(body)
            return guard_id
        except Conflict:
            pass
        current = self._guards.read(guard_id)
        holder = current.get("item_id")
        if holder == doc["id"]:
            return guard_id
        try:
            other: dict[str, Any] | None = self._items.read(holder) if holder else None
        except NotFound:
            other = None
        if other is not None and self._live(other) and self._guard_id(other) == guard_id:
            raise taken
        # Its item is missing, or live under another name: either a writer is creating or
        # renaming it right now, or died doing so. Only a guard older than the grace period
        # is taken over.
        if _now_ms() - int(current.get("claimed_at", 0)) < GUARD_GRACE_MS:
            raise taken
        try:
            self._guards.replace(body, current["_etag"])
        except PreconditionFailed:
            raise taken from None
        return guard_id

    def _release(self, guard_id: str, item_id: str) -> None:
        try:
            current = self._guards.read(guard_id)
        except NotFound:
            return
        if current.get("item_id") == item_id:
            try:
                self._guards.proxy.delete_item(
                    guard_id,
                    partition_key=self._items.tenant,
                    etag=current["_etag"],
                    match_condition=MatchConditions.IfNotModified,
                )
            except exceptions.CosmosHttpResponseError:
                log.warning("name guard %s not released; it will be taken over", guard_id)

    # writes --------------------------------------------------------------------------------

    def add(self, fields: Mapping[str, Any]) -> Record:
        context = event_context(self._uow.actor, self.spec.container, CREATE, _now_ms())
        doc = _new_document(self._items.tenant, fields, context)
        if not self._marker:
            doc.setdefault("status", "active")
        if self.spec.container == "project":
            doc.setdefault("technologies", [])
        guard = self._claim(doc) if self._live(doc) else None
        try:
            stored = self._items.create(doc)
        except Exception:
            if guard:
                self._release(guard, doc["id"])
            raise
        self._uow.undo(lambda: self._undo_add(doc["id"], guard))
        return _record(stored, self._marker)

    def _undo_add(self, item_id: str, guard: str | None) -> None:
        self._items.delete(item_id)
        if guard:
            self._release(guard, item_id)

    def _write(self, item_id: str, changes: Mapping[str, Any], if_match: str | None, action: str) -> Record:
        current = self._read(item_id)
        if if_match is not None and if_match != current["_etag"]:
            raise PreconditionFailed(
                f"{self.spec.label} was changed by someone else (ETag mismatch); reload it and retry"
            )
        doc = _rewritten(current, changes, event_context(self._uow.actor, self.spec.container, action, _now_ms()))
        was_live, is_live = self._live(current), self._live(doc)
        old_guard = self._guard_id(current) if was_live else None
        new_guard = self._guard_id(doc) if is_live else None
        claimed = self._claim(doc) if new_guard and new_guard != old_guard else None
        try:
            stored = self._items.replace(doc, current["_etag"])
        except Exception:
            if claimed:
                self._release(claimed, item_id)
            raise
        if old_guard and old_guard != new_guard:
            self._release(old_guard, item_id)
        previous = _stored_body(current)
        self._uow.undo(lambda: self._items.replace(previous, stored["_etag"]))
        return _record(stored, self._marker)

    def update(self, item_id: str, changes: Mapping[str, Any], if_match: str | None = None) -> Record:
        return self._write(item_id, changes, if_match, UPDATE)

    def delete(self, item_id: str, if_match: str | None = None) -> None:
        marker = {"deleted": str(uuid.uuid4())} if self._marker else {"status": "inactive"}
        self._write(item_id, marker, if_match, DELETE)


_WINDOW = (
    " AND ((c.end_at > @start AND c.end_at <= @end_limit AND c.start_at < @end)"
    " OR (IS_NULL(c.end_at) AND c.start_at < @end))"
)


def entry_filter(query: EntryQuery) -> tuple[str, dict[str, Any]]:
    """The WHERE clause (after the tenant) and parameters of an entry query."""
    text = " AND IS_NULL(c.deleted)"
    params: dict[str, Any] = {}
    if query.owners is not None:
        text += " AND ARRAY_CONTAINS(@owners, c.owner_id)" if len(query.owners) != 1 else " AND c.owner_id = @owner"
        params.update({"owners": list(query.owners)} if len(query.owners) != 1 else {"owner": query.owners[0]})
    if query.project_ids is not None:
        text += " AND ARRAY_CONTAINS(@projects, c.project_id)"
        params["projects"] = list(query.project_ids)
    if query.activity_id:
        text += " AND c.activity_id = @activity"
        params["activity"] = query.activity_id
    if query.uri:
        text += " AND c.uri = @uri"
        params["uri"] = query.uri
    if query.start is not None or query.end is not None:
        start = MIN_INSTANT if query.start is None else query.start
        end = OPEN_END if query.end is None else query.end
        text += _WINDOW
        params.update(start=start, end=end, end_limit=min(end, OPEN_END) + MAX_ENTRY_MS)
    return text, params


def totals_query(query: EntryQuery, by: str, now: int) -> tuple[str, dict[str, Any]]:
    """A GROUP BY over one partition (served by Cosmos DB; not by the test server)."""
    where, params = entry_filter(query)
    start = MIN_INSTANT if query.start is None else query.start
    end = now if query.end is None else min(query.end, now)
    stop = "(IS_NULL(c.end_at) ? @now : c.end_at)"
    clipped = f"(({stop} < @clip_end ? {stop} : @clip_end) - (c.start_at > @clip_start ? c.start_at : @clip_start))"
    text = (
        f"SELECT c.{by} AS key, SUM({clipped} > 0 ? {clipped} : 0) AS ms FROM c "
        f"WHERE c.tenant_id = @tenant{where} GROUP BY c.{by}"
    )
    return text, {**params, "now": now, "clip_start": start, "clip_end": end}


class CosmosTimeEntries:
    """Time entries of one tenant; reads answer entries with their joined names."""

    label = "Time entry"

    def __init__(self, uow: CosmosUnitOfWork) -> None:
        self._uow = uow
        self._items = uow.container("time_entry", self.label)
        self._guards = uow.container("guard", "Owner lease")

    # the owner lease -----------------------------------------------------------------------

    def lock_owner(self, owner_id: str) -> None:
        lease_id = f"owner:{owner_id}"
        token = uuid.uuid4().hex
        deadline = time.monotonic() + LEASE_WAIT_S
        while True:
            now = _now_ms()
            body = {"id": lease_id, "tenant_id": self._items.tenant, "holder": token, "expires": now + LEASE_MS}
            try:
                try:
                    current = self._guards.read(lease_id)
                except NotFound:
                    taken = self._guards.create(body)
                else:
                    if current.get("holder") and current.get("expires", 0) > now:
                        raise PreconditionFailed("held")
                    taken = self._guards.replace(body, current["_etag"])
                self._uow.on_exit(functools.partial(self._release, lease_id, taken["_etag"]))
                return
            except (Conflict, PreconditionFailed):
                if time.monotonic() > deadline:
                    raise Unavailable("Too many simultaneous changes to your time entries; try again") from None
                time.sleep(random.uniform(0.002, 0.02))

    def _release(self, lease_id: str, etag: str) -> None:
        body = {"id": lease_id, "tenant_id": self._items.tenant, "holder": None, "expires": 0}
        try:
            self._guards.replace(body, etag)
        except Exception:  # noqa: BLE001 - the write is done; a lease left behind expires
            log.warning("owner lease %s not released; it expires by itself", lease_id)

    # reads ---------------------------------------------------------------------------------

    def _named(self, docs: Iterable[Mapping[str, Any]]) -> builtins.list[Record]:
        entries = [_record(d) for d in docs]
        if not entries:
            return entries
        uow = self._uow
        projects = uow.projects.get_many({e["project_id"] for e in entries})
        customers = uow.customers.get_many({str(p["customer_id"]) for p in projects.values() if p.get("customer_id")})
        activities = uow.activities.get_many({e["activity_id"] for e in entries})
        emails = uow.users.emails({e["owner_id"] for e in entries})
        for entry in entries:
            project = projects.get(entry["project_id"])
            customer = customers.get(project.get("customer_id") or "") if project else None
            activity = activities.get(entry["activity_id"])
            entry["project_name"] = project["name"] if project else None
            entry["customer_id"] = project.get("customer_id") if project else None
            entry["customer_name"] = customer["name"] if customer else None
            entry["activity_name"] = activity["name"] if activity else None
            entry["owner_email"] = emails.get(entry["owner_id"])
        return entries

    def get(self, entry_id: str) -> Record:
        doc = self._items.read(entry_id)
        if doc.get("deleted") is not None:
            raise NotFound("Time entry not found")
        return self._named([doc])[0]

    def running(self, owner_id: str) -> Record | None:
        docs = self._items.query(
            "SELECT * FROM c WHERE c.tenant_id = @tenant AND c.owner_id = @owner"
            " AND IS_NULL(c.end_at) AND IS_NULL(c.deleted)",
            owner=owner_id,
        )
        return self._named(docs[:1])[0] if docs else None

    def overlapping(
        self, owner_id: str, start: int, end: int | None, exclude_id: str | None = None
    ) -> builtins.list[Record]:
        where, params = entry_filter(EntryQuery(owners=(owner_id,), start=start, end=OPEN_END if end is None else end))
        docs = self._items.query(
            f"SELECT * FROM c WHERE c.tenant_id = @tenant{where} AND c.id != @exclude",
            exclude=exclude_id or "",
            **params,
        )
        return [_record(d) for d in docs]

    def _docs(self, query: EntryQuery, top: int | None = None) -> builtins.list[dict[str, Any]]:
        where, params = entry_filter(query)
        head = f"SELECT TOP {int(top)} *" if top is not None else "SELECT *"
        return self._items.query(f"{head} FROM c WHERE c.tenant_id = @tenant{where} ORDER BY c.start_at DESC", **params)

    def list(self, query: EntryQuery) -> builtins.list[Record]:
        # OFFSET costs request units in proportion to the offset; pages beyond the first are
        # better asked with `page` and a continuation token.
        top = None if query.limit is None else query.offset + query.limit
        docs = self._docs(query, top)[query.offset :]
        return self._named(docs)

    def count(self, query: EntryQuery) -> int:
        where, params = entry_filter(query)
        result = self._items.query(f"SELECT VALUE COUNT(1) FROM c WHERE c.tenant_id = @tenant{where}", **params)
        first: Any = result[0] if result else 0
        return int(first)

    def page(self, query: EntryQuery, size: int, continuation: str | None) -> tuple[builtins.list[Record], str | None]:
        """One page of `size` entries and the token of the next (None at the end)."""
        where, params = entry_filter(query)
        pages: Any = self._items.proxy.query_items(
            f"SELECT * FROM c WHERE c.tenant_id = @tenant{where} ORDER BY c.start_at DESC",
            parameters=_params(tenant=self._items.tenant, **params),
            partition_key=self._items.tenant,
            max_item_count=size,
        ).by_page(_cursor(continuation))
        try:
            docs = list(next(pages))
        except StopIteration:
            return [], None
        except exceptions.CosmosHttpResponseError as error:
            if error.status_code == 400 and continuation:
                raise Invalid("continuation is not a token this API gave") from None
            raise
        # A short page is the last one, whatever token the server still offers.
        token = _token(pages.continuation_token) if len(docs) >= size else None
        return self._named(docs), token

    def latest_per_project(self, owner_id: str, start: int, end: int) -> builtins.list[Record]:
        seen: dict[str, dict[str, Any]] = {}
        for doc in self._docs(EntryQuery(owners=(owner_id,), start=start, end=end)):
            seen.setdefault(doc["project_id"], doc)
        return self._named(seen.values())

    def totals(self, query: EntryQuery, by: str, now: int) -> dict[str | None, int]:
        if by == "customer_id":
            per_project = self.totals(query, "project_id", now)
            projects = self._uow.projects.get_many([p for p in per_project if p])
            result: dict[str | None, int] = {}
            for project_id, ms in per_project.items():
                key = projects.get(project_id or "", {}).get("customer_id")
                result[key] = result.get(key, 0) + ms
            return result
        text, params = totals_query(query, by, now)
        try:
            rows = self._items.query(text, **params)
            return {row.get("key"): int(row.get("ms") or 0) for row in rows}
        except exceptions.CosmosHttpResponseError as error:
            if error.status_code != 400:
                raise
        # The server does not do GROUP BY (the test server): the same sums over the window.
        start = MIN_INSTANT if query.start is None else query.start
        end = now if query.end is None else min(query.end, now)
        sums: dict[str | None, int] = {}
        for doc in self._docs(query):
            stop = now if doc.get("end_at") is None else doc["end_at"]
            ms = max(0, min(stop, end) - max(doc["start_at"], start))
            sums[doc.get(by)] = sums.get(doc.get(by), 0) + ms
        return sums

    # writes --------------------------------------------------------------------------------

    def add(self, fields: Mapping[str, Any]) -> Record:
        context = event_context(self._uow.actor, "time_entry", CREATE, _now_ms())
        doc = _new_document(self._items.tenant, {"technologies": [], **fields}, context)
        stored = self._items.create(doc)
        self._uow.undo(lambda: self._items.delete(doc["id"]))
        return _record(stored)

    def update(
        self,
        entry_id: str,
        changes: Mapping[str, Any],
        if_match: str | None = None,
        description: str | None = None,
        current: Record | None = None,
        action: str = UPDATE,
    ) -> Record:
        stored = self._items.read(entry_id)
        if stored.get("deleted") is not None:
            raise NotFound("Time entry not found")
        expected = current["_etag"] if current is not None else stored["_etag"]
        if (if_match is not None and if_match != stored["_etag"]) or expected != stored["_etag"]:
            raise PreconditionFailed("Time entry was changed by someone else (ETag mismatch); reload it and retry")
        context = event_context(self._uow.actor, "time_entry", action, _now_ms(), description)
        replaced = self._items.replace(_rewritten(stored, changes, context), stored["_etag"])
        previous = _stored_body(stored)
        self._uow.undo(lambda: self._items.replace(previous, replaced["_etag"]))
        written = _record(replaced)
        names: dict[str, Any] = {
            k: current[k]
            for k in ("project_name", "customer_id", "customer_name", "activity_name", "owner_email")
            if current is not None and k in current
        }
        return {**written, **names}

    def delete(self, entry_id: str, if_match: str | None = None) -> None:
        self.update(entry_id, {"deleted": str(uuid.uuid4())}, if_match, action=DELETE)

    def references(self, project_id: str, activity_id: str) -> dict[str, Any]:
        project = self._uow.projects.get_many([project_id]).get(project_id)
        activity = self._uow.activities.get_many([activity_id]).get(activity_id)
        customer = None
        if project and project.get("customer_id"):
            customer = self._uow.customers.get_many([project["customer_id"]]).get(project["customer_id"])
        return {
            "project_name": project["name"] if project else None,
            "project_status": project["status"] if project else None,
            "customer_id": project.get("customer_id") if project else None,
            "customer_name": customer["name"] if customer else None,
            "activity_name": activity["name"] if activity else None,
            "activity_status": activity["status"] if activity else None,
        }


class CosmosUsers:
    """The e-mail and name each caller last presented (for `owner_email`)."""

    def __init__(self, uow: CosmosUnitOfWork) -> None:
        self._uow = uow
        self._items = uow.container("app_user", "User")

    def remember(self, actor: Actor) -> None:
        """Record e-mail and name, keeping the user's roles and groups (If-Match merge)."""
        memo = (actor.tenant_id, actor.user_id, actor.email, actor.name)
        if not actor.email or memo in self._uow.store.remembered:
            return
        for _ in range(10):
            try:
                doc = self._items.read(actor.user_id)
            except NotFound:
                try:
                    self._items.create(
                        {
                            "id": actor.user_id,
                            "tenant_id": actor.tenant_id,
                            "email": actor.email,
                            "name": actor.name,
                            "roles": [],
                            "groups": [],
                        }
                    )
                    break
                except Conflict:
                    continue
            if doc.get("email") == actor.email and doc.get("name") == actor.name:
                break
            try:
                self._items.replace({**_stored_body(doc), "email": actor.email, "name": actor.name}, doc["_etag"])
                break
            except PreconditionFailed:
                continue
        self._uow.store.remembered.add(memo)

    def emails(self, user_ids: Collection[str]) -> dict[str, str]:
        wanted = sorted({u for u in user_ids if u})
        if not wanted:
            return {}
        docs = self._items.query(
            "SELECT c.id, c.email FROM c WHERE c.tenant_id = @tenant AND ARRAY_CONTAINS(@ids, c.id)", ids=wanted
        )
        return {d["id"]: d["email"] for d in docs}

    @staticmethod
    def _user(doc: Mapping[str, Any]) -> Record:
        return {
            "id": doc["id"],
            "tenant_id": doc["tenant_id"],
            "email": doc.get("email") or None,
            "name": doc.get("name"),
            "roles": list(doc.get("roles") or []),
            "groups": list(doc.get("groups") or []),
        }

    def get(self, user_id: str) -> Record:
        return self._user(self._items.read(user_id))

    def list(self) -> builtins.list[Record]:
        docs = self._items.query("SELECT * FROM c WHERE c.tenant_id = @tenant")
        return sorted((self._user(d) for d in docs), key=lambda u: (u["name"] or "", u["id"]))

    def change(
        self,
        user_id: str,
        mutate: Callable[[builtins.list[str], builtins.list[str]], tuple[builtins.list[str], builtins.list[str]]],
        create: bool = False,
    ) -> Record:
        """Apply `mutate(roles, groups)` with `If-Match`, retrying when someone else won."""
        for _ in range(20):
            try:
                doc = self._items.read(user_id)
            except NotFound:
                if not create:
                    raise
                try:
                    self._items.create(
                        {
                            "id": user_id,
                            "tenant_id": self._items.tenant,
                            "email": "",
                            "name": None,
                            "roles": [],
                            "groups": [],
                        }
                    )
                except Conflict:
                    pass
                continue
            roles, groups = mutate(list(doc.get("roles") or []), list(doc.get("groups") or []))
            try:
                stored = self._items.replace(
                    {
                        **_stored_body(doc),
                        "roles": roles,
                        "groups": groups,
                    },
                    doc["_etag"],
                )
                return self._user(stored)
            except PreconditionFailed:
                time.sleep(random.uniform(0.002, 0.02))
        raise Unavailable("Too many simultaneous changes to this user; try again")


def _cursor(token: str | None) -> str | None:
    """The SDK's continuation from the URL-safe token the API gave."""
    if token is None:
        return None
    try:
        return base64.urlsafe_b64decode(token.encode()).decode()
    except (ValueError, binascii.Error):
        raise Invalid("continuation is not a token this API gave") from None


def _token(continuation: str | None) -> str | None:
    return base64.urlsafe_b64encode(continuation.encode()).decode() if continuation else None


class CosmosEvents:
    """The audit log of one tenant, newest first, paged with continuation tokens."""

    def __init__(self, uow: CosmosUnitOfWork) -> None:
        self._items = uow.container("event", "Event")

    def list(self, query: EventQuery) -> tuple[builtins.list[Record], str | None]:
        text = "SELECT * FROM c WHERE c.tenant_id = @tenant"
        params: dict[str, Any] = {}
        for field in ("item_id", "container_id", "user_id", "action"):
            value = getattr(query, field)
            if value:
                text += f" AND c.{field} = @{field}"
                params[field] = value
        if query.start is not None:
            text += " AND c.date_at >= @start"
            params["start"] = query.start
        if query.end is not None:
            text += " AND c.date_at < @end"
            params["end"] = query.end
        pages: Any = self._items.proxy.query_items(
            text + " ORDER BY c.date_at DESC",
            parameters=_params(tenant=self._items.tenant, **params),
            partition_key=self._items.tenant,
            max_item_count=query.limit,
        ).by_page(_cursor(query.continuation))
        try:
            docs = list(next(pages))
        except StopIteration:
            return [], None
        except exceptions.CosmosHttpResponseError as error:
            if error.status_code == 400 and query.continuation:
                raise Invalid("continuation is not a token this API gave") from None
            raise
        events = [
            {k: v for k, v in d.items() if k not in _SYSTEM and k not in ("_etag", "date_at", "event_id")} for d in docs
        ]
        return events, _token(pages.continuation_token)


class CosmosChangeFeed:
    """The business containers' change feeds; continuations kept in the `leases` container."""

    FEEDS = ("customer", "project_type", "project", "activity", "technology", "time_entry")

    def __init__(self, store: CosmosStore, name: str) -> None:
        self.store = store
        self.lease_id = f"events-runner:{name}"

    def _tokens(self) -> dict[str, Any]:
        try:
            doc = self.store.proxy("leases").read_item(self.lease_id, partition_key=self.lease_id)
        except exceptions.CosmosResourceNotFoundError:
            return {}
        return dict(doc.get("continuations") or {})

    def read(self, limit: int) -> tuple[builtins.list[tuple[str, dict[str, Any]]], dict[str, Any]]:
        tokens = self._tokens()
        batch: list[tuple[str, dict[str, Any]]] = []
        for container in self.FEEDS:
            proxy = self.store.proxy(container)
            token = tokens.get(container)
            feed = (
                proxy.query_items_change_feed(continuation=token, max_item_count=limit)
                if token
                else proxy.query_items_change_feed(start_time="Beginning", max_item_count=limit)
            )
            batch += [(container, dict(doc)) for doc in feed]
            tokens[container] = proxy.client_connection.last_response_headers.get("etag") or token
        return batch, tokens

    def commit(self, position: dict[str, Any]) -> None:
        self.store.proxy("leases").upsert_item({"id": self.lease_id, "continuations": position})


class CosmosUnitOfWork:
    """The repositories of one actor. Cosmos has no transaction across documents, so each
    write registers its undo; a unit of work that fails undoes its writes in reverse order
    (the owner lease keeps other writers of the same entries out meanwhile). Cleanups (lease
    releases) run when it ends either way."""

    def __init__(self, store: CosmosStore, actor: Actor) -> None:
        self.store = store
        self.actor = actor
        self._exits: list[Callable[[], None]] = []
        self._undos: list[Callable[[], Any]] = []
        self.customers = CosmosCatalogue(self, CUSTOMERS)
        self.project_types = CosmosCatalogue(self, PROJECT_TYPES)
        self.projects = CosmosCatalogue(self, PROJECTS)
        self.activities = CosmosCatalogue(self, ACTIVITIES)
        self.technologies = CosmosCatalogue(self, TECHNOLOGIES)
        self.time_entries = CosmosTimeEntries(self)
        self.users = CosmosUsers(self)
        self.events = CosmosEvents(self)
        self._by_container = {
            c.spec.container: c
            for c in (self.customers, self.project_types, self.projects, self.activities, self.technologies)
        }

    def catalogue(self, spec: CatalogueSpec) -> CosmosCatalogue:
        return self._by_container[spec.container]

    def container(self, name: str, label: str) -> _Container:
        return _Container(self.store.proxy(name), self.actor.tenant_id, label)

    def on_exit(self, callback: Callable[[], None]) -> None:
        self._exits.append(callback)

    def undo(self, callback: Callable[[], Any]) -> None:
        self._undos.append(callback)

    def rollback(self) -> None:
        while self._undos:
            try:
                self._undos.pop()()
            except Exception:  # noqa: BLE001 - best effort: log and keep undoing the rest
                log.exception("could not undo a write of a failed unit of work")

    def close(self) -> None:
        while self._exits:
            self._exits.pop()()


class CosmosStore:
    """The Cosmos DB implementation of `Store`: one client per process."""

    engine_name = "cosmos"

    def __init__(self, settings: Settings) -> None:
        options: dict[str, Any] = {
            "connection_timeout": 5,
            "read_timeout": 15,
            "retry_total": 2,
            # 429s are retried by the SDK after the server's x-ms-retry-after-ms, this often.
            "retry_throttle_total": 3,
            "retry_throttle_backoff_max": 5,
            "enable_endpoint_discovery": settings.cosmos_endpoint_discovery,
            "user_agent": "TimeTrackerAPI",
        }
        if settings.cosmos_ca_bundle:
            options["connection_verify"] = settings.cosmos_ca_bundle
        self._options = options
        self._settings = settings
        self._client: CosmosClient | None = None
        self._database: Any = None
        self._lock = threading.Lock()
        self.database_name = settings.cosmos_database_name or ""
        self._proxies: dict[str, ContainerProxy] = {}
        self.remembered: set[tuple[Any, ...]] = set()

    @property
    def client(self) -> CosmosClient:
        """Created on first use (the SDK contacts the account), so that the service starts,
        and answers 503, while the account is unreachable."""
        if self._client is None:
            with self._lock:
                if self._client is None:
                    s = self._settings
                    try:
                        if s.cosmos_connection_string:
                            client = CosmosClient.from_connection_string(s.cosmos_connection_string, **self._options)
                        else:
                            client = CosmosClient(
                                str(s.cosmos_account_uri), credential=s.cosmos_master_key or "", **self._options
                            )
                    except (exceptions.CosmosHttpResponseError, ServiceRequestError, ServiceResponseError) as error:
                        raise Unavailable("The database is unreachable; try again shortly") from error
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
        uow = CosmosUnitOfWork(self, actor)
        try:
            yield uow
        except (exceptions.CosmosHttpResponseError, ServiceRequestError, ServiceResponseError) as error:
            uow.rollback()
            raise _translate(error) from error
        except BaseException:
            uow.rollback()
            raise
        finally:
            uow.close()

    def create_containers(self, names: Iterable[str]) -> builtins.list[str]:
        created = []
        try:
            self.client.create_database_if_not_exists(self.database_name)
            existing = {c["id"] for c in self.database.list_containers()}
            for name in names:
                if name in existing or name not in CONTAINERS:
                    continue  # kept, or a table only SQL needs (its outbox)
                try:
                    self.database.create_container(
                        name,
                        partition_key=PartitionKey(path=CONTAINERS[name]["pk"]),
                        indexing_policy=indexing_policy(name),
                    )
                    created.append(name)
                except exceptions.CosmosResourceExistsError:
                    log.warning("container %s already exists; kept", name)
        except (exceptions.CosmosHttpResponseError, ServiceRequestError, ServiceResponseError) as error:
            raise _translate(error) from error
        return created

    def change_feed(self, name: str) -> CosmosChangeFeed:
        return CosmosChangeFeed(self, name)

    def record_events(self, events: Iterable[Mapping[str, Any]]) -> int:
        from commons.domain.clock import parse_instant

        proxy = self.proxy("event")
        new = 0
        for item in events:
            doc = {**item, "date_at": parse_instant(item["date"], "date")}
            try:
                proxy.create_item(doc)
                new += 1
            except exceptions.CosmosResourceExistsError:
                pass  # delivered before: the id is the write's own
        return new

    def ping(self) -> None:
        try:
            self.database.read()
        except (exceptions.CosmosHttpResponseError, ServiceRequestError, ServiceResponseError) as error:
            raise Unavailable("The database is unavailable") from error

    def dispose(self) -> None:
        if self._client is not None:
            self._client.__exit__(None, None, None)
            self._client = None

    # migrate-anything storage
    def migration_records(self) -> builtins.list[tuple[str, str]]:
        self.create_containers(["migration"])
        docs = self.proxy("migration").query_items(
            "SELECT c.name, c.code FROM c WHERE c.app_id = @app", parameters=_params(app=APP_ID), partition_key=APP_ID
        )
        return sorted((d["name"], d["code"]) for d in docs)

    def save_migration_record(self, name: str, code: str) -> None:
        self.proxy("migration").upsert_item({"id": name, "name": name, "code": code, "app_id": APP_ID})

    def remove_migration_record(self, name: str) -> None:
        self.proxy("migration").delete_item(name, partition_key=APP_ID)
