"""Time entries of one tenant on Cosmos DB; reads answer entries with their joined names.

Writes made while the owner lease is held (every rule-bearing service call) wait in the unit
of work and are committed with the lease in one batch (see units.py); reads in the same unit
see them. Writes without the lease (seeding) are a batch of their own each.
"""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from commons.data_access_layer.cosmos_db.documents import (
    ITEMS_ONLY,
    changed,
    decode_token,
    encode_token,
    new_document,
    outbox_event,
    record,
    rewritten,
    status_error,
)
from commons.data_access_layer.cosmos_db.units import Batch, Fence, Operation, target
from commons.data_access_layer.events import CREATE, DELETE, UPDATE, event_context
from commons.data_access_layer.repository import (
    ChangeQuery,
    EntryQuery,
    OwnerLock,
    Record,
    add_after_reading,
    owner_lock_read,
    update_after_reading,
)
from commons.domain.clock import MAX_ENTRY_MS, MIN_INSTANT, OPEN_END, now_ms
from commons.domain.errors import Contended, NotFound, PreconditionFailed

#: Fields a stored entry may lack (never written, or stored before they existed): a document
#: holds only what was written, a record has every field, as the SQL engines' rows do.
_OPTIONAL = ("description", "uri", "timezone_offset", "billable", "end_at")


def entry_record(doc: Mapping[str, Any]) -> Record:
    """The contract's record of a stored entry."""
    entry = record(doc)
    for field in _OPTIONAL:
        entry.setdefault(field, None)
    entry.setdefault("technologies", [])
    return entry


if TYPE_CHECKING:
    from commons.data_access_layer.cosmos_db.units import CosmosUnitOfWork

NAMES = ("project_name", "customer_id", "customer_name", "activity_name", "owner_email")

_WINDOW = (
    " AND ((c.end_at > @start AND c.end_at <= @end_limit AND c.start_at < @end)"
    " OR (IS_NULL(c.end_at) AND c.start_at < @end))"
)


def entry_filter(query: EntryQuery) -> tuple[str, dict[str, Any], str]:
    """The WHERE clause (after the tenant), its parameters, and the ORDER BY that the
    composite indexes serve (the equality filter first, then the start, newest first)."""
    text = " AND IS_NULL(c.deleted)" + ITEMS_ONLY
    values: dict[str, Any] = {}
    order = " ORDER BY c.tenant_id DESC, c.start_at DESC"
    if query.owners is not None:
        if len(query.owners) == 1:
            text += " AND c.owner_id = @owner"
            values["owner"] = query.owners[0]
            order = " ORDER BY c.owner_id DESC, c.start_at DESC"
        else:
            text += " AND ARRAY_CONTAINS(@owners, c.owner_id)"
            values["owners"] = list(query.owners)
    if query.project_ids is not None:
        text += " AND ARRAY_CONTAINS(@projects, c.project_id)"
        values["projects"] = list(query.project_ids)
    if query.activity_id:
        text += " AND c.activity_id = @activity"
        values["activity"] = query.activity_id
    if query.uri:
        text += " AND c.uri = @uri"
        values["uri"] = query.uri
    if query.start is not None or query.end is not None:
        start = MIN_INSTANT if query.start is None else query.start
        end = OPEN_END if query.end is None else query.end
        text += _WINDOW
        values.update(start=start, end=end, end_limit=min(end, OPEN_END) + MAX_ENTRY_MS)
    return text, values, order


def clipped_ms(doc: Mapping[str, Any], start: int, end: int, now: int) -> int:
    """The part of the entry inside [start, end), a running entry counting up to `now`."""
    stop = now if doc.get("end_at") is None else int(doc["end_at"])
    return max(0, min(stop, end) - max(int(doc["start_at"]), start))


def _overlaps(doc: Mapping[str, Any], owner: str, start: int, end: int | None) -> bool:
    if doc.get("owner_id") != owner or doc.get("deleted") is not None:
        return False
    return (doc.get("end_at") is None or doc["end_at"] > start) and (end is None or doc["start_at"] < end)


class CosmosTimeEntries:
    """Time entries of one tenant."""

    label = "Time entry"

    def __init__(self, uow: CosmosUnitOfWork) -> None:
        self._uow = uow
        self.partition = uow.partition("time_entry", self.label)
        #: Stored documents as this unit last read or wrote them, by id.
        self._seen: dict[str, dict[str, Any]] = {}
        #: Documents written in this unit and not committed yet, by id.
        self._pending: dict[str, dict[str, Any]] = {}
        #: The owner lease this unit's writes are fenced by (`lock_owner`).
        self.lease_id: str | None = None

    # the owner lease -----------------------------------------------------------------------

    def lock_owner(self, owner_id: str, references: tuple[str, str] | None = None) -> OwnerLock:
        """Ask for the owner's lease. It is read along with the unit's first query of entries
        (one round trip for both, and one consistent view), and the unit's batch replaces it
        with If-Match: a writer that decided on an older state writes nothing. The settings
        and references are point reads of their own (other partitions' documents)."""
        self.lease_id = f"lease:{owner_id}"
        return owner_lock_read(self._uow, references)

    def read_lease(self) -> None:
        """The lease, when asked for and not read along with a query yet: a point read."""
        if self.lease_id is None or self._uow.fence is not None:
            return
        headers: dict[str, Any] = {}
        try:
            lease: dict[str, Any] | None = self.partition.read(self.lease_id, on_headers=headers.update)
        except NotFound:
            lease = None
        self._fence(lease, headers.get("x-ms-session-token"))

    def _fence(self, lease: Mapping[str, Any] | None, session_token: str | None) -> None:
        assert self.lease_id is not None
        etag = lease["_etag"] if lease else None
        version = int(lease.get("version") or 0) if lease else 0
        self._uow.fence = Fence(self.lease_id, etag, version, session_token)

    def _session(self) -> str | None:
        """The lease read's session token, when it was a point read. Otherwise the SDK sends
        its own: it merges every response's token into its session container and sends it on
        the next reads of the collection (azure/cosmos/_base.py set_session_token_header,
        _cosmos_client_connection.py update_session), so the rule queries see at least what
        the lease read saw."""
        return self._uow.fence.session_token if self._uow.fence else None

    # reads ---------------------------------------------------------------------------------

    def _query(self, where: str, **values: Any) -> builtins.list[dict[str, Any]]:
        """Entries matching `where` (after the tenant), with the lease when it is wanted."""
        select = "SELECT * FROM c WHERE c.tenant_id = @tenant"
        if self.lease_id is not None and self._uow.fence is None:
            docs = self.partition.query(
                f"{select} AND (c.id = @lease OR (IS_DEFINED(c.id){where}))", lease=self.lease_id, **values
            )
            self._fence(next((d for d in docs if d["id"] == self.lease_id), None), None)
            docs = [d for d in docs if d["id"] != self.lease_id]
        else:
            docs = self.partition.query(f"{select}{where}", session_token=self._session(), **values)
        for doc in docs:
            self._seen[doc["id"]] = doc
        return docs

    def _named(self, docs: Iterable[Mapping[str, Any]]) -> builtins.list[Record]:
        entries = [entry_record(d) for d in docs]
        if not entries:
            return entries
        uow = self._uow
        projects = uow.projects.names_of({e["project_id"] for e in entries})
        customers = uow.customers.names_of({str(p["customer_id"]) for p in projects.values() if p.get("customer_id")})
        activities = uow.activities.names_of({e["activity_id"] for e in entries})
        emails = uow.users.emails_of({e["owner_id"] for e in entries})
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

    def _current(self, entry_id: str) -> dict[str, Any]:
        # Read in this unit already (a query of the owner's entries): as fresh as the lease.
        doc = self._pending.get(entry_id) or (self._seen.get(entry_id) if self._uow.fence else None)
        if doc is None and self.lease_id is not None and self._uow.fence is None:
            found = self._query(" AND c.id = @id", id=entry_id)
            if not found:
                raise NotFound("Time entry not found")
            doc = found[0]
        elif doc is None:
            doc = self.partition.read(entry_id, session_token=self._session())
            self._seen[entry_id] = doc
        if doc.get("_kind") is not None or doc.get("deleted") is not None:
            raise NotFound("Time entry not found")
        return doc

    def get(self, entry_id: str) -> Record:
        return self._named([self._current(entry_id)])[0]

    def _with_pending(
        self, docs: builtins.list[dict[str, Any]], owner: str, start: int, end: int | None
    ) -> builtins.list[dict[str, Any]]:
        """Query results as this unit will leave them: its own writes replace what was read."""
        merged = {d["id"]: d for d in docs}
        merged.update(self._pending)
        return [d for d in merged.values() if _overlaps(d, owner, start, end)]

    def running(self, owner_id: str) -> Record | None:
        docs = self._query(
            " AND c.owner_id = @owner AND IS_NULL(c.end_at) AND IS_NULL(c.deleted)" + ITEMS_ONLY, owner=owner_id
        )
        docs = [d for d in self._with_pending(docs, owner_id, MIN_INSTANT, None) if d.get("end_at") is None]
        return self._named(docs[:1])[0] if docs else None

    def overlapping(
        self, owner_id: str, start: int, end: int | None, exclude_id: str | None = None
    ) -> builtins.list[Record]:
        where, values, _ = entry_filter(
            EntryQuery(owners=(owner_id,), start=start, end=OPEN_END if end is None else end)
        )
        docs = self._query(where, **values)
        return [entry_record(d) for d in self._with_pending(docs, owner_id, start, end) if d["id"] != exclude_id]

    def _docs(self, query: EntryQuery, top: int | None = None) -> builtins.list[dict[str, Any]]:
        where, values, order = entry_filter(query)
        head = f"SELECT TOP {int(top)} *" if top is not None else "SELECT *"
        return self.partition.query(f"{head} FROM c WHERE c.tenant_id = @tenant{where}{order}", **values)

    def list(self, query: EntryQuery) -> builtins.list[Record]:
        # OFFSET costs request units in proportion to the offset; later pages are better
        # asked with `page` and a continuation token.
        top = None if query.limit is None else query.offset + query.limit
        return self._named(self._docs(query, top)[query.offset :])

    def spans(self, query: EntryQuery) -> builtins.list[tuple[int, int | None]]:
        where, values, _ = entry_filter(query)
        rows = self.partition.query(f"SELECT c.start_at, c.end_at FROM c WHERE c.tenant_id = @tenant{where}", **values)
        return [(int(row["start_at"]), row.get("end_at")) for row in rows]

    def count(self, query: EntryQuery) -> int:
        where, values, _ = entry_filter(query)
        # A single-partition aggregate may still arrive as partial results over several
        # pages: their sum is the count.
        parts: builtins.list[Any] = self.partition.query(
            f"SELECT VALUE COUNT(1) FROM c WHERE c.tenant_id = @tenant{where}", **values
        )
        return sum(int(part) for part in parts if isinstance(part, (int, float)))

    def page(self, query: EntryQuery, size: int, continuation: str | None) -> tuple[builtins.list[Record], str | None]:
        where, values, order = entry_filter(query)
        docs, token = self.partition.page(
            f"SELECT * FROM c WHERE c.tenant_id = @tenant{where}{order}", size, decode_token(continuation), **values
        )
        return self._named(docs), encode_token(token)

    def changes(self, query: ChangeQuery) -> builtins.list[Record]:
        from commons.data_access_layer.cosmos_db.integrations import time_entry_changes

        return time_entry_changes(self, query)

    def latest_per_project(self, owner_id: str, start: int, end: int) -> builtins.list[Record]:
        seen: dict[str, dict[str, Any]] = {}
        for doc in self._docs(EntryQuery(owners=(owner_id,), start=start, end=end)):
            seen.setdefault(doc["project_id"], doc)
        return self._named(seen.values())

    def totals(self, query: EntryQuery, by: str, now: int) -> dict[str | None, int]:
        """Summed in the engine from a projection of the window's entries: exact under any
        paging (the service bounds a report to 10,000 entries), unlike GROUP BY, whose
        partial groups over several pages the SDK does not merge."""
        if by == "customer_id":
            per_project = self.totals(query, "project_id", now)
            projects = self._uow.projects.get_many([p for p in per_project if p])
            result: dict[str | None, int] = {}
            for project_id, ms in per_project.items():
                key = projects.get(project_id or "", {}).get("customer_id")
                result[key] = result.get(key, 0) + ms
            return result
        if by not in ("project_id", "activity_id", "owner_id"):
            raise ValueError(f"unknown grouping {by}")
        where, values, _ = entry_filter(query)
        rows = self.partition.query(
            f"SELECT c.start_at, c.end_at, c.{by} AS k FROM c WHERE c.tenant_id = @tenant{where}", **values
        )
        start = MIN_INSTANT if query.start is None else query.start
        end = now if query.end is None else min(query.end, now)
        sums: dict[str | None, int] = {}
        for row in rows:
            sums[row.get("k")] = sums.get(row.get("k"), 0) + clipped_ms(row, start, end, now)
        return sums

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
            "project_billable": project.get("billable") if project else None,
            "customer_name": customer["name"] if customer else None,
            "customer_status": customer["status"] if customer else None,
            "customer_billable": customer.get("billable") if customer else None,
            "activity_name": activity["name"] if activity else None,
            "activity_status": activity["status"] if activity else None,
        }

    # writes --------------------------------------------------------------------------------

    def _write(self, operation: Operation, doc: dict[str, Any], answer: Record, if_match: str | None) -> Record:
        """Queue the write and its outbox event for the unit's batch (fenced by the lease when
        one is held). `answer` gets the stored `_etag` when the batch is written."""

        def stored(body: dict[str, Any]) -> None:
            answer["_etag"] = body.get("_etag")
            self._seen[doc["id"]] = body

        def failed(status: int) -> Exception:
            if status == 412 and if_match is None:
                # Written since it was read, by a writer without the lease: decide again.
                return Contended("Someone else changed this time entry at the same time; try again")
            return status_error(status, self.label)

        self._pending[doc["id"]] = doc
        outbox: Operation = ("create", (outbox_event(doc),), {})
        batch = self._uow.batches.setdefault("time_entry", Batch())
        for n, queued in enumerate(batch.operations):
            if target(queued) == doc["id"]:
                # A second write of the same entry in this unit: the batch writes the last
                # version, with the first write's precondition.
                batch.operations[n] = (queued[0], (*queued[1][:-1], doc), queued[2])
                batch.callbacks[n] = _both(batch.callbacks[n], stored)
                batch.add(outbox)
                return answer
        batch.add(operation, stored, failed)
        batch.add(outbox)
        return answer

    def add(self, fields: Mapping[str, Any], description: str | None = None) -> Record:
        now = now_ms()
        context = event_context(self._uow.actor, "time_entry", CREATE, now, description)
        doc = new_document(self.partition.tenant, {"technologies": [], **fields}, context, now)
        return self._write(("create", (doc,), {}), doc, {**entry_record(doc), "_etag": None}, None)

    def add_unless_overlapping(self, fields: Mapping[str, Any], description: str | None = None) -> Record | None:
        return add_after_reading(self, fields, description)

    def update_unless_overlapping(
        self,
        entry_id: str,
        changes: Mapping[str, Any],
        current: Record,
        if_match: str | None = None,
        description: str | None = None,
    ) -> Record | None:
        return update_after_reading(self, entry_id, changes, current, if_match, description)

    def update(
        self,
        entry_id: str,
        changes: Mapping[str, Any],
        if_match: str | None = None,
        description: str | None = None,
        current: Record | None = None,
        action: str = UPDATE,
    ) -> Record:
        if entry_id in self._pending:
            # Written before in this unit: its precondition is the first write's.
            stored, etag = self._pending[entry_id], None
        else:
            seen = self._seen.get(entry_id)
            fresh = seen is not None and (current is None or seen.get("_etag") == current.get("_etag"))
            stored = seen if seen is not None and fresh else self._current(entry_id)
            etag = stored.get("_etag")
            expected = current.get("_etag") if current is not None else etag
            if (if_match is not None and if_match != etag) or expected != etag:
                raise PreconditionFailed(changed(self.label))
        if stored.get("deleted") is not None:
            raise NotFound("Time entry not found")
        now = now_ms()
        context = event_context(self._uow.actor, "time_entry", action, now, description)
        doc = rewritten(stored, changes, context, now)
        names = {k: current[k] for k in NAMES if current is not None and k in current}
        answer = {**entry_record(doc), "_etag": None, **names}
        operation: Operation = ("replace", (entry_id, doc), {"if_match_etag": etag})
        return self._write(operation, doc, answer, if_match)

    def delete(self, entry_id: str, if_match: str | None = None, description: str | None = None) -> None:
        self.update(entry_id, {"deleted": str(uuid.uuid4())}, if_match, description, action=DELETE)


def _both(
    first: Callable[[dict[str, Any]], None] | None, second: Callable[[dict[str, Any]], None]
) -> Callable[[dict[str, Any]], None]:
    def call(body: dict[str, Any]) -> None:
        if first is not None:
            first(body)
        second(body)

    return call
