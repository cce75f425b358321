"""One SQL transaction with the repositories of the contract."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import cached_property
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Table,
    bindparam,
    literal_column,
    select,
)
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from commons.data_access_layer.callers import KnownCallers
from commons.data_access_layer.events import Actor
from commons.data_access_layer.repository import (
    ACTIVITIES,
    CUSTOMERS,
    PROJECT_TYPES,
    PROJECTS,
    TECHNOLOGIES,
    CatalogueSpec,
)
from commons.data_access_layer.sql.audit import SqlEvents
from commons.data_access_layer.sql.base import Guard, _execute, at_version, guarded_insert
from commons.data_access_layer.sql.catalogue import SqlCatalogue
from commons.data_access_layer.sql.engine import _is_unique_violation
from commons.data_access_layer.sql.money import SqlMoney
from commons.data_access_layer.sql.tables import change_log
from commons.data_access_layer.sql.time_entries import SqlTimeEntries
from commons.data_access_layer.sql.users import SqlUsers
from commons.domain.clock import now_ms
from commons.domain.errors import Conflict

if TYPE_CHECKING:
    from commons.data_access_layer.sql.integrations import SqlAccessTokens


#: The unit's attribute of each catalogue's container.
_ATTRIBUTES = {
    CUSTOMERS.container: "customers",
    PROJECT_TYPES.container: "project_types",
    PROJECTS.container: "projects",
    ACTIVITIES.container: "activities",
    TECHNOLOGIES.container: "technologies",
}


_LOGGED = ("tenant_id", "container_id", "item_id", "document", "created_at")


def _logged_from(written: Any) -> Any:
    """PostgreSQL: the outbox INSERT of the `log_*` parameters, one row per row `written` (a
    data-modifying CTE) answers, with the writing transaction's id (see SqlChangeFeed)."""
    # Typed (psycopg's dialect casts each parameter): in a SELECT list, no column gives one.
    rows = select(
        *(bindparam(f"log_{k}", type_=change_log.c[k].type) for k in _LOGGED),
        literal_column("pg_current_xact_id()::text::bigint"),
    ).select_from(written)
    # The count of an INSERT is kept by SQLAlchemy's path only when asked for.
    return change_log.insert().from_select([*_LOGGED, "txid"], rows).execution_options(preserve_rowcount=True)


class SqlUnitOfWork:
    """The repositories of one actor over one connection and transaction."""

    def __init__(self, conn: Connection, actor: Actor, remembered: KnownCallers) -> None:
        self.conn = conn
        self.actor = actor
        #: Callers whose e-mail this process already stored (shared by the store's units).
        self.remembered = remembered
        #: Callers this unit stored: remembered by the store only when the unit commits (a
        #: unit rolled back stored nothing, and the next one must store them again).
        self.learned: list[Actor] = []
        self._access_tokens: SqlAccessTokens | None = None

    # Made on first use: most units touch one or two repositories of the eleven (TT-17).
    @cached_property
    def customers(self) -> SqlCatalogue:
        return SqlCatalogue(self, CUSTOMERS)

    @cached_property
    def project_types(self) -> SqlCatalogue:
        return SqlCatalogue(self, PROJECT_TYPES)

    @cached_property
    def projects(self) -> SqlCatalogue:
        return SqlCatalogue(self, PROJECTS)

    @cached_property
    def activities(self) -> SqlCatalogue:
        return SqlCatalogue(self, ACTIVITIES)

    @cached_property
    def technologies(self) -> SqlCatalogue:
        return SqlCatalogue(self, TECHNOLOGIES)

    @cached_property
    def time_entries(self) -> SqlTimeEntries:
        return SqlTimeEntries(self)

    @cached_property
    def users(self) -> SqlUsers:
        return SqlUsers(self)

    @cached_property
    def events(self) -> SqlEvents:
        return SqlEvents(self)

    @cached_property
    def money(self) -> SqlMoney:
        return SqlMoney(self)

    def catalogue(self, spec: CatalogueSpec) -> SqlCatalogue:
        catalogue: SqlCatalogue = getattr(self, _ATTRIBUTES[spec.container])
        return catalogue

    @property
    def access_tokens(self) -> SqlAccessTokens:
        """Personal access tokens (integrations.py), made on first use: most units never
        touch them."""
        if self._access_tokens is None:
            from commons.data_access_layer.sql.integrations import SqlAccessTokens

            self._access_tokens = SqlAccessTokens(self)
        return self._access_tokens

    @staticmethod
    def _change(container: str, row: Mapping[str, Any]) -> dict[str, Any]:
        """The outbox row of a write: the document as a change feed delivers it."""
        document = {
            k: v
            for k, v in row.items()
            if k not in ("etag", "_etag", "created_at", "updated_at", "last_event_ctx", "name_key")
        }
        document["_last_event_ctx"] = row["last_event_ctx"]
        document["_etag"] = row.get("etag") or row.get("_etag")
        return {
            "tenant_id": row["tenant_id"],
            "container_id": container,
            "item_id": row["id"],
            "document": document,
            "created_at": now_ms(),
        }

    def insert_logged(
        self, table: Table, container: str, values: Mapping[str, Any], unless: Guard | None = None
    ) -> tuple[tuple[Any, ...], Callable[[], Any], dict[str, Any]]:
        """PostgreSQL: INSERT the row in a data-modifying CTE and its outbox row from it: one
        round trip for two. With `unless`, the row is inserted only when none of the guard's
        rows exists (and then nothing is logged either): the count of rows says which."""
        keys = tuple(sorted(values))

        def build() -> Any:
            if unless is None:
                inserted = table.insert().values({k: bindparam(f"v_{k}", type_=table.c[k].type) for k in keys})
            else:
                inserted = guarded_insert(table, keys, unless)
            return _logged_from(inserted.returning(table.c.id).cte("written"))

        params = {f"v_{k}": values[k] for k in keys}
        params.update({f"log_{k}": v for k, v in self._change(container, values).items()})
        guard_key: tuple[Any, ...] = ()
        if unless is not None:
            params.update(unless.params)
            guard_key = ("unless", unless.key)
        return ("insert_logged", table.name, keys, *guard_key), build, params

    def log_change(self, container: str, row: Mapping[str, Any]) -> None:
        """The written document into the outbox (on PostgreSQL with the writing transaction's
        id, which orders the feed: see SqlChangeFeed)."""
        if self.conn.dialect.name == "postgresql":
            _execute(
                self.conn,
                ("insert", "change_log", "txid"),
                lambda: change_log.insert().values(txid=literal_column("pg_current_xact_id()::text::bigint")),
                self._change(container, row),
            )
        else:
            _execute(self.conn, ("insert", "change_log"), change_log.insert, self._change(container, row))

    def update_logged(
        self,
        table: Table,
        container: str,
        values: Mapping[str, Any],
        written: Mapping[str, Any],
        unless: Guard | None = None,
    ) -> tuple[tuple[Any, ...], Callable[[], Any], dict[str, Any]]:
        """PostgreSQL: UPDATE the row at the version read (the `w_tenant`, `w_id` and `w_etag`
        parameters; with `unless`, only where the guard holds, whose parameters the caller
        binds) in a data-modifying CTE, and INSERT the outbox row of `written` from what it
        updated: one round trip for two, and the count of rows is the update's (0 when the
        version moved on or the guard failed, and then nothing is logged either)."""
        keys = tuple(sorted(values))

        def build() -> Any:
            t = table
            values_ = {k: bindparam(f"v_{k}", type_=t.c[k].type) for k in keys}
            where = [*at_version(t), *(unless.build() if unless is not None else ())]
            return _logged_from(t.update().where(*where).values(values_).returning(t.c.id).cte("written"))

        params = {f"v_{k}": values[k] for k in keys}
        params.update({f"log_{k}": v for k, v in self._change(container, written).items()})
        guard_key: tuple[Any, ...] = () if unless is None else ("unless", unless.key)
        return ("update_logged", table.name, keys, *guard_key), build, params

    def execute_write(
        self, key: tuple[Any, ...], build: Callable[[], Any], label: str, params: Mapping[str, Any]
    ) -> int:
        """Run a write (`build` makes it, cached under `key`): the count of rows it changed. A
        unique violation is the contract's Conflict."""
        # No savepoint: a rejected row aborts the whole unit of work, which is what we want.
        try:
            return _execute(self.conn, key, build, params)
        except IntegrityError as exc:
            if not _is_unique_violation(exc):
                raise
            if label == SqlTimeEntries.label:
                raise Conflict("You already have a running time entry; stop it first") from None
            raise Conflict(f"{label} with that name already exists") from None
