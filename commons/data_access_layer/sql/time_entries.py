"""Time entries on SQL: the window queries (on the `end_at` index) and the entries' names joined."""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Mapping
from dataclasses import replace
from operator import itemgetter
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import (
    Integer,
    and_,
    bindparam,
    exists,
    func,
    literal_column,
    select,
    union_all,
)

from commons.data_access_layer.events import DELETE, UPDATE
from commons.data_access_layer.repository import ChangeQuery, EntryQuery, OwnerLock, Record, bounds_after
from commons.data_access_layer.sql.base import (
    Guard,
    _as_records,
    _select_mappings,
    _select_raw,
    _select_records,
    _select_rows,
    _SqlRepository,
    _visible_clause,
    lock_column,
    lock_needed,
)
from commons.data_access_layer.sql.money import SqlMoney
from commons.data_access_layer.sql.tables import _INTERNAL, activity, app_user, customer, money, project, time_entry
from commons.domain import cursors
from commons.domain.clock import MAX_ENTRY_MS, MIN_INSTANT, OPEN_END
from commons.domain.errors import Invalid, NotFound, PreconditionFailed
from commons.domain.preconditions import stale

if TYPE_CHECKING:
    from commons.data_access_layer.sql.unit_of_work import SqlUnitOfWork


def _named_entries() -> tuple[Any, builtins.list[Any]]:
    """time_entry joined to the names clients show with it: the reads of one entry (by id, the
    running one, the latest per project). Lists name their page by distinct id instead
    (`_named_rows`)."""
    te = time_entry
    source = (
        te.outerjoin(project, and_(project.c.tenant_id == te.c.tenant_id, project.c.id == te.c.project_id))
        .outerjoin(customer, and_(customer.c.tenant_id == te.c.tenant_id, customer.c.id == project.c.customer_id))
        .outerjoin(activity, and_(activity.c.tenant_id == te.c.tenant_id, activity.c.id == te.c.activity_id))
        .outerjoin(app_user, and_(app_user.c.tenant_id == te.c.tenant_id, app_user.c.id == te.c.owner_id))
    )
    columns = [
        *(c for c in te.c if c.name not in _INTERNAL[1:]),
        project.c.name.label("project_name"),
        project.c.customer_id.label("customer_id"),
        customer.c.name.label("customer_name"),
        activity.c.name.label("activity_name"),
        app_user.c.email.label("owner_email"),
    ]
    return source, columns


_NAMED_SOURCE, _NAMED_COLUMNS = _named_entries()
_ENTRY_COLUMNS = [c for c in time_entry.c if c.name not in _INTERNAL[1:]]
_POSITION = {column.name: str(position) for position, column in enumerate(_ENTRY_COLUMNS, 1)}
_NAME_KEYS = [c.name for c in _NAMED_COLUMNS[len(_ENTRY_COLUMNS) :]]
_NO_PROJECT = (None, None, None)
_NO_NAME = (None,)


def _among(column: Any, name: str, dialect: str) -> Any:
    """`column` is one of the list bound as `name`, in a form the driver runs as it is (not
    SQLAlchemy's expanding IN, rendered per call): a JSON array on SQLite, an array on
    PostgreSQL."""
    if dialect == "postgresql":
        return column == func.any(bindparam(name))
    return column.in_(select(literal_column("value")).select_from(func.json_each(bindparam(name))))


def _id_list(ids: builtins.list[str], dialect: str) -> Any:
    """`ids` bound as `_among` reads them."""
    return ids if dialect == "postgresql" else orjson.dumps(ids).decode()


def _names_statement(dialect: str) -> Any:
    """The names of a page's distinct projects (with their customers), activities and owners:
    one statement, a lookup per distinct id (a join per row cost four lookups a row, half of
    a month list's SQL, TT-17). Deleted ones are named too, as before."""
    tenant: Any = bindparam("tenant")
    projects = (
        select(
            literal_column("'p'").label("kind"),
            project.c.id,
            project.c.name,
            project.c.customer_id.label("extra"),
            customer.c.name.label("extra_name"),
        )
        .select_from(
            project.outerjoin(customer, and_(customer.c.tenant_id == tenant, customer.c.id == project.c.customer_id))
        )
        .where(project.c.tenant_id == tenant, _among(project.c.id, "project_ids", dialect))
    )
    activities = select(
        literal_column("'a'"), activity.c.id, activity.c.name, literal_column("NULL"), literal_column("NULL")
    ).where(activity.c.tenant_id == tenant, _among(activity.c.id, "activity_ids", dialect))
    owners = select(
        literal_column("'u'"), app_user.c.id, app_user.c.email, literal_column("NULL"), literal_column("NULL")
    ).where(app_user.c.tenant_id == tenant, _among(app_user.c.id, "owner_ids", dialect))
    return union_all(projects, activities, owners)


def _query_shape(query: EntryQuery) -> tuple[Any, ...]:
    owners = None if query.owners is None else ("one" if len(query.owners) == 1 else "many")
    window = query.start is not None or query.end is not None
    return (owners, query.project_ids is not None, bool(query.activity_id), bool(query.uri), window)


def _query_params(query: EntryQuery, tenant: str) -> dict[str, Any]:
    params: dict[str, Any] = {"tenant": tenant}
    if query.owners is not None:
        params["owners" if len(query.owners) != 1 else "owner"] = (
            list(query.owners) if len(query.owners) != 1 else query.owners[0]
        )
    if query.project_ids is not None:
        params["projects"] = list(query.project_ids)
    if query.activity_id:
        params["activity"] = query.activity_id
    if query.uri:
        params["uri"] = query.uri
    if query.start is not None or query.end is not None:
        start = MIN_INSTANT if query.start is None else query.start
        end = OPEN_END if query.end is None else query.end
        params.update(start=start, end=end, end_limit=min(end, OPEN_END) + MAX_ENTRY_MS)
    return params


def _filters(shape: tuple[Any, ...]) -> builtins.list[Any]:
    """The WHERE clauses of a query shape but its window, with bound parameters (see `_query_params`)."""
    t = time_entry
    owners, projects, activity_filter, uri_filter, _window = shape
    clauses = _visible_clause(t, True)
    if owners == "one":
        clauses.append(t.c.owner_id == bindparam("owner"))
    elif owners == "many":
        clauses.append(t.c.owner_id.in_(bindparam("owners", expanding=True)))
    if projects:
        clauses.append(t.c.project_id.in_(bindparam("projects", expanding=True)))
    if activity_filter:
        clauses.append(t.c.activity_id == bindparam("activity"))
    if uri_filter:
        clauses.append(t.c.uri == bindparam("uri"))
    return clauses


def _window_branches() -> tuple[builtins.list[Any], builtins.list[Any]]:
    """Entries overlapping [start, end): stopped ones end inside the window or, since they
    last at most MAX_ENTRY_MS, at most that much after it: a bounded range of the end_at
    index, so the cost follows the window (for the current month exactly it), not the
    history. Running ones come from their own branch. Two selects in a UNION ALL (the
    branches never share a row) keep each branch on its index whatever the planner's
    statistics ("+ 0" keeps the start_at index out of the running branch)."""
    t = time_entry
    start: Any = bindparam("start")
    end: Any = bindparam("end")
    stopped = [t.c.end_at > start, t.c.end_at <= bindparam("end_limit"), t.c.start_at < end]
    running = [t.c.end_at.is_(None), t.c.start_at + 0 < end]
    return stopped, running


def _entry_where(shape: tuple[Any, ...]) -> builtins.list[Any]:
    """The WHERE clauses of a query shape: the window as `id IN (the two branches)`."""
    t = time_entry
    clauses = _filters(shape)
    if not shape[4]:
        return clauses
    stopped, running = _window_branches()
    ids = union_all(select(t.c.id).where(*clauses, *stopped), select(t.c.id).where(*clauses, *running))
    return [t.c.tenant_id == bindparam("tenant"), t.c.id.in_(ids)]


def _windowed(columns: builtins.list[Any], shape: tuple[Any, ...], *extra: Any, source: Any = time_entry) -> Any:
    """SELECT `columns` FROM `source` for a query shape: with a window, the UNION ALL of its
    two branches, each selecting the columns itself. Reading the rows in the branches, not
    their ids to look the rows up again (`_entry_where`), spared a lookup by key a row: a
    third of the SQL of a month's list on SQLite (TT-17)."""
    clauses = [*_filters(shape), *extra]
    if not shape[4]:
        return select(*columns).select_from(source).where(*clauses)
    stopped, running = _window_branches()
    return union_all(
        select(*columns).select_from(source).where(*clauses, *stopped),
        select(*columns).select_from(source).where(*clauses, *running),
    )


def _newest_first(records: builtins.list[Record]) -> builtins.list[Record]:
    """The list order (newest start first, then by id), sorted here when SQL need not: the
    database's sorter copies every column of every row (a fifth of a month list's SQL)."""
    records.sort(key=itemgetter("id"))
    records.sort(key=itemgetter("start_at"), reverse=True)  # stable: ties keep the id order
    return records


def _list_statement(shape: tuple[Any, ...], ordered: bool, limited: bool, offset: bool) -> Any:
    stmt = _windowed(_ENTRY_COLUMNS, shape)
    if ordered and shape[4]:  # a union: by the result's columns' positions (names do not match there on SQLite)
        stmt = stmt.order_by(literal_column(_POSITION["start_at"]).desc(), literal_column(_POSITION["id"]))
    elif ordered:
        stmt = stmt.order_by(time_entry.c.start_at.desc(), time_entry.c.id)
    if limited:
        stmt = stmt.limit(bindparam("limit", type_=Integer))
    if offset:
        stmt = stmt.offset(bindparam("offset", type_=Integer))
    return stmt


#: The shape of `overlapping`'s query: one owner's entries in a window.
_OVERLAP_SHAPE = _query_shape(EntryQuery(owners=("",), start=0, end=1))


def _no_overlap(exclude: bool = False) -> builtins.list[Any]:
    """The condition that `overlapping`'s query (its parameters, and with `exclude` its
    `exclude` id) finds no entry: neither of its two branches has a row. The subqueries are
    never correlated: inside an UPDATE of the table they still read the table itself."""
    clauses = _filters(_OVERLAP_SHAPE)
    if exclude:
        clauses.append(time_entry.c.id != bindparam("exclude"))
    stopped, running = _window_branches()
    return [~exists().where(*clauses, *branch).correlate(None) for branch in (stopped, running)]


def _reference_columns() -> builtins.list[Any]:
    """`references`' columns, of the `project` and `activity` parameters: one scalar
    subquery each (a missing item answers None, where a join would answer no row)."""
    tenant: Any = bindparam("tenant")
    p = project.alias("p")
    a = activity.alias("a")

    def of_project(column: Any) -> Any:
        return select(column).where(p.c.tenant_id == tenant, p.c.id == bindparam("project")).scalar_subquery()

    def of_activity(column: Any) -> Any:
        return select(column).where(a.c.tenant_id == tenant, a.c.id == bindparam("activity")).scalar_subquery()

    def of_customer(column: Any) -> Any:
        return (
            select(column)
            .where(customer.c.tenant_id == tenant, customer.c.id == of_project(p.c.customer_id))
            .scalar_subquery()
        )

    return [
        of_project(p.c.name).label("project_name"),
        of_project(p.c.status).label("project_status"),
        of_project(p.c.customer_id).label("customer_id"),
        of_project(p.c.billable).label("project_billable"),
        of_customer(customer.c.name).label("customer_name"),
        of_customer(customer.c.status).label("customer_status"),
        of_customer(customer.c.billable).label("customer_billable"),
        of_activity(a.c.name).label("activity_name"),
        of_activity(a.c.status).label("activity_status"),
    ]


_REFERENCE_KEYS = tuple(column.key for column in _reference_columns())


class SqlTimeEntries(_SqlRepository):
    """Time entries of one tenant. Rules live in the service; this makes them atomic.

    Reads answer entries joined with `project_name`, `customer_id`, `customer_name`,
    `activity_name` and `owner_email`.
    """

    label = "Time entry"
    container = "time_entry"

    def __init__(self, uow: SqlUnitOfWork) -> None:
        super().__init__(uow, time_entry)

    def lock_owner(self, owner_id: str, references: tuple[str, str] | None = None) -> OwnerLock:
        """The lock, the settings and the references in one statement. The reads need no lock,
        so the statement's snapshot (taken before PostgreSQL grants the lock) serves them; a
        SQLite writer holds the database's write lock already (`advisory_lock`)."""
        conn = self._uow.conn
        locks = lock_needed(conn, "time entries' owner")
        params: dict[str, Any] = {"tenant": self._tenant}
        if locks:
            params["lock_key"] = f"time_entry:{self._tenant}:{owner_id}"
        if references is not None:
            params["project"], params["activity"] = references

        def build() -> Any:
            columns = [
                select(money.c.settings)
                .where(money.c.tenant_id == bindparam("tenant"), money.c.id == SqlMoney.ID)
                .scalar_subquery()
                .label("settings")
            ]
            if locks:
                columns.append(lock_column().label("locked"))
            if references is not None:
                columns += _reference_columns()
            return select(*columns)

        (found,) = _select_mappings(conn, ("lock_owner", locks, references is not None), build, params)
        refs = {key: found[key] for key in _REFERENCE_KEYS} if references is not None else None
        settings = found["settings"]
        return OwnerLock(lambda: settings, refs)

    def _named(self, key: str, build_where: Any, params: dict[str, Any]) -> builtins.list[Record]:
        def build() -> Any:
            return select(*_NAMED_COLUMNS).select_from(_NAMED_SOURCE).where(*build_where())

        return _select_records(self._uow.conn, ("named", key), build, {"tenant": self._tenant, **params})

    def get(self, entry_id: str) -> Record:
        t = self._table
        found = self._named("by_id", lambda: [*_visible_clause(t, True), t.c.id == bindparam("id")], {"id": entry_id})
        if not found:
            raise NotFound("Time entry not found")
        return found[0]

    def running(self, owner_id: str) -> Record | None:
        t = self._table

        def where() -> builtins.list[Any]:
            return [*_visible_clause(t, True), t.c.owner_id == bindparam("owner"), t.c.end_at.is_(None)]

        found = self._named("running", where, {"owner": owner_id})
        return found[0] if found else None

    def overlapping(
        self, owner_id: str, start: int, end: int | None, exclude_id: str | None = None
    ) -> builtins.list[Record]:
        t = self._table
        params = self._overlap_params(owner_id, start, end, exclude_id or "")

        def build() -> Any:
            return _windowed([t], _OVERLAP_SHAPE, t.c.id != bindparam("exclude"))

        return _select_records(self._uow.conn, ("overlapping", _OVERLAP_SHAPE), build, params)

    def _overlap_params(self, owner_id: str, start: int, end: int | None, exclude_id: str | None) -> dict[str, Any]:
        """The parameters of `overlapping`'s query, and of the guards that check it in a write."""
        query = EntryQuery(owners=(owner_id,), start=start, end=OPEN_END if end is None else end)
        params = _query_params(query, self._tenant)
        if exclude_id is not None:
            params["exclude"] = exclude_id
        return params

    def list(self, query: EntryQuery) -> builtins.list[Record]:
        shape = _query_shape(query)
        params = _query_params(query, self._tenant)
        if not query.offset:
            # Most lists are whole (a month, under the cap): read unordered, one row past the
            # cap, and sorted here (`_newest_first`); only a list past its cap is read again,
            # in order, for the first `limit` rows.
            limited = query.limit is not None
            if limited:
                params["limit"] = query.limit + 1  # type: ignore[operator]
            found = self._named_rows(
                ("list", shape, "unordered", limited), lambda: _list_statement(shape, False, limited, False), params
            )
            if query.limit is None or len(found) <= query.limit:
                return _newest_first(found)
        paged = (query.limit is not None, bool(query.offset))
        if query.limit is not None:
            params["limit"] = query.limit
        if query.offset:
            params["offset"] = query.offset
        return self._named_rows(("list", shape, "ordered", paged), lambda: _list_statement(shape, True, *paged), params)

    def _named_rows(self, key: tuple[Any, ...], build: Any, params: dict[str, Any]) -> builtins.list[Record]:
        """The entries `build` selects, named by a second statement on their distinct ids."""
        conn = self._uow.conn
        columns, rows, processors = _select_raw(conn, key, build, params)
        if not rows:
            return []
        at = {name: columns.index(name) for name in ("project_id", "activity_id", "owner_id")}
        wanted = {name: sorted({row[index] for row in rows}) for name, index in at.items()}
        dialect = conn.dialect.name
        ids = {f"{name[:-3]}_ids": _id_list(values, dialect) for name, values in wanted.items()}
        named = _select_rows(
            conn, ("names", dialect), lambda: _names_statement(dialect), {"tenant": self._tenant, **ids}
        )
        projects = {row[1]: (row[2], row[3], row[4]) for row in named if row[0] == "p"}
        activities = {row[1]: (row[2],) for row in named if row[0] == "a"}
        owners = {row[1]: (row[2],) for row in named if row[0] == "u"}
        p, a, o = at["project_id"], at["activity_id"], at["owner_id"]
        complete = [
            (
                *row,
                *projects.get(row[p], _NO_PROJECT),
                *activities.get(row[a], _NO_NAME),
                *owners.get(row[o], _NO_NAME),
            )
            for row in rows
        ]
        return _as_records([*columns, *_NAME_KEYS], complete, True, processors)

    def page(self, query: EntryQuery, size: int, continuation: str | None) -> tuple[builtins.list[Record], str | None]:
        """One page of `size` entries and the token of the next (an offset, on SQL)."""
        offset = 0
        if continuation:
            offset = cursors.decode(continuation)
            if type(offset) is not int or not 0 <= offset <= 10_000_000:
                raise Invalid(cursors.NOT_OURS)
        found = self.list(replace(query, limit=size + 1, offset=offset))
        token = cursors.encode(offset + size) if len(found) > size else None
        return found[:size], token

    def spans(self, query: EntryQuery) -> builtins.list[tuple[int, int | None]]:
        t = self._table
        shape = _query_shape(query)
        rows = _select_rows(
            self._uow.conn,
            ("spans", shape),
            lambda: _windowed([t.c.start_at, t.c.end_at], shape),
            _query_params(query, self._tenant),
        )
        return [(row[0], row[1]) for row in rows]

    def count(self, query: EntryQuery) -> int:
        shape = _query_shape(query)
        rows = _select_rows(
            self._uow.conn,
            ("count", shape),
            lambda: select(func.count()).select_from(_windowed([time_entry.c.id], shape).subquery()),
            _query_params(query, self._tenant),
        )
        return int(rows[0][0])

    def changes(self, query: ChangeQuery) -> builtins.list[Record]:
        from commons.data_access_layer.sql.integrations import time_entry_changes

        return time_entry_changes(self, query)

    def latest_per_project(self, owner_id: str, start: int, end: int) -> builtins.list[Record]:
        t = self._table
        query = EntryQuery(owners=(owner_id,), start=start, end=end)
        shape = _query_shape(query)

        def where() -> builtins.list[Any]:
            rank = func.row_number().over(partition_by=t.c.project_id, order_by=(t.c.start_at.desc(), t.c.id))
            ranked = select(t.c.id, rank.label("rank")).where(*_entry_where(shape)).subquery()
            return [t.c.tenant_id == bindparam("tenant"), t.c.id.in_(select(ranked.c.id).where(ranked.c.rank == 1))]

        found = self._named("latest", where, _query_params(query, self._tenant))
        return _newest_first(found)

    def totals(self, query: EntryQuery, by: str, now: int) -> dict[str | None, int]:
        t = self._table
        start = MIN_INSTANT if query.start is None else query.start
        end = now if query.end is None else min(query.end, now)
        least, greatest = (
            (func.least, func.greatest) if self._uow.conn.dialect.name == "postgresql" else (func.min, func.max)
        )
        clipped = least(func.coalesce(t.c.end_at, now), end) - greatest(t.c.start_at, start)
        if by == "customer_id":
            key = project.c.customer_id
            source = t.join(project, and_(project.c.tenant_id == t.c.tenant_id, project.c.id == t.c.project_id))
        else:
            key, source = t.c[by], t  # type: ignore[assignment]
        stmt = (
            select(key.label("key"), func.sum(greatest(clipped, 0)).label("ms"))
            .select_from(source)
            .where(*_entry_where(_query_shape(query)))
            .group_by(key)
        )
        rows = self._uow.conn.execute(stmt, _query_params(query, self._tenant))
        return {row.key: int(row.ms or 0) for row in rows}

    def references(self, project_id: str, activity_id: str) -> dict[str, Any]:
        params = {"tenant": self._tenant, "project": project_id, "activity": activity_id}
        (found,) = _select_mappings(self._uow.conn, ("references",), lambda: select(*_reference_columns()), params)
        return found

    def add(self, fields: Mapping[str, Any], description: str | None = None) -> Record:
        values = dict(fields)
        values.setdefault("technologies", [])
        return self._insert(values, description)

    def add_unless_overlapping(self, fields: Mapping[str, Any], description: str | None = None) -> Record | None:
        values = dict(fields)
        values.setdefault("technologies", [])
        params = self._overlap_params(values["owner_id"], values["start_at"], values["end_at"], None)
        return self._insert_unless(values, description, None, Guard(("no_overlap",), _no_overlap, params))

    def update(
        self,
        entry_id: str,
        changes: Mapping[str, Any],
        if_match: str | None = None,
        description: str | None = None,
        current: Record | None = None,
    ) -> Record:
        return self._write(entry_id, changes, if_match, UPDATE, description, current)

    def update_unless_overlapping(
        self,
        entry_id: str,
        changes: Mapping[str, Any],
        current: Record,
        if_match: str | None = None,
        description: str | None = None,
    ) -> Record | None:
        owner = current["owner_id"]
        start, end = bounds_after(current, changes)
        params = self._overlap_params(owner, start, end, entry_id)
        guard = Guard(("no_overlap", "exclude"), lambda: _no_overlap(exclude=True), params)
        written = self._write_unless(entry_id, changes, if_match, UPDATE, description, current, guard)
        if written is not None:
            return written
        # Nothing written: a clash, or a version that moved on (the one read before this unit
        # held the owner's lock). Only this failure pays for the read that tells them apart.
        if self.overlapping(owner, start, end, entry_id):
            return None
        raise PreconditionFailed(stale(self.label))

    def delete(self, entry_id: str, if_match: str | None = None, description: str | None = None) -> None:
        self._write(entry_id, {"deleted": str(uuid.uuid4())}, if_match, DELETE, description)
