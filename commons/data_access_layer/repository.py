"""The repository contract: one set of domain-shaped operations, an implementation per engine.

A `Store` opens a unit of work for one actor (a user of one tenant). Everything inside it is
confined to that tenant: an id of another tenant is simply not found. Records are plain dicts
with the entity's fields plus `id`, `tenant_id`, `deleted`, and `_etag` (the version that
`If-Match` is compared with). The `_etag` of a record a write answers is final once its unit of
work has committed (engines that write a unit as one batch learn it then).
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_random_exponential

from commons.data_access_layer.events import Actor
from commons.data_access_layer.idempotency import IdempotencyKeys

if TYPE_CHECKING:  # webhooks.py builds on this module's Record
    from commons.data_access_layer.webhooks import Webhooks
from commons.domain.errors import (  # noqa: F401  (re-exported: the errors of the contract)
    Conflict,
    Contended,
    DomainError,
    Invalid,
    NotFound,
    PreconditionFailed,
    Unavailable,
)

Record = dict[str, Any]


class _FirstAttempt:
    """The first attempt of `decisions`: a unit that lost the race is kept, not raised."""

    lost: Contended | None = None

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, _tb: Any) -> bool:
        if isinstance(exc, Contended):
            self.lost = exc
            return True
        return False


def decisions(attempts: int = 8) -> Iterator[AbstractContextManager[Any]]:
    """Attempts at a unit of work whose decision an engine fences (Cosmos: the owner lease):
    `for attempt in decisions(): with attempt, store.unit_of_work(...) as uow: ...`. A unit
    that lost the race wrote nothing and raised `Contended`; the next attempt reads again.

    The first attempt is a bare context manager: almost every write wins at once, and building
    tenacity's `Retrying` cost 7 % of a clock-in under load (TT-17). Only a unit that lost
    goes on to the `Retrying`: its first attempt at once (the fence said another writer just
    committed: read again now), the rest after random exponential waits."""
    first = _FirstAttempt()
    yield first
    if first.lost is None:
        return
    if attempts <= 1:
        raise first.lost
    yield from Retrying(
        retry=retry_if_exception_type(Contended),
        stop=stop_after_attempt(attempts - 1),
        wait=wait_random_exponential(multiplier=0.005, max=0.2),
        reraise=True,
    )


@dataclass(frozen=True)
class CatalogueSpec:
    """What distinguishes one catalogue container from another."""

    container: str
    label: str
    #: Fields a client may write (everything else is server-owned).
    fields: tuple[str, ...]
    #: `deactivate`: status becomes "inactive", the item stays readable (kind A).
    #: `mark`: `deleted` gets a marker and the item disappears (kind B).
    soft_delete: Literal["deactivate", "mark"]
    #: Equality filters accepted by `list`.
    filters: tuple[str, ...] = ()
    #: The name is unique among live items with the same value of these fields.
    unique_scope: tuple[str, ...] = ()


CUSTOMERS = CatalogueSpec(
    "customer", "Customer", ("name", "description", "status", "billable"), "deactivate", ("status",)
)
PROJECT_TYPES = CatalogueSpec(
    "project_type",
    "Project type",
    ("name", "description", "customer_id", "parent_id"),
    "mark",
    ("customer_id", "parent_id"),
    ("customer_id",),
)
PROJECTS = CatalogueSpec(
    "project",
    "Project",
    ("name", "description", "customer_id", "project_type_id", "technologies", "status", "billable"),
    "deactivate",
    ("customer_id", "project_type_id", "status"),
    ("customer_id",),
)
ACTIVITIES = CatalogueSpec("activity", "Activity", ("name", "description", "status"), "deactivate", ("status",))
TECHNOLOGIES = CatalogueSpec("technology", "Technology", ("name", "first_use_time_entry_id", "creation_date"), "mark")
CATALOGUES = (CUSTOMERS, PROJECT_TYPES, PROJECTS, ACTIVITIES, TECHNOLOGIES)


@dataclass(frozen=True)
class ChangeQuery:
    """A page of a sync list (`updated_since`): items changed after `after` (a position
    `(updated_at, id)`, exclusive) and at or before `until` (epoch ms), in change order
    (`updated_at`, then `id`), at most `limit`. Soft-deleted items come as tombstones with
    `include_deleted`. Records carry `updated_at` (epoch ms)."""

    after: tuple[int, str]
    until: int
    limit: int
    include_deleted: bool = False
    #: Time entries only: whose (None: every owner).
    owners: tuple[str, ...] | None = None


class Catalogue(Protocol):
    """Customers, project types, projects, activities, technologies of one tenant."""

    @property
    def spec(self) -> CatalogueSpec: ...

    def lock(self) -> None:
        """Serialise, until the unit of work ends, the tenant's writes of this catalogue that
        rest on its other items (re-parenting a project type must not race another)."""

    def get(self, item_id: str) -> Record:
        """The live item (inactive ones included); NotFound when missing or deleted."""

    def get_many(self, ids: Collection[str]) -> dict[str, Record]:
        """Live items by id, in one round trip; missing ids are absent from the result."""

    def list(self, filters: Mapping[str, Any] | None = None) -> builtins.list[Record]:
        """Live items matching equality filters, ordered by name."""

    def add(self, fields: Mapping[str, Any]) -> Record:
        """Insert a new item; Conflict on a duplicate live name."""

    def changes(self, query: ChangeQuery) -> builtins.list[Record]:
        """A page of a sync list (see ChangeQuery); inactive items are not tombstones."""

    def update(self, item_id: str, changes: Mapping[str, Any], if_match: str | None = None) -> Record:
        """Apply `changes` atomically; PreconditionFailed when `if_match` is stale."""

    def delete(self, item_id: str, if_match: str | None = None) -> None:
        """Soft delete: deactivate or mark, as the spec says."""


@dataclass(frozen=True)
class EntryQuery:
    """Which time entries of the tenant: all filters are optional and combined with AND.

    `owners=None` means every owner. The window keeps entries that overlap [start, end)
    (a running entry extends to forever).
    """

    owners: tuple[str, ...] | None = None
    start: int | None = None
    end: int | None = None
    project_ids: tuple[str, ...] | None = None
    activity_id: str | None = None
    uri: str | None = None
    limit: int | None = None
    offset: int = 0


GROUPS = ("project", "activity", "customer", "owner", "day")


@dataclass(frozen=True)
class OwnerLock:
    """What `TimeEntries.lock_owner` reads along with the lock: what an entry write needs
    besides the owner's entries."""

    #: Answers the tenant's stored money settings (`Money.get()["settings"]`: its locked
    #: period), None while it has none: at once where the lock's statement read them, else
    #: read on first use (a stop of a running entry never asks).
    read_settings: Callable[[], Mapping[str, Any] | None]
    #: `TimeEntries.references(...)` when asked for, else None.
    references: dict[str, Any] | None = None

    @property
    def settings(self) -> Mapping[str, Any] | None:
        # Not functools.cached_property: up to Python 3.11 it computes under one lock shared
        # by every instance, so on Cosmos (a point read here) each thread's entry write
        # queued behind every other's read. A lock's answer is only read by its own request.
        try:
            return self.__dict__["_settings"]  # type: ignore[no-any-return]
        except KeyError:
            settings = self.__dict__["_settings"] = self.read_settings()
            return settings


def add_after_reading(entries: TimeEntries, fields: Mapping[str, Any], description: str | None) -> Record | None:
    """`add_unless_overlapping` as a read then a write, for the engines without a statement
    that does both."""
    if entries.overlapping(fields["owner_id"], fields["start_at"], fields["end_at"]):
        return None
    return entries.add(fields, description)


def bounds_after(current: Mapping[str, Any], changes: Mapping[str, Any]) -> tuple[int, int | None]:
    """An entry's (start_at, end_at) once `changes` apply to `current`."""
    start: int = changes["start_at"] if "start_at" in changes else current["start_at"]
    end: int | None = changes["end_at"] if "end_at" in changes else current["end_at"]
    return start, end


def update_after_reading(
    entries: TimeEntries,
    entry_id: str,
    changes: Mapping[str, Any],
    current: Record,
    if_match: str | None,
    description: str | None,
) -> Record | None:
    """`update_unless_overlapping` as a read then a write, for the engines without a statement
    that does both."""
    start, end = bounds_after(current, changes)
    if entries.overlapping(current["owner_id"], start, end, entry_id):
        return None
    return entries.update(entry_id, changes, if_match, description, current)


def owner_lock_read(uow: UnitOfWork, references: tuple[str, str] | None) -> OwnerLock:
    """`lock_owner`'s answer through the contract's own reads, for the engines that have no
    statement of the lock's to read it in."""

    def read_settings() -> Mapping[str, Any] | None:
        found = uow.money.get()
        return found["settings"] if found is not None else None

    return OwnerLock(read_settings, uow.time_entries.references(*references) if references is not None else None)


class TimeEntries(Protocol):
    """Time entries of one tenant. Times are epoch milliseconds (`start_at`, `end_at`)."""

    def lock_owner(self, owner_id: str, references: tuple[str, str] | None = None) -> OwnerLock:
        """Serialise rule checks for one owner until the unit of work ends, and answer the
        tenant's settings and, for `references` (project_id, activity_id), `references(...)`.
        Neither needs the lock, so SQL reads them in the lock's own statement: one round trip
        for three on a clock-in (TT-17)."""

    def get(self, entry_id: str) -> Record:
        """The live entry with its names; NotFound when missing or deleted."""

    def running(self, owner_id: str) -> Record | None:
        """The owner's running entry, if any."""

    def overlapping(
        self, owner_id: str, start: int, end: int | None, exclude_id: str | None = None
    ) -> builtins.list[Record]:
        """The owner's live entries that overlap [start, end) (None: open-ended)."""

    def list(self, query: EntryQuery) -> builtins.list[Record]:
        """Entries matching `query`, newest start first."""

    def spans(self, query: EntryQuery) -> builtins.list[tuple[int, int | None]]:
        """(start_at, end_at) of the entries matching `query`, unordered, without names: what
        a summary needs (limit and offset ignored)."""

    def count(self, query: EntryQuery) -> int:
        """How many entries match `query` (limit and offset ignored)."""

    def page(self, query: EntryQuery, size: int, continuation: str | None) -> tuple[builtins.list[Record], str | None]:
        """A page of `size` entries after the opaque `continuation`, and the next token (None
        at the end). Cosmos pages with its own tokens: no OFFSET, whose cost grows with it."""

    def changes(self, query: ChangeQuery) -> builtins.list[Record]:
        """A page of a sync list (see ChangeQuery), with the joined names."""

    def latest_per_project(self, owner_id: str, start: int, end: int) -> builtins.list[Record]:
        """The owner's most recent entry of each project within [start, end), newest first."""

    def totals(self, query: EntryQuery, by: str, now: int) -> dict[str | None, int]:
        """Milliseconds per `project_id`, `activity_id` or `owner_id`, clipped to the window."""

    def references(self, project_id: str, activity_id: str) -> dict[str, Any]:
        """In one round trip: `project_name`, `project_status`, `project_billable`,
        `customer_id`, `customer_name`, `customer_billable`, `activity_name`, `activity_status`
        (None where the item does not exist)."""

    def add(self, fields: Mapping[str, Any], description: str | None = None) -> Record:
        """Insert an entry (answered without the joined names). `description` goes into the
        write's event. At most one running entry per owner: SQL refuses a second with Conflict
        (a unique index); Cosmos has no constraint below the service, which keeps the rule under
        `lock_owner` (every writer of entries takes it and checks `running` first)."""

    def add_unless_overlapping(self, fields: Mapping[str, Any], description: str | None = None) -> Record | None:
        """`add`, unless the owner has a live entry overlapping [start_at, end_at) (no end:
        from start_at on, so any running entry): then nothing is written and the answer is
        None. Call it holding the owner's lock. SQL checks in the INSERT itself (a clock-in's
        overlap read and insert in one statement, TT-17)."""

    def update(
        self,
        entry_id: str,
        changes: Mapping[str, Any],
        if_match: str | None = None,
        description: str | None = None,
        current: Record | None = None,
    ) -> Record:
        """Apply `changes` to the version `current` (read in this unit of work; else read
        here) and answer the merged record; PreconditionFailed when `if_match` is stale or
        the entry changed since `current` was read."""

    def update_unless_overlapping(
        self,
        entry_id: str,
        changes: Mapping[str, Any],
        current: Record,
        if_match: str | None = None,
        description: str | None = None,
    ) -> Record | None:
        """`update` of the version `current`, unless the entry as changed would overlap
        another of the owner's live entries ([start_at, end_at) after the changes; no end:
        from start_at on, so any other running entry): then nothing is written and the
        answer is None. PreconditionFailed as `update`. Call it holding the owner's lock. SQL
        checks in the UPDATE itself, and reads the overlaps only when it wrote nothing, to
        tell a clash from a version that moved on (an edit's overlap read and update in one
        statement, TT-17)."""

    def delete(self, entry_id: str, if_match: str | None = None, description: str | None = None) -> None:
        """Mark the entry deleted (`description` goes into the write's event)."""


class Money(Protocol):
    """The tenant's money settings (currency, rounding, rates, locked periods): one record,
    `{"id": "settings", "settings": {...}, "_etag": ...}`, written whole and conditionally."""

    def get(self) -> Record | None:
        """The settings record, None while the tenant has none."""

    def put(self, settings: Mapping[str, Any], if_match: str | None, description: str | None = None) -> Record:
        """Create (`if_match` None) or replace the settings at version `if_match`, the one this
        unit read. Contended when another writer got there first (a second creator, or a newer
        version): the caller decides again on fresh data (`decisions`)."""


class Users(Protocol):
    """What the store remembers of the people who called the API (e-mail for joins)."""

    def remember(self, actor: Actor) -> None:
        """Record the e-mail and name the actor presented."""

    def emails(self, user_ids: Collection[str]) -> dict[str, str]:
        """E-mail by user id, in one round trip."""

    def get(self, user_id: str) -> Record:
        """`{id, tenant_id, email, name, roles, groups}`; NotFound when never seen."""

    def list(self) -> builtins.list[Record]:
        """Every user of the tenant, by name."""

    def change(
        self,
        user_id: str,
        mutate: Callable[[builtins.list[str], builtins.list[str]], tuple[builtins.list[str], builtins.list[str]]],
        create: bool = False,
    ) -> Record:
        """Atomically replace the user's (roles, groups) by `mutate(roles, groups)`; with
        `create`, a user never seen is recorded first."""


@dataclass(frozen=True)
class EventQuery:
    """Filters of the audit log of one tenant (all optional), newest first."""

    item_id: str | None = None
    container_id: str | None = None
    user_id: str | None = None
    action: str | None = None
    start: int | None = None
    end: int | None = None
    limit: int = 50
    continuation: str | None = None


class Events(Protocol):
    """The audit log of one tenant."""

    def list(self, query: EventQuery) -> tuple[builtins.list[Record], str | None]:
        """A page of events and the token of the next page (None at the end)."""


class ChangeFeed(Protocol):
    """Changed documents in write order, from a named checkpoint (at-least-once)."""

    def read(self, limit: int) -> tuple[builtins.list[tuple[str, dict[str, Any]]], Any]:
        """Up to `limit` (container, document) pairs after the checkpoint, and their end."""

    def commit(self, position: Any) -> None:
        """Move the checkpoint to `position` (what `read` answered)."""


class AccessTokens(Protocol):
    """Personal access tokens of one tenant (digests only: the secret is never stored).

    Records: `id`, `tenant_id`, `owner_id`, `owner_email`, `name`, `digest`, `hint`,
    `read_only`, `expires_at`, `created_at`, `last_used_at`, `revoked_at` (instants in epoch
    milliseconds, None when unset), `_etag`."""

    def add(self, token_id: str, fields: Mapping[str, Any]) -> Record:
        """Store a new token under `token_id`."""

    def get(self, token_id: str) -> Record:
        """The token, revoked or not; NotFound when there is none."""

    def list(self, owner_id: str | None = None) -> builtins.list[Record]:
        """The tenant's tokens (one owner's with `owner_id`), newest first."""

    def revoke(self, token_id: str, now: int) -> Record:
        """Mark the token revoked (a soft delete; a revoked token stays listed)."""

    def touch(self, token: Record, now: int) -> None:
        """Record a use at `now` (bookkeeping: no event; a lost race is fine). SQL keeps the
        version; on Cosmos every write makes a new `_etag`, so nothing may compare a token's
        version across a use (nothing does: tokens take no If-Match)."""


class UnitOfWork(Protocol):
    """The repositories of one actor, sharing one transaction where the engine has them.

    Read-only properties, so that an engine's own repository types satisfy them (a plain
    attribute of a Protocol is invariant)."""

    @property
    def actor(self) -> Actor: ...

    @property
    def customers(self) -> Catalogue: ...

    @property
    def project_types(self) -> Catalogue: ...

    @property
    def projects(self) -> Catalogue: ...

    @property
    def activities(self) -> Catalogue: ...

    @property
    def technologies(self) -> Catalogue: ...

    @property
    def time_entries(self) -> TimeEntries: ...

    @property
    def users(self) -> Users: ...

    @property
    def events(self) -> Events: ...

    @property
    def access_tokens(self) -> AccessTokens: ...

    @property
    def money(self) -> Money: ...

    def catalogue(self, spec: CatalogueSpec) -> Catalogue: ...


class Store(Protocol):
    """One per process: owns the engine's client or connection pool."""

    @property
    def engine_name(self) -> str:
        """`sqlite`, `postgresql`, `cosmos`, ..."""

    @property
    def idempotency(self) -> IdempotencyKeys: ...

    @property
    def webhooks(self) -> Webhooks:
        """Endpoints and deliveries of every tenant (webhooks.py)."""

    def unit_of_work(self, actor: Actor, *, write: bool = False) -> AbstractContextManager[UnitOfWork]:
        """Open a unit of work; `write=True` when it will write (lets SQLite lock early)."""

    def create_containers(self, names: Iterable[str]) -> builtins.list[str]:
        """Create the named tables/containers that do not exist yet; return those created."""

    def ping(self) -> None:
        """Raise Unavailable when the store cannot be reached."""

    def change_feed(self, name: str) -> ChangeFeed:
        """The changes after the checkpoint called `name`."""

    def record_events(self, events: Iterable[Mapping[str, Any]]) -> int:
        """Store audit events; an event whose id is stored already is skipped (idempotent).
        Answers how many were new."""

    def dispose(self) -> None:
        """Release connections (tests, shutdown)."""

    def migration_records(self) -> builtins.list[tuple[str, str]]:
        """(name, code) of the applied migration steps, by name (migrate-anything's storage)."""

    def save_migration_record(self, name: str, code: str) -> None:
        """Record an applied migration step."""

    def remove_migration_record(self, name: str) -> None:
        """Forget a migration step (migrate-anything asks; steps are up only)."""
