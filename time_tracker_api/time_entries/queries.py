"""Reading time entries: one entry, the running one, lists by window and filters, sync pages,
pages with a total, the latest per project, the worked-time summary and the recent projects."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import tzinfo
from typing import Any

from commons.data_access_layer.repository import ChangeQuery, EntryQuery, Record, Store, UnitOfWork
from commons.directory import Directory
from commons.domain.clock import (
    MIN_INSTANT,
    OPEN_END,
    Window,
    current_month_window,
    from_ms,
    month_window,
    parse_query_bound,
    summarize,
    summary_span,
)
from commons.domain.errors import Invalid
from commons.domain.identity import require_admin
from time_tracker_api.catalogue import with_relations
from time_tracker_api.time_entries.names import all_named
from time_tracker_api.time_entries.service import Identity, owned

MAX_LIST = 10_000
RECENT_ENTRIES = 20


def get(store: Store, identity: Identity, entry_id: str) -> Record:
    with store.unit_of_work(identity) as uow:
        return owned(uow, identity, entry_id)


def running(store: Store, identity: Identity) -> Record | None:
    with store.unit_of_work(identity) as uow:
        return uow.time_entries.running(identity.user_id)


def owners_for(identity: Identity, user_ids: Sequence[str] | None) -> tuple[str, ...] | None:
    """Whose entries: the caller's own, or (admins) `*` for everyone or a list of ids (cleaned:
    `cleaning.id_list`)."""
    wanted = list(user_ids or ())
    if not wanted or wanted == [identity.user_id]:
        return (identity.user_id,)
    require_admin(identity)
    if "*" in wanted:
        return None
    return tuple(wanted)


@dataclass(frozen=True)
class Filters:
    """The query-string filters of the list endpoints, parsed."""

    #: None: not asked (a report then covers everyone); empty: asked for no one in particular.
    user_ids: tuple[str, ...] | None = None
    start_date: str | None = None
    end_date: str | None = None
    month: int | None = None
    year: int | None = None
    project_id: str | None = None
    activity_id: str | None = None
    customer_id: str | None = None
    uri: str | None = None
    limit: int | None = None
    offset: int = 0


def window_for(filters: Filters, zone: tzinfo, now: int) -> Window:
    """The date range asked for, else the month asked for, else the current month (in `zone`)."""
    if filters.start_date or filters.end_date:
        start = parse_query_bound(filters.start_date, "start_date", zone) if filters.start_date else None
        end = parse_query_bound(filters.end_date, "end_date", zone, end=True) if filters.end_date else None
        if start is not None and end is not None and end < start:
            raise Invalid("end_date must not be before start_date")
        return Window(MIN_INSTANT if start is None else start, OPEN_END if end is None else end)
    if filters.month is not None or filters.year is not None:
        current = from_ms(now, zone)
        return month_window(filters.year or current.year, filters.month or current.month, zone)
    return current_month_window(now, zone)


def entry_query(uow: UnitOfWork, identity: Identity, filters: Filters, zone: tzinfo, now: int) -> EntryQuery:
    window = window_for(filters, zone, now)
    project_ids: tuple[str, ...] | None = (filters.project_id,) if filters.project_id else None
    if filters.customer_id:
        of_customer = {p["id"] for p in uow.projects.list({"customer_id": filters.customer_id})}
        project_ids = tuple(sorted(of_customer & set(project_ids) if project_ids else of_customer))
    return EntryQuery(
        owners=owners_for(identity, filters.user_ids),
        start=window.start,
        end=window.end,
        project_ids=project_ids,
        activity_id=filters.activity_id,
        uri=filters.uri,
        limit=filters.limit,
        offset=filters.offset,
    )


def list_entries(
    store: Store, identity: Identity, filters: Filters, zone: tzinfo, now: int, directory: Directory | None = None
) -> list[Record]:
    with store.unit_of_work(identity) as uow:
        query = entry_query(uow, identity, filters, zone, now)
        entries = uow.time_entries.list(query)
    return all_named(entries, directory, identity)


def list_changes(
    store: Store,
    identity: Identity,
    user_ids: Sequence[str] | None,
    query: ChangeQuery,
    directory: Directory | None = None,
) -> list[Record]:
    """A sync page (`updated_since`) of the entries of the caller, or (admins) of `user_ids`."""
    with store.unit_of_work(identity) as uow:
        changed = uow.time_entries.changes(replace(query, owners=owners_for(identity, user_ids)))
    return all_named(changed, directory, identity)


def paginated(
    store: Store,
    identity: Identity,
    filters: Filters,
    zone: tzinfo,
    now: int,
    continuation: str | None = None,
    directory: Directory | None = None,
) -> dict[str, Any]:
    """A page by offset (`start`), or by the token of the previous page (`continuation`)."""
    with store.unit_of_work(identity) as uow:
        query = entry_query(uow, identity, filters, zone, now)
        total = uow.time_entries.count(query)
        if continuation is not None or filters.offset == 0:
            size = filters.limit or MAX_LIST
            data, token = uow.time_entries.page(replace(query, limit=None, offset=0), size, continuation or None)
        else:
            data, token = uow.time_entries.list(query), None
    return {"records_total": total, "data": all_named(data, directory, identity), "continuation": token}


def latest(store: Store, identity: Identity, zone: tzinfo, now: int) -> list[Record]:
    """The caller's most recent entry of each project this month."""
    window = current_month_window(now, zone)
    with store.unit_of_work(identity) as uow:
        return uow.time_entries.latest_per_project(identity.user_id, window.start, window.end)


def summary(store: Store, identity: Identity, zone: tzinfo, now: int) -> dict[str, dict[str, int]]:
    """Worked time today, this week (from Monday) and this month, in the caller's zone."""
    span = summary_span(now, zone)
    with store.unit_of_work(identity) as uow:
        spans = uow.time_entries.spans(EntryQuery(owners=(identity.user_id,), start=span.start, end=now + 1))
    return summarize(spans, now, zone)


def recent_projects(store: Store, identity: Identity) -> list[Record]:
    """Active projects (of active customers) from the caller's last entries, most recent first."""
    with store.unit_of_work(identity) as uow:
        entries = uow.time_entries.list(EntryQuery(owners=(identity.user_id,), limit=RECENT_ENTRIES))
        order = list(dict.fromkeys(e["project_id"] for e in entries))
        found = uow.projects.get_many(order)
        projects = [found[p] for p in order if p in found and found[p]["status"] == "active"]
        projects = with_relations(uow, projects)
        active = uow.customers.get_many({p["customer_id"] for p in projects if p.get("customer_id")})
        return [p for p in projects if active.get(p["customer_id"], {}).get("status") == "active"]
