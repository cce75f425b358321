"""The rules of time entries: clock in/out, edits, overlaps, queries, summaries and reports.

Every rule that involves other entries of the same owner runs inside one writing unit of work
that holds the owner's lock (`lock_owner`), so two requests at once cannot both pass a check
that only one of them may pass. `now` is an argument everywhere (epoch milliseconds).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta, tzinfo
from typing import Any, TypeVar

from commons.data_access_layer.events import Actor
from commons.data_access_layer.repository import GROUPS, ChangeQuery, EntryQuery, Record, Store, UnitOfWork, decisions
from commons.domain.clock import (
    MAX_ENTRY_HOURS,
    MAX_ENTRY_MS,
    MAX_OFFSET_MINUTES,
    MIN_INSTANT,
    OPEN_END,
    Window,
    current_month_window,
    from_ms,
    month_window,
    parse_instant,
    parse_query_bound,
    summarize,
    summary_span,
)
from commons.domain.errors import Conflict, Forbidden, Invalid, Locked, NotFound, Unprocessable
from commons.domain.identity import require_admin
from commons.domain.money import Row, aggregate, row_for
from commons.domain.periods import describe, is_locked
from commons.domain.preconditions import IfMatch
from time_tracker_api.catalogue import with_relations
from time_tracker_api.money.service import Money, lock_of
from time_tracker_api.money.service import read as read_money

Identity = Actor

MAX_DESCRIPTION = 1500
MAX_URI = 2000
MAX_TECHNOLOGIES = 10
MAX_LIST = 10_000
RECENT_ENTRIES = 20
STOP = "Stop time entry"
RESTART = "Restart time entry"
OVERLAP = "There is another time entry in that date range"
NOT_OWNER = "The current user is not the owner of this time entry"


@dataclass(frozen=True)
class Rules:
    """Tunable limits of the rules (from the settings)."""

    skew_ms: int = 60_000


# ---------------------------------------------------------------- input cleaning


def _text(body: Mapping[str, Any], field: str, limit: int | None = None) -> str | None:
    value = body.get(field)
    if value is None:
        return None
    if not isinstance(value, str):
        raise Invalid(f"{field} must be a string", field)
    value = value.strip()
    if limit is not None and len(value) > limit:
        raise Invalid(f"{field} is too long (at most {limit} characters)", field)
    return value or None


def _technologies(value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise Invalid("technologies must be an array of strings", "technologies")
    unique = list(dict.fromkeys(v.strip() for v in value if v.strip()))
    if len(unique) > MAX_TECHNOLOGIES:
        raise Invalid(f"technologies can hold at most {MAX_TECHNOLOGIES} items")
    return unique


def _offset(value: Any) -> int | None:
    if value is None:
        return None
    bound = MAX_OFFSET_MINUTES
    if isinstance(value, bool) or not isinstance(value, int) or not -bound <= value <= bound:
        raise Invalid(f"timezone_offset must be an integer number of minutes between {-bound} and {bound}")
    return value


def entry_fields(body: Mapping[str, Any], *, partial: bool) -> dict[str, Any]:
    """The writable fields present in `body`, normalised; unknown keys are ignored."""
    values: dict[str, Any] = {}
    for field in ("project_id", "activity_id"):
        if field in body:
            value = _text(body, field)
            if value is None:
                raise Invalid(f"{field.split('_')[0].capitalize()} id can not be empty", field)
            values[field] = value
        elif not partial:
            raise Invalid(f"{field} is a required property", field)
    if "description" in body:
        values["description"] = _text(body, "description", MAX_DESCRIPTION)
    if "uri" in body:
        values["uri"] = _text(body, "uri", MAX_URI)
    if "technologies" in body:
        values["technologies"] = _technologies(body["technologies"])
    if "timezone_offset" in body:
        values["timezone_offset"] = _offset(body["timezone_offset"])
    if body.get("billable") is not None:
        if not isinstance(body["billable"], bool):
            raise Invalid("billable must be true or false (null: as the project)", "billable")
        values["billable"] = body["billable"]
    if body.get("start_date") is not None:
        values["start_at"] = parse_instant(body["start_date"], "start_date")
    elif "start_date" in body and partial:
        raise Invalid("start_date can not be empty", "start_date")
    if "end_date" in body:
        values["end_at"] = None if body["end_date"] is None else parse_instant(body["end_date"], "end_date")
    return values


def _check_times(start: int, end: int | None, now: int, rules: Rules) -> None:
    if start > now + rules.skew_ms:
        raise Invalid("You cannot start a time entry in the future")
    if end is None:
        if now - start > MAX_ENTRY_MS:
            raise Invalid(f"A running time entry can not have started more than {MAX_ENTRY_HOURS} hours ago")
        return
    if end <= start:
        raise Invalid("You must end the time entry after it started")
    if end > now + rules.skew_ms:
        raise Invalid("You cannot end a time entry in the future")
    if end - start > MAX_ENTRY_MS:
        raise Invalid(f"A time entry can not last more than {MAX_ENTRY_HOURS} hours")


NAMES = ("project_name", "customer_id", "customer_name", "activity_name")


def _references(uow: UnitOfWork, project_id: str, activity_id: str, check: Iterable[str]) -> dict[str, Any]:
    """Names of the project, its customer and the activity; `check` names those that must be
    active (the ones being set by this request)."""
    refs = uow.time_entries.references(project_id, activity_id)
    if "project_id" in check and refs["project_status"] != "active":
        raise Invalid("Related project does not exist or is not active")
    if "project_id" in check and _customer_status(uow, refs) != "active":
        raise Invalid("The project's customer is not active")
    if "activity_id" in check and refs["activity_status"] != "active":
        raise Invalid("Related activity does not exist or is not active")
    return refs


def _customer_status(uow: UnitOfWork, refs: Mapping[str, Any]) -> str | None:
    """The status of the project's customer: from the references when the engine joins it,
    else read."""
    if "customer_status" in refs:
        return refs["customer_status"]  # type: ignore[no-any-return]
    customer = uow.customers.get_many([refs["customer_id"]]).get(refs["customer_id"]) if refs["customer_id"] else None
    return customer["status"] if customer else None


def default_billable(refs: Mapping[str, Any]) -> bool:
    """An entry's default: its project's `billable`, else its customer's, else billable."""
    for level in ("project_billable", "customer_billable"):
        if refs.get(level) is not None:
            return bool(refs[level])
    return True


OVERRIDE = "Locked period override"


def _period(uow: UnitOfWork, identity: Identity, starts: Iterable[int], override: bool, now: int) -> str | None:
    """Refuse a write of entries starting before the tenant's lock (423), unless an admin
    overrides it explicitly: then answer the note the write's audit event carries."""
    starts = list(starts)
    if not starts:
        return None
    boundary, zone = lock_of(uow, now)
    if not any(is_locked(start, boundary) for start in starts):
        return None
    if not override:
        assert boundary is not None
        raise Locked(
            f"This time entry is in a locked period (up to {describe(boundary, zone)} included); "
            "only an admin can change it, with override_lock=true"
        )
    return OVERRIDE


def check_override(identity: Identity, override: bool) -> None:
    """`override_lock` is an admin's explicit flag: anyone else asking for it is refused."""
    if override:
        require_admin(identity)


def _note(description: str | None, override_note: str | None) -> str | None:
    if override_note is None:
        return description
    return f"{description} ({override_note})" if description else override_note


def _named(entry: Record, refs: Mapping[str, Any] | None, owner_email: str | None) -> Record:
    if refs is not None:
        entry.update({name: refs[name] for name in NAMES})
    entry.setdefault("owner_email", owner_email)
    return entry


def _check_slot(uow: UnitOfWork, owner: str, start: int, end: int | None, exclude: str | None = None) -> None:
    """One running entry per owner, no overlaps: call with the owner's lock held.

    An open-ended interval overlaps every running entry, so one query answers both rules.
    """
    clashes = uow.time_entries.overlapping(owner, start, end, exclude)
    if end is None and any(c["end_at"] is None for c in clashes):
        raise Conflict("You already have a running time entry; stop it first")
    if clashes:
        raise Unprocessable(OVERLAP)


def _owned(uow: UnitOfWork, identity: Identity, entry_id: str, if_match: IfMatch | None = None) -> Record:
    """The caller's entry, at a version `if_match` names (checked before any other rule)."""
    entry = uow.time_entries.get(entry_id)
    if entry["owner_id"] != identity.user_id:
        raise Forbidden(NOT_OWNER)
    if if_match is not None:
        if_match.check(entry["_etag"], "Time entry")
    return entry


def _version(entry: Record, if_match: IfMatch | None) -> str | None:
    """What the conditional write must still find: the version read, when the client asked."""
    return entry["_etag"] if if_match is not None else None


# ---------------------------------------------------------------- commands

T = TypeVar("T")


def _as_owner(store: Store, identity: Identity, decide: Callable[[UnitOfWork], T]) -> T:
    """Run `decide` in a writing unit of work holding the caller's owner lock. An engine that
    fences the decision instead of blocking (Cosmos) may find it was overtaken when it
    commits; then nothing was written and `decide` runs again on fresh data."""
    for attempt in decisions():
        with attempt, store.unit_of_work(identity, write=True) as uow:
            uow.time_entries.lock_owner(identity.user_id)
            return decide(uow)
    raise AssertionError("decisions() either returns or raises")  # pragma: no cover


def create(
    store: Store, identity: Identity, body: Mapping[str, Any], now: int, rules: Rules, override: bool = False
) -> Record:
    """Clock in (no end_date) or record a past interval."""
    check_override(identity, override)
    values = entry_fields(body, partial=False)
    values.setdefault("start_at", now)
    values.setdefault("end_at", None)
    _check_times(values["start_at"], values["end_at"], now, rules)

    def decide(uow: UnitOfWork) -> Record:
        refs = _references(uow, values["project_id"], values["activity_id"], ("project_id", "activity_id"))
        note = _period(uow, identity, [values["start_at"]], override, now)
        _check_slot(uow, identity.user_id, values["start_at"], values["end_at"])
        uow.users.remember(identity)
        fields = {"billable": default_billable(refs), **values, "owner_id": identity.user_id}
        return _named(uow.time_entries.add(fields, note), refs, identity.email)

    return _as_owner(store, identity, decide)


def update(
    store: Store,
    identity: Identity,
    entry_id: str,
    body: Mapping[str, Any],
    if_match: IfMatch | None,
    now: int,
    rules: Rules,
    override: bool = False,
) -> Record:
    """Edit an entry; with `update_last_entry_if_overlap`, shorten the entry it now overlaps."""
    check_override(identity, override)
    changes = entry_fields(body, partial=True)
    flag = body.get("update_last_entry_if_overlap", False)
    if not isinstance(flag, bool):
        raise Invalid("update_last_entry_if_overlap must be true or false")
    shorten_previous = flag

    def decide(uow: UnitOfWork) -> Record:
        entry = _owned(uow, identity, entry_id, if_match)
        start: int = changes["start_at"] if "start_at" in changes else entry["start_at"]
        end: int | None = changes["end_at"] if "end_at" in changes else entry["end_at"]
        if "start_at" in changes or "end_at" in changes:
            _check_times(start, end, now, rules)
        moved = [k for k in ("project_id", "activity_id") if k in changes and changes[k] != entry[k]]
        refs = None
        if moved:
            project_id: str = changes["project_id"] if "project_id" in changes else entry["project_id"]
            activity_id: str = changes["activity_id"] if "activity_id" in changes else entry["activity_id"]
            refs = _references(uow, project_id, activity_id, moved)
        note = _period(uow, identity, [entry["start_at"], start], override, now)
        values = dict(changes)
        if refs is not None and "project_id" in moved and "billable" not in values:
            values["billable"] = default_billable(refs)  # moved: as the new project says
        if shorten_previous and "start_at" in changes:
            _shorten_previous(uow, identity, entry_id, start, end, override, now)
        _check_slot(uow, identity.user_id, start, end, exclude=entry_id)
        uow.users.remember(identity)
        written = uow.time_entries.update(entry_id, values, _version(entry, if_match), note, current=entry)
        return _named(written, refs, identity.email)

    return _as_owner(store, identity, decide)


def _shorten_previous(
    uow: UnitOfWork,
    identity: Identity,
    entry_id: str,
    new_start: int,
    new_end: int | None,
    override: bool = False,
    now: int = 0,
) -> None:
    """End the owner's entry that is open across `new_start` at `new_start` (same transaction).
    Only a tail that the edited entry covers is cut: an entry that would lose time after the
    edited entry's end (or lose everything) stays, and the edit is refused as an overlap."""
    for other in uow.time_entries.overlapping(identity.user_id, new_start, new_start + 1, entry_id):
        if other["start_at"] >= new_start or other["end_at"] is None:
            raise Unprocessable(OVERLAP)
        if new_end is not None and other["end_at"] > new_end:
            raise Unprocessable(OVERLAP)
        note = _period(uow, identity, [other["start_at"]], override, now)
        uow.time_entries.update(other["id"], {"end_at": new_start}, None, note, current=other)


def stop(
    store: Store, identity: Identity, entry_id: str | None, if_match: IfMatch | None, now: int, override: bool = False
) -> Record:
    """Stop an entry (or, with no id, the caller's running entry) at `now`. A running timer
    that started before the lock may be stopped: its end falls after the lock, so the locked
    days keep their time (periods.py); a stopped locked entry is refused like any write."""
    check_override(identity, override)

    def decide(uow: UnitOfWork) -> Record:
        target = entry_id
        if target is None:
            running = uow.time_entries.running(identity.user_id)
            if running is None:
                raise NotFound("You have no running time entry")
            target = running["id"]
        entry = _owned(uow, identity, target, if_match)
        note = _period(uow, identity, [entry["start_at"]] if entry["end_at"] is not None else [], override, now)
        if entry["end_at"] is not None:
            raise Unprocessable("The specified time entry is already stopped")
        end = max(now, entry["start_at"] + 1)  # an entry stopped in the ms it started lasts 1 ms
        if end - entry["start_at"] > MAX_ENTRY_MS:
            raise Unprocessable(
                f"This entry has run for more than {MAX_ENTRY_HOURS} hours; set its end_date with PUT instead"
            )
        return uow.time_entries.update(
            target, {"end_at": end}, _version(entry, if_match), _note(STOP, note), current=entry
        )

    return _as_owner(store, identity, decide)


def restart(
    store: Store, identity: Identity, entry_id: str, if_match: IfMatch | None, now: int, override: bool = False
) -> Record:
    """Reopen a stopped entry: it runs again from its original start."""
    check_override(identity, override)

    def decide(uow: UnitOfWork) -> Record:
        entry = _owned(uow, identity, entry_id, if_match)
        note = _period(uow, identity, [entry["start_at"]], override, now)
        if entry["end_at"] is None:
            raise Unprocessable("The specified time entry is already running")
        if now - entry["start_at"] > MAX_ENTRY_MS:
            raise Unprocessable(f"An entry that started more than {MAX_ENTRY_HOURS} hours ago can not run again")
        # Time runs again on the project: it and its customer must be active, as on clock-in.
        _references(uow, entry["project_id"], entry["activity_id"], ("project_id",))
        _check_slot(uow, identity.user_id, entry["start_at"], None, exclude=entry_id)
        return uow.time_entries.update(
            entry_id, {"end_at": None}, _version(entry, if_match), _note(RESTART, note), current=entry
        )

    return _as_owner(store, identity, decide)


def delete(
    store: Store, identity: Identity, entry_id: str, if_match: IfMatch | None, now: int = 0, override: bool = False
) -> None:
    """Mark the entry deleted, under the owner's lock like every other change of it, so that a
    PUT racing the DELETE is decided in order and never answers 412 to a client that sent no
    If-Match."""

    check_override(identity, override)

    def decide(uow: UnitOfWork) -> None:
        entry = _owned(uow, identity, entry_id, if_match)
        note = _period(uow, identity, [entry["start_at"]], override, now)
        uow.time_entries.delete(entry_id, _version(entry, if_match), note)

    _as_owner(store, identity, decide)


# ---------------------------------------------------------------- queries


def get(store: Store, identity: Identity, entry_id: str) -> Record:
    with store.unit_of_work(identity) as uow:
        return _owned(uow, identity, entry_id)


def running(store: Store, identity: Identity) -> Record | None:
    with store.unit_of_work(identity) as uow:
        return uow.time_entries.running(identity.user_id)


def owners_for(identity: Identity, user_ids: Sequence[str]) -> tuple[str, ...] | None:
    """Whose entries: the caller's own, or (admins) `*` for everyone or a list of ids."""
    wanted = list(dict.fromkeys(u.strip() for raw in user_ids for u in raw.split(",") if u.strip()))
    if not wanted or wanted == [identity.user_id]:
        return (identity.user_id,)
    require_admin(identity)
    if "*" in wanted:
        return None
    return tuple(dict.fromkeys(wanted))


@dataclass(frozen=True)
class Filters:
    """The query-string filters of the list endpoints, parsed."""

    user_ids: tuple[str, ...] = ()
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


def _query(uow: UnitOfWork, identity: Identity, filters: Filters, zone: tzinfo, now: int) -> EntryQuery:
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


def list_entries(store: Store, identity: Identity, filters: Filters, zone: tzinfo, now: int) -> list[Record]:
    with store.unit_of_work(identity) as uow:
        query = _query(uow, identity, filters, zone, now)
        return uow.time_entries.list(query)


def list_changes(store: Store, identity: Identity, user_ids: Sequence[str], query: ChangeQuery) -> list[Record]:
    """A sync page (`updated_since`) of the entries of the caller, or (admins) of `user_ids`."""
    with store.unit_of_work(identity) as uow:
        return uow.time_entries.changes(replace(query, owners=owners_for(identity, user_ids)))


def paginated(
    store: Store, identity: Identity, filters: Filters, zone: tzinfo, now: int, continuation: str | None = None
) -> dict[str, Any]:
    """A page by offset (`start`), or by the token of the previous page (`continuation`)."""
    with store.unit_of_work(identity) as uow:
        query = _query(uow, identity, filters, zone, now)
        total = uow.time_entries.count(query)
        if continuation is not None or filters.offset == 0:
            size = filters.limit or MAX_LIST
            data, token = uow.time_entries.page(replace(query, limit=None, offset=0), size, continuation or None)
            return {"records_total": total, "data": data, "continuation": token}
        return {"records_total": total, "data": uow.time_entries.list(query), "continuation": None}


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


# ---------------------------------------------------------------- reports

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
) -> dict[str, Any]:
    """Entries of a date range priced and rounded by the tenant's rules, with totals per
    group (and per sub-group with `then_by`): every total is the sum of its entries' figures."""
    require_admin(identity)
    if group_by not in REPORT_GROUPS:
        raise Invalid(f"group_by must be one of {', '.join(REPORT_GROUPS)}", "group_by")
    if then_by is not None and (then_by not in REPORT_GROUPS or then_by == group_by):
        raise Invalid(f"then_by must be one of {', '.join(REPORT_GROUPS)}, other than group_by", "then_by")
    with store.unit_of_work(identity) as uow:
        query = _query(uow, identity, replace(filters, user_ids=filters.user_ids or ("*",)), zone, now)
        # 366 local days, whatever DST changes they hold.
        if query.end is not None and query.start is not None and query.end - query.start > 366 * 86_400_000 + 7_200_000:
            raise Invalid("A report covers at most 366 days")
        total = uow.time_entries.count(query)
        if total > MAX_LIST:
            raise Invalid(f"The report holds {total} entries, more than {MAX_LIST}; narrow the range or filters")
        entries = uow.time_entries.list(replace(query, limit=None, offset=0))
        money = read_money(uow)
        inherited = _inherited_billable(uow, entries)
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
