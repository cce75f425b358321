"""The rules of writing time entries: clock in/out, edits, stop, restart, delete; overlaps and
locked periods (reads are in `queries`, the report in `reports`).

Every rule that involves other entries of the same owner runs inside one writing unit of work
that holds the owner's lock (`lock_owner`), so two requests at once cannot both pass a check
that only one of them may pass. `now` is an argument everywhere (epoch milliseconds).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from commons.data_access_layer.events import Actor
from commons.data_access_layer.repository import OwnerLock, Record, Store, UnitOfWork, bounds_after, decisions
from commons.domain.clock import MAX_ENTRY_HOURS, MAX_ENTRY_MS
from commons.domain.errors import Conflict, Forbidden, Invalid, Locked, NotFound, Unprocessable
from commons.domain.identity import require_admin
from commons.domain.periods import describe, is_locked
from commons.domain.preconditions import IfMatch
from time_tracker_api.money.service import lock_of
from time_tracker_api.time_entries.inputs import EntryChanges, NewEntry
from time_tracker_api.time_entries.names import named

Identity = Actor

STOP = "Stop time entry"
RESTART = "Restart time entry"
OVERLAP = "There is another time entry in that date range"
NOT_OWNER = "The current user is not the owner of this time entry"


@dataclass(frozen=True)
class Rules:
    """Tunable limits of the rules (from the settings)."""

    skew_ms: int = 60_000


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


def _references(
    uow: UnitOfWork, project_id: str, activity_id: str, check: Iterable[str], read: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Names of the project, its customer and the activity (`read` already, else read now);
    `check` names those that must be active (the ones being set by this request)."""
    refs = read if read is not None else uow.time_entries.references(project_id, activity_id)
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
#: What must be active for time to run (clock-in, restart, reopening by an edit).
RUNS_AGAIN = ("project_id", "activity_id")


def _period(held: OwnerLock, starts: Iterable[int], override: bool, now: int) -> str | None:
    """Refuse a write of entries starting before the tenant's lock (423), unless an admin
    overrides it explicitly: then answer the note the write's audit event carries."""
    starts = list(starts)
    if not starts:
        return None
    boundary, zone = lock_of(held.settings, now)
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


def _check_slot(uow: UnitOfWork, owner: str, start: int, end: int | None, exclude: str | None = None) -> None:
    """One running entry per owner, no overlaps: call with the owner's lock held.

    An open-ended interval overlaps every running entry, so one query answers both rules.
    """
    clashes = uow.time_entries.overlapping(owner, start, end, exclude)
    if end is None and any(c["end_at"] is None for c in clashes):
        raise Conflict("You already have a running time entry; stop it first")
    if clashes:
        raise Unprocessable(OVERLAP)


def _write_in_slot(
    uow: UnitOfWork, entry: Record, changes: Mapping[str, Any], version: str | None, note: str | None
) -> Record:
    """Apply `changes` to `entry` (read in this unit, its owner's lock held) unless the entry
    would then clash with another of the owner's: 409 for a second running entry, else 422.
    Where the engine can, the write checks the clash itself (one statement), and the clash is
    read only to be named."""
    written = uow.time_entries.update_unless_overlapping(entry["id"], changes, entry, version, note)
    if written is None:  # the owner's lock is held: the clash is still there, to be named
        start, end = bounds_after(entry, changes)
        _check_slot(uow, entry["owner_id"], start, end, exclude=entry["id"])
        raise AssertionError("an entry clashed with the edited one and then no longer did")
    return written


def owned(uow: UnitOfWork, identity: Identity, entry_id: str, if_match: IfMatch | None = None) -> Record:
    """The caller's entry, at a version `if_match` names (checked before any other rule)."""
    return _at_version(uow.time_entries.get(entry_id), identity, if_match)


def _at_version(entry: Record, identity: Identity, if_match: IfMatch | None) -> Record:
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


def _as_owner(
    store: Store,
    identity: Identity,
    decide: Callable[[UnitOfWork, OwnerLock], T],
    references: tuple[str, str] | None = None,
) -> T:
    """Run `decide` in a writing unit of work holding the caller's owner lock, with what the
    lock reads along (the tenant's settings; `references` when named). An engine that fences
    the decision instead of blocking (Cosmos) may find it was overtaken when it commits; then
    nothing was written and `decide` runs again on fresh data."""
    for attempt in decisions():
        with attempt, store.unit_of_work(identity, write=True) as uow:
            return decide(uow, uow.time_entries.lock_owner(identity.user_id, references))
    raise AssertionError("decisions() either returns or raises")  # pragma: no cover


def create(store: Store, identity: Identity, entry: NewEntry, now: int, rules: Rules, override: bool = False) -> Record:
    """Clock in (no end_date) or record a past interval."""
    check_override(identity, override)
    values = entry.values()
    values.setdefault("start_at", now)
    values.setdefault("end_at", None)
    _check_times(values["start_at"], values["end_at"], now, rules)

    references = (values["project_id"], values["activity_id"])

    def decide(uow: UnitOfWork, held: OwnerLock) -> Record:
        refs = _references(uow, *references, ("project_id", "activity_id"), held.references)
        note = _period(held, [values["start_at"]], override, now)
        fields = {"billable": default_billable(refs), **values, "owner_id": identity.user_id}
        added = uow.time_entries.add_unless_overlapping(fields, note)
        if added is None:  # the owner's lock is held: the clash is still there, to be named
            _check_slot(uow, identity.user_id, values["start_at"], values["end_at"])
            raise AssertionError("an entry clashed with the new one and then no longer did")
        uow.users.remember(identity)
        return named(added, references=refs, caller_email=identity.email)

    return _as_owner(store, identity, decide, references)


def update(
    store: Store,
    identity: Identity,
    entry_id: str,
    edit: EntryChanges,
    if_match: IfMatch | None,
    now: int,
    rules: Rules,
    override: bool = False,
) -> Record:
    """Edit an entry; with `shorten_previous`, shorten the entry it now overlaps."""
    check_override(identity, override)
    changes = edit.values()
    shorten_previous = edit.shorten_previous

    def decide(uow: UnitOfWork, held: OwnerLock) -> Record:
        entry = owned(uow, identity, entry_id, if_match)
        start, end = bounds_after(entry, changes)
        if "start_at" in changes or "end_at" in changes:
            _check_times(start, end, now, rules)
        moved = [k for k in ("project_id", "activity_id") if k in changes and changes[k] != entry[k]]
        # Reopening (an end set back to none) runs time again: checked as restart checks it.
        check = RUNS_AGAIN if entry["end_at"] is not None and end is None else moved
        refs = None
        if check:
            project_id: str = changes["project_id"] if "project_id" in changes else entry["project_id"]
            activity_id: str = changes["activity_id"] if "activity_id" in changes else entry["activity_id"]
            refs = _references(uow, project_id, activity_id, check)
        note = _period(held, [entry["start_at"], start], override, now)
        values = dict(changes)
        if refs is not None and "project_id" in moved and "billable" not in values:
            values["billable"] = default_billable(refs)  # moved: as the new project says
        if shorten_previous and "start_at" in changes:
            _shorten_previous(uow, held, identity, entry_id, start, end, override, now)
        written = _write_in_slot(uow, entry, values, _version(entry, if_match), note)
        uow.users.remember(identity)
        return named(written, references=refs, caller_email=identity.email)

    return _as_owner(store, identity, decide)


def _shorten_previous(
    uow: UnitOfWork,
    held: OwnerLock,
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
        note = _period(held, [other["start_at"]], override, now)
        uow.time_entries.update(other["id"], {"end_at": new_start}, None, note, current=other)


def stop(
    store: Store, identity: Identity, entry_id: str | None, if_match: IfMatch | None, now: int, override: bool = False
) -> Record:
    """Stop an entry (or, with no id, the caller's running entry) at `now`. A running timer
    that started before the lock may be stopped: its end falls after the lock, so the locked
    days keep their time (periods.py); a stopped locked entry is refused like any write."""
    check_override(identity, override)

    def decide(uow: UnitOfWork, held: OwnerLock) -> Record:
        if entry_id is None:
            # The running entry is read whole, names included, as `get` reads one.
            running = uow.time_entries.running(identity.user_id)
            if running is None:
                raise NotFound("You have no running time entry")
            entry = _at_version(running, identity, if_match)
        else:
            entry = owned(uow, identity, entry_id, if_match)
        note = _period(held, [entry["start_at"]] if entry["end_at"] is not None else [], override, now)
        if entry["end_at"] is not None:
            raise Unprocessable("The specified time entry is already stopped")
        end = max(now, entry["start_at"] + 1)  # an entry stopped in the ms it started lasts 1 ms
        if end - entry["start_at"] > MAX_ENTRY_MS:
            raise Unprocessable(
                f"This entry has run for more than {MAX_ENTRY_HOURS} hours; set its end_date with PUT instead"
            )
        return uow.time_entries.update(
            entry["id"], {"end_at": end}, _version(entry, if_match), _note(STOP, note), current=entry
        )

    return _as_owner(store, identity, decide)


def restart(
    store: Store, identity: Identity, entry_id: str, if_match: IfMatch | None, now: int, override: bool = False
) -> Record:
    """Reopen a stopped entry: it runs again from its original start."""
    check_override(identity, override)

    def decide(uow: UnitOfWork, held: OwnerLock) -> Record:
        entry = owned(uow, identity, entry_id, if_match)
        note = _period(held, [entry["start_at"]], override, now)
        if entry["end_at"] is None:
            raise Unprocessable("The specified time entry is already running")
        if now - entry["start_at"] > MAX_ENTRY_MS:
            raise Unprocessable(f"An entry that started more than {MAX_ENTRY_HOURS} hours ago can not run again")
        # Time runs again: the project, its customer and the activity must be active, as on clock-in.
        _references(uow, entry["project_id"], entry["activity_id"], RUNS_AGAIN)
        return _write_in_slot(uow, entry, {"end_at": None}, _version(entry, if_match), _note(RESTART, note))

    return _as_owner(store, identity, decide)


def delete(
    store: Store, identity: Identity, entry_id: str, if_match: IfMatch | None, now: int = 0, override: bool = False
) -> None:
    """Mark the entry deleted, under the owner's lock like every other change of it, so that a
    PUT racing the DELETE is decided in order and never answers 412 to a client that sent no
    If-Match."""

    check_override(identity, override)

    def decide(uow: UnitOfWork, held: OwnerLock) -> None:
        entry = owned(uow, identity, entry_id, if_match)
        note = _period(held, [entry["start_at"]], override, now)
        uow.time_entries.delete(entry_id, _version(entry, if_match), note)

    _as_owner(store, identity, decide)
