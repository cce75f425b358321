"""The admin report: entries of a range priced and rounded by the tenant's money rules, with
totals per group and sub-group (every total the sum of its entries' figures)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import timedelta, tzinfo
from typing import Any

from commons.data_access_layer.repository import GROUPS, Record, Store, UnitOfWork
from commons.directory import Directory
from commons.domain.clock import MIN_INSTANT, from_ms
from commons.domain.errors import Invalid
from commons.domain.identity import require_admin
from commons.domain.money import Row, aggregate, row_for
from time_tracker_api.money.service import Money
from time_tracker_api.money.service import read as read_money
from time_tracker_api.time_entries.names import all_named
from time_tracker_api.time_entries.queries import MAX_LIST, Filters, entry_query
from time_tracker_api.time_entries.service import Identity, default_billable

#: What a report totals by (first and second level); `user` is another name for `owner`.
REPORT_GROUPS = (*GROUPS, "user", "week", "month", "billable")


def report(
    store: Store,
    identity: Identity,
    filters: Filters,
    group_by: str,
    zone: tzinfo,
    now: int,
    then_by: str | None = None,
    directory: Directory | None = None,
) -> dict[str, Any]:
    """Entries of a date range priced and rounded by the tenant's rules, with totals per
    group (and per sub-group with `then_by`): every total is the sum of its entries' figures.
    Owners are named by an external directory's e-mails when there is one (entries and owner
    groups alike), else by those the store remembers."""
    require_admin(identity)
    if group_by not in REPORT_GROUPS:
        raise Invalid(f"group_by must be one of {', '.join(REPORT_GROUPS)}", "group_by")
    if then_by is not None and (then_by not in REPORT_GROUPS or then_by == group_by):
        raise Invalid(f"then_by must be one of {', '.join(REPORT_GROUPS)}, other than group_by", "then_by")
    with store.unit_of_work(identity) as uow:
        query = entry_query(
            uow,
            identity,
            replace(filters, user_ids=("*",) if filters.user_ids is None else filters.user_ids),
            zone,
            now,
        )
        # 366 local days, whatever DST changes they hold.
        if query.end is not None and query.start is not None and query.end - query.start > 366 * 86_400_000 + 7_200_000:
            raise Invalid("A report covers at most 366 days")
        total = uow.time_entries.count(query)
        if total > MAX_LIST:
            raise Invalid(f"The report holds {total} entries, more than {MAX_LIST}; narrow the range or filters")
        entries = uow.time_entries.list(replace(query, limit=None, offset=0))
        money = read_money(uow)
        inherited = _inherited_billable(uow, entries)
    entries = all_named(entries, directory, identity)  # the directory's lookup, after the transaction
    lower = MIN_INSTANT if query.start is None else query.start
    upper = min(now if query.end is None else query.end, now)
    dimensions = (group_by,) if then_by is None else (group_by, then_by)
    rows = [_priced(entry, money, inherited, lower, upper, zone, now, dimensions) for entry in entries]
    groups, totals = aggregate(rows, group_by, then_by)
    for group in groups:
        _with_hours(group)
        for sub in group.get("groups", ()):
            _with_hours(sub)
    return {
        "group_by": group_by,
        "then_by": then_by,
        "start_date": query.start,
        "end_date": query.end,
        "currency": money.currency,
        "currency_digits": money.digits,
        "rounding": {"mode": money.rounding.mode, "minutes": money.rounding.minutes},
        "entries": entries,
        "totals": groups,
        "total": _with_hours(totals),
    }


def _with_hours(figures: dict[str, Any]) -> dict[str, Any]:
    """Hours are for people (two decimals, not additive); the sums hold in seconds."""
    figures["hours"] = round(figures["seconds"] / 3600, 2)
    return figures


def _inherited_billable(uow: UnitOfWork, entries: list[Record]) -> dict[str, bool]:
    """Per project, what an entry stored before `billable` existed (null) counts as."""
    projects = {e["project_id"] for e in entries if e.get("billable") is None}
    if not projects:
        return {}
    found = uow.projects.get_many(projects)
    customers = uow.customers.get_many({p["customer_id"] for p in found.values() if p.get("customer_id")})
    result = {}
    for project_id in projects:
        project = found.get(project_id) or {}
        customer = customers.get(project.get("customer_id") or "") or {}
        result[project_id] = default_billable(
            {"project_billable": project.get("billable"), "customer_billable": customer.get("billable")}
        )
    return result


def _group_key(name: str, entry: Record, billable: bool, start: int, zone: tzinfo) -> tuple[str | None, str | None]:
    """(key, name) of the entry's group by `name`; dates are those of its start (in the range)."""
    if name == "project":
        return entry["project_id"], entry.get("project_name")
    if name == "activity":
        return entry["activity_id"], entry.get("activity_name")
    if name == "customer":
        return entry.get("customer_id"), entry.get("customer_name")
    if name in ("owner", "user"):
        return entry["owner_id"], entry.get("owner_email")
    if name == "billable":
        return ("true", "Billable") if billable else ("false", "Not billable")
    day = from_ms(start, zone).date()
    if name == "day":
        return day.isoformat(), day.isoformat()
    if name == "week":
        iso = day.isocalendar()
        return (day - timedelta(days=day.weekday())).isoformat(), f"{iso[0]}-W{iso[1]:02d}"
    month = f"{day.year:04d}-{day.month:02d}"
    return month, month


def _priced(
    entry: Record,
    money: Money,
    inherited: Mapping[str, bool],
    lower: int,
    upper: int,
    zone: tzinfo,
    now: int,
    dimensions: Sequence[str],
) -> Row:
    """The entry's report row (its part inside the window, a running entry up to now), and
    its figures written onto the entry for the report's entry list."""
    start = max(entry["start_at"], lower)
    stop = now if entry["end_at"] is None else entry["end_at"]
    seconds = max(0, min(stop, upper) - start) // 1000
    billable = entry.get("billable")
    if billable is None:
        billable = inherited.get(entry["project_id"], True)
    hourly = money.rates.find(
        "hourly", entry["start_at"], entry["project_id"], entry.get("customer_id"), entry["owner_id"]
    )
    cost = money.rates.find("cost", entry["start_at"], entry["project_id"], entry.get("customer_id"), entry["owner_id"])
    keys = {name: _group_key(name, entry, billable, start, zone) for name in dimensions}
    row = row_for(
        seconds, money.rounding, billable, hourly.amount if hourly else None, cost.amount if cost else None, keys
    )
    entry.update(
        billable=billable,
        seconds=row.seconds,
        rounded_seconds=row.rounded_seconds,
        hourly_rate=hourly.amount if hourly else None,
        amount=row.amount,
        cost_rate=cost.amount if cost else None,
        cost=row.cost,
    )
    return row
