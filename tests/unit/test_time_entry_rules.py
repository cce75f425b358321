"""The rules of time entries (time_tracker_api/time_entries/service.py), called directly on the
memory engine: no Flask app, no HTTP, no database, `now` passed in."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from datetime import UTC
from typing import Any

import pytest

from commons.data_access_layer.events import Actor
from commons.data_access_layer.memory import MemoryStore
from commons.data_access_layer.repository import ACTIVITIES, CUSTOMERS, PROJECTS, EventQuery, Record
from commons.domain.cleaning import id_list
from commons.domain.clock import MAX_ENTRY_MS, format_instant, parse_instant, zone_from
from commons.domain.errors import Conflict, Forbidden, Invalid, Locked, NotFound, PreconditionFailed, Unprocessable
from commons.domain.preconditions import IfMatch
from tests.unit import calls
from time_tracker_api import catalogue
from time_tracker_api.time_entries import queries, reports, service
from time_tracker_api.time_entries.queries import Filters
from time_tracker_api.time_entries.service import OVERLAP, Rules

H = 3_600_000
NOW = parse_instant("2024-06-15T12:00:00Z")  # a Saturday
RULES = Rules(skew_ms=60_000)


def at(text: str) -> int:
    return parse_instant(f"2024-{text}:00Z")


@pytest.fixture
def bob(tenant: str) -> Actor:
    return Actor(user_id=str(uuid.uuid4()), tenant_id=tenant, email="bob@example.com")


@pytest.fixture
def refs(store: MemoryStore, boss: Actor) -> dict[str, Record]:
    def make(spec: Any, **body: Any) -> Record:
        return calls.create_item(store, boss, spec, body)

    acme = make(CUSTOMERS, name="Acme")
    internal = make(CUSTOMERS, name="Internal", billable=False)
    return {
        "acme": acme,
        "internal": internal,
        "website": make(PROJECTS, name="Website", customer_id=acme["id"]),
        "mobile": make(PROJECTS, name="Mobile", customer_id=acme["id"], billable=False),
        "chores": make(PROJECTS, name="Chores", customer_id=internal["id"]),
        "dev": make(ACTIVITIES, name="Development"),
        "review": make(ACTIVITIES, name="Review"),
    }


def body(refs: dict[str, Record], start: str | None = None, end: str | None = None, **extra: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "project_id": refs[extra.pop("project", "website")]["id"],
        "activity_id": refs[extra.pop("activity", "dev")]["id"],
        **extra,
    }
    if start is not None:
        values["start_date"] = f"2024-{start}:00Z"
    if end is not None:
        values["end_date"] = f"2024-{end}:00Z"
    return values


def create(store: MemoryStore, who: Actor, values: dict[str, Any], now: int = NOW, **kw: Any) -> Record:
    return calls.create_entry(store, who, values, now, RULES, **kw)


def update(store: MemoryStore, who: Actor, entry: Record, values: dict[str, Any], **kw: Any) -> Record:
    return calls.update_entry(
        store, who, entry["id"], values, kw.pop("if_match", None), kw.pop("now", NOW), RULES, **kw
    )


def etag(entry: Record) -> IfMatch:
    return IfMatch((entry["_etag"],))


# ---------------------------------------------------------------- clock in, past intervals


def test_clock_in_starts_now_runs_and_answers_the_names(store: MemoryStore, ana: Actor, refs: dict) -> None:
    running = create(store, ana, body(refs, technologies=["py", " py ", ""], timezone_offset=-120))
    assert (running["start_at"], running["end_at"], running["owner_id"]) == (NOW, None, ana.user_id)
    assert (running["project_name"], running["customer_name"], running["activity_name"]) == (
        "Website",
        "Acme",
        "Development",
    )
    assert running["owner_email"] == ana.email and running["technologies"] == ["py"]
    assert queries.running(store, ana)["id"] == running["id"]  # type: ignore[index]


def test_the_owner_is_the_caller_whatever_the_body_says(store: MemoryStore, ana: Actor, bob: Actor, refs: dict) -> None:
    created = create(store, ana, body(refs, owner_id=bob.user_id, tenant_id="other", id="chosen", deleted="x"))
    assert created["owner_id"] == ana.user_id and created["tenant_id"] == ana.tenant_id
    assert created["id"] != "chosen" and created["deleted"] is None


def test_one_running_entry_per_user(store: MemoryStore, ana: Actor, bob: Actor, refs: dict) -> None:
    create(store, ana, body(refs))
    with pytest.raises(Conflict, match="running"):
        create(store, ana, body(refs, "06-15T11:00"))
    create(store, bob, body(refs))  # someone else's timer is no obstacle


def test_one_running_entry_per_user_holds_when_clock_ins_race(store: MemoryStore, ana: Actor, refs: dict) -> None:
    outcomes = race(8, lambda n: create(store, ana, body(refs, description=f"try {n}")))
    assert outcomes.count("ok") == 1 and outcomes.count("Conflict") == 7
    assert len(queries.list_entries(store, ana, Filters(), UTC, NOW)) == 1


def test_no_two_entries_of_a_user_overlap_when_writes_race(store: MemoryStore, ana: Actor, refs: dict) -> None:
    outcomes = race(6, lambda n: create(store, ana, body(refs, f"06-14T09:{n:02d}", f"06-14T10:{n:02d}")))
    assert outcomes.count("ok") == 1 and outcomes.count("Unprocessable") == 5


def race(count: int, attempt: Callable[[int], Any]) -> list[str]:
    """Run `attempt(n)` in `count` threads released at once; answer each outcome's name."""
    outcomes: list[str] = []
    start = threading.Barrier(count)

    def run(n: int) -> None:
        start.wait()
        try:
            attempt(n)
            outcomes.append("ok")
        except Exception as error:  # noqa: BLE001 - the outcome is what is counted
            outcomes.append(type(error).__name__)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    return outcomes


def test_entries_never_overlap_and_touching_is_not_overlapping(store: MemoryStore, ana: Actor, refs: dict) -> None:
    create(store, ana, body(refs, "06-14T09:00", "06-14T10:00"))
    with pytest.raises(Unprocessable, match=OVERLAP):
        create(store, ana, body(refs, "06-14T09:59", "06-14T11:00"))
    with pytest.raises(Unprocessable):
        create(store, ana, body(refs, "06-14T08:00", "06-14T12:00"))  # around it
    create(store, ana, body(refs, "06-14T10:00", "06-14T11:00"))
    create(store, ana, body(refs, "06-14T08:00", "06-14T09:00"))


def test_a_past_interval_may_not_overlap_the_running_entry(store: MemoryStore, ana: Actor, refs: dict) -> None:
    create(store, ana, body(refs, "06-15T09:00"))
    with pytest.raises(Unprocessable):
        create(store, ana, body(refs, "06-15T10:00", "06-15T11:00"))
    create(store, ana, body(refs, "06-15T07:00", "06-15T09:00"))


@pytest.mark.parametrize(
    "start, end, message",
    [
        ("06-14T10:00", "06-14T09:00", "after it started"),
        ("06-14T10:00", "06-14T10:00", "after it started"),
        ("06-15T12:02", None, "start a time entry in the future"),
        ("06-15T11:00", "06-15T12:02", "end a time entry in the future"),
        ("01-01T00:00", "03-01T00:00", "can not last more than 999 hours"),
        ("05-01T00:00", None, "more than 999 hours ago"),
    ],
)
def test_times_must_make_sense(
    store: MemoryStore, ana: Actor, refs: dict, start: str, end: str | None, message: str
) -> None:
    with pytest.raises(Invalid, match=message):
        create(store, ana, body(refs, start, end))
    assert queries.list_entries(store, ana, Filters(start_date="2024-01-01"), UTC, NOW) == []


def test_the_clock_skew_is_tolerated_for_starts_and_ends(store: MemoryStore, ana: Actor, refs: dict) -> None:
    ended = create(store, ana, {**body(refs, "06-15T11:00"), "end_date": format_instant(NOW + 59_000)})
    assert ended["end_at"] == NOW + 59_000
    ahead = create(store, ana, {**body(refs), "start_date": format_instant(NOW + 59_000)})
    assert ahead["start_at"] == NOW + 59_000


@pytest.mark.parametrize(
    "change, message",
    [
        ({"project_id": ""}, "Project id can not be empty"),
        ({"activity_id": None}, "Activity id can not be empty"),
        ({"project_id": 5}, "project_id must be a string"),
        ({"technologies": [str(n) for n in range(11)]}, "at most 10"),
        ({"technologies": "python"}, "array of strings"),
        ({"timezone_offset": "300"}, "timezone_offset"),
        ({"timezone_offset": 18 * 60 + 1}, "timezone_offset"),
        ({"timezone_offset": True}, "timezone_offset"),
        ({"description": "x" * 1501}, "too long"),
        ({"uri": "x" * 2001}, "too long"),
        ({"billable": "yes"}, "billable"),
        ({"start_date": "yesterday"}, "start_date"),
    ],
)
def test_malformed_fields_are_invalid(store: MemoryStore, ana: Actor, refs: dict, change: dict, message: str) -> None:
    with pytest.raises(Invalid, match=message):
        create(store, ana, {**body(refs, "06-14T09:00", "06-14T10:00"), **change})


def test_a_new_entry_needs_a_project_and_an_activity(store: MemoryStore, ana: Actor, refs: dict) -> None:
    for missing in ("project_id", "activity_id"):
        values = body(refs)
        del values[missing]
        with pytest.raises(Invalid, match=f"{missing} is a required property"):
            create(store, ana, values)


def test_time_is_recorded_only_on_active_projects_activities_and_customers(
    store: MemoryStore, boss: Actor, ana: Actor, refs: dict
) -> None:
    with pytest.raises(Invalid, match="Related project"):
        create(store, ana, {**body(refs), "project_id": str(uuid.uuid4())})
    with pytest.raises(Invalid, match="Related activity"):
        create(store, ana, {**body(refs), "activity_id": str(uuid.uuid4())})
    catalogue.delete_item(store, boss, ACTIVITIES, refs["review"]["id"], None)
    with pytest.raises(Invalid, match="Related activity"):
        create(store, ana, body(refs, activity="review"))
    catalogue.delete_item(store, boss, PROJECTS, refs["mobile"]["id"], None)
    with pytest.raises(Invalid, match="Related project"):
        create(store, ana, body(refs, project="mobile"))
    catalogue.delete_item(store, boss, CUSTOMERS, refs["acme"]["id"], None)
    with pytest.raises(Invalid, match="The project's customer is not active"):
        create(store, ana, body(refs))


def test_billable_defaults_from_the_project_then_its_customer_then_yes(
    store: MemoryStore, ana: Actor, refs: dict
) -> None:
    def past(day: int, project: str, **extra: Any) -> Record:
        return create(store, ana, body(refs, f"06-{day:02d}T09:00", f"06-{day:02d}T10:00", project=project, **extra))

    assert past(1, "website")["billable"] is True
    assert past(2, "mobile")["billable"] is False  # the project says no
    assert past(3, "chores")["billable"] is False  # its customer says no
    assert past(4, "chores", billable=True)["billable"] is True  # the entry says so
    moved = update(store, ana, past(5, "website"), {"project_id": refs["mobile"]["id"]})
    assert moved["billable"] is False  # moved: as its new project says
    kept = update(store, ana, past(6, "website"), {"project_id": refs["mobile"]["id"], "billable": True})
    assert kept["billable"] is True


# ---------------------------------------------------------------- update, stop, restart, delete


def test_an_update_is_checked_as_the_merged_entry(store: MemoryStore, ana: Actor, refs: dict) -> None:
    create(store, ana, body(refs, "06-14T09:00", "06-14T10:00"))
    second = create(store, ana, body(refs, "06-14T11:00", "06-14T12:00"))
    with pytest.raises(Unprocessable):
        update(store, ana, second, {"start_date": "2024-06-14T09:30:00Z"})
    with pytest.raises(Invalid, match="after it started"):
        update(store, ana, second, {"end_date": "2024-06-14T10:30:00Z"})
    with pytest.raises(Invalid, match="start_date can not be empty"):
        update(store, ana, second, {"start_date": None})
    changed = update(store, ana, second, {"description": " review ", "project_id": refs["mobile"]["id"]})
    assert (changed["description"], changed["project_name"], changed["start_at"]) == (
        "review",
        "Mobile",
        at("06-14T11:00"),
    )


def test_reopening_an_entry_by_update_is_refused_while_another_runs(store: MemoryStore, ana: Actor, refs: dict) -> None:
    done = create(store, ana, body(refs, "06-15T08:00", "06-15T09:00"))
    create(store, ana, body(refs, "06-15T10:00"))
    with pytest.raises(Conflict):
        update(store, ana, done, {"end_date": None})


def test_update_last_entry_if_overlap_cuts_only_a_covered_tail(store: MemoryStore, ana: Actor, refs: dict) -> None:
    previous = create(store, ana, body(refs, "06-15T09:00", "06-15T11:00"))
    current = create(store, ana, body(refs, "06-15T11:00"))
    moved = update(store, ana, current, {"start_date": "2024-06-15T10:00:00Z", "update_last_entry_if_overlap": True})
    assert moved["start_at"] == at("06-15T10:00") and moved["end_at"] is None
    assert queries.get(store, ana, previous["id"])["end_at"] == at("06-15T10:00")
    # An entry that would be swallowed whole, or lose time after the edited one ends: refused.
    with pytest.raises(Unprocessable):
        update(store, ana, current, {"start_date": "2024-06-15T08:00:00Z", "update_last_entry_if_overlap": True})
    with pytest.raises(Invalid, match="true or false"):
        update(store, ana, current, {"start_date": "2024-06-15T09:30:00Z", "update_last_entry_if_overlap": "yes"})
    assert queries.get(store, ana, previous["id"])["end_at"] == at("06-15T10:00")


def test_stop_ends_the_running_entry_now(store: MemoryStore, ana: Actor, refs: dict) -> None:
    with pytest.raises(NotFound, match="no running time entry"):
        service.stop(store, ana, None, None, NOW)
    running = create(store, ana, body(refs, "06-15T09:00"))
    stopped = service.stop(store, ana, None, None, NOW)
    assert (stopped["id"], stopped["end_at"]) == (running["id"], NOW)
    with pytest.raises(Unprocessable, match="already stopped"):
        service.stop(store, ana, running["id"], None, NOW)


def test_an_entry_stopped_in_the_millisecond_it_started_lasts_one(store: MemoryStore, ana: Actor, refs: dict) -> None:
    running = create(store, ana, body(refs))
    assert service.stop(store, ana, running["id"], None, NOW)["end_at"] == NOW + 1


def test_an_entry_that_ran_past_999_hours_is_not_stopped_but_edited(store: MemoryStore, ana: Actor, refs: dict) -> None:
    running = create(store, ana, body(refs, "06-01T00:00"))
    with pytest.raises(Unprocessable, match="999 hours"):
        service.stop(store, ana, running["id"], None, at("06-01T00:00") + MAX_ENTRY_MS + 1)


def test_restart_reopens_a_stopped_entry_from_its_start(store: MemoryStore, ana: Actor, refs: dict) -> None:
    first = create(store, ana, body(refs, "06-15T08:00", "06-15T09:00"))
    later = create(store, ana, body(refs, "06-15T10:00", "06-15T11:00"))
    with pytest.raises(Unprocessable):
        service.restart(store, ana, first["id"], None, NOW)  # it would run across the later one
    restarted = service.restart(store, ana, later["id"], None, NOW)
    assert (restarted["start_at"], restarted["end_at"]) == (at("06-15T10:00"), None)
    with pytest.raises(Unprocessable, match="already running"):
        service.restart(store, ana, later["id"], None, NOW)


def test_restart_while_another_entry_runs_is_a_conflict(store: MemoryStore, ana: Actor, refs: dict) -> None:
    old = create(store, ana, body(refs, "06-15T08:00", "06-15T09:00"))
    create(store, ana, body(refs, "06-15T10:00"))
    with pytest.raises(Conflict):
        service.restart(store, ana, old["id"], None, NOW)


def test_an_entry_that_started_999_hours_ago_can_not_run_again(store: MemoryStore, ana: Actor, refs: dict) -> None:
    old = create(store, ana, body(refs, "05-01T09:00", "05-01T10:00"))
    with pytest.raises(Unprocessable, match="999 hours"):
        service.restart(store, ana, old["id"], None, NOW)
    with pytest.raises(Invalid, match="999 hours"):
        update(store, ana, old, {"end_date": None})


def test_restart_needs_an_active_project_and_customer(store: MemoryStore, boss: Actor, ana: Actor, refs: dict) -> None:
    done = create(store, ana, body(refs, "06-15T08:00", "06-15T09:00"))
    catalogue.delete_item(store, boss, CUSTOMERS, refs["acme"]["id"], None)
    with pytest.raises(Invalid, match="customer is not active"):
        service.restart(store, ana, done["id"], None, NOW)


def test_restart_needs_an_active_activity_as_clock_in_does(
    store: MemoryStore, boss: Actor, ana: Actor, refs: dict
) -> None:
    done = create(store, ana, body(refs, "06-15T08:00", "06-15T09:00", activity="review"))
    catalogue.delete_item(store, boss, ACTIVITIES, refs["review"]["id"], None)
    with pytest.raises(Invalid, match="activity"):
        service.restart(store, ana, done["id"], None, NOW)


def test_reopening_by_update_needs_an_active_project_and_customer_as_restart_does(
    store: MemoryStore, boss: Actor, ana: Actor, refs: dict
) -> None:
    done = create(store, ana, body(refs, "06-15T08:00", "06-15T09:00"))
    catalogue.delete_item(store, boss, CUSTOMERS, refs["acme"]["id"], None)
    with pytest.raises(Invalid, match="customer is not active"):
        update(store, ana, done, {"end_date": None})


def test_delete_hides_the_entry_and_frees_its_time(store: MemoryStore, ana: Actor, refs: dict) -> None:
    gone = create(store, ana, body(refs, "06-15T09:00"))
    service.delete(store, ana, gone["id"], None, NOW)
    with pytest.raises(NotFound):
        queries.get(store, ana, gone["id"])
    with pytest.raises(NotFound):
        service.delete(store, ana, gone["id"], None, NOW)
    assert queries.running(store, ana) is None
    create(store, ana, body(refs, "06-15T09:00"))


# ---------------------------------------------------------------- who may change what


def test_nobody_changes_another_users_entry_not_even_an_admin(
    store: MemoryStore, boss: Actor, ana: Actor, refs: dict
) -> None:
    mine = create(store, ana, body(refs, "06-15T09:00"))
    for attempt in (
        lambda: queries.get(store, boss, mine["id"]),
        lambda: update(store, boss, mine, {"description": "mine now"}),
        lambda: service.stop(store, boss, mine["id"], None, NOW),
        lambda: service.restart(store, boss, mine["id"], None, NOW),
        lambda: service.delete(store, boss, mine["id"], None, NOW),
    ):
        with pytest.raises(Forbidden, match="not the owner"):
            attempt()
    assert queries.get(store, ana, mine["id"])["description"] is None


def test_another_tenant_does_not_find_the_entry(store: MemoryStore, ana: Actor, refs: dict) -> None:
    mine = create(store, ana, body(refs, "06-15T09:00"))
    stranger = Actor(user_id=ana.user_id, tenant_id=str(uuid.uuid4()), is_admin=True)
    for attempt in (
        lambda: queries.get(store, stranger, mine["id"]),
        lambda: update(store, stranger, mine, {"description": "x"}),
        lambda: service.stop(store, stranger, mine["id"], None, NOW),
        lambda: service.delete(store, stranger, mine["id"], None, NOW),
    ):
        with pytest.raises(NotFound):
            attempt()
    with pytest.raises(Invalid, match="Related project"):
        create(store, stranger, body(refs))  # nor uses its projects


def test_only_admins_list_other_users_entries(
    store: MemoryStore, boss: Actor, ana: Actor, bob: Actor, refs: dict
) -> None:
    create(store, ana, body(refs, "06-14T09:00", "06-14T10:00"))
    create(store, bob, body(refs, "06-14T09:00", "06-14T10:00"))
    with pytest.raises(Forbidden):
        queries.list_entries(store, ana, Filters(user_ids=(bob.user_id,)), UTC, NOW)
    with pytest.raises(Forbidden):
        queries.list_entries(store, ana, Filters(user_ids=("*",)), UTC, NOW)
    assert (
        len(queries.list_entries(store, ana, Filters(user_ids=id_list([f"{ana.user_id},{ana.user_id}"])), UTC, NOW))
        == 1
    )
    assert len(queries.list_entries(store, boss, Filters(user_ids=("*",)), UTC, NOW)) == 2
    assert queries.list_entries(store, boss, Filters(), UTC, NOW) == []  # an admin's own by default


def test_a_stale_if_match_is_a_precondition_failure_for_every_change(
    store: MemoryStore, ana: Actor, refs: dict
) -> None:
    entry = create(store, ana, body(refs, "06-15T09:00"))
    fresh = update(store, ana, entry, {"description": "a"}, if_match=etag(entry))
    for attempt in (
        lambda: update(store, ana, entry, {"description": "b"}, if_match=etag(entry)),
        lambda: service.stop(store, ana, entry["id"], etag(entry), NOW),
        lambda: service.delete(store, ana, entry["id"], etag(entry), NOW),
    ):
        with pytest.raises(PreconditionFailed):
            attempt()
    listed = IfMatch(("other", fresh["_etag"]))
    stopped = service.stop(store, ana, entry["id"], listed, NOW)
    with pytest.raises(PreconditionFailed):
        service.restart(store, ana, entry["id"], etag(fresh), NOW)
    service.restart(store, ana, entry["id"], etag(stopped), NOW)
    assert queries.get(store, ana, entry["id"])["description"] == "a"


def test_the_owner_rule_is_checked_before_the_version(store: MemoryStore, boss: Actor, ana: Actor, refs: dict) -> None:
    mine = create(store, ana, body(refs, "06-15T09:00"))
    with pytest.raises(Forbidden):
        update(store, boss, mine, {"description": "x"}, if_match=IfMatch(("stale",)))


# ---------------------------------------------------------------- locked periods


def lock(store: MemoryStore, who: Actor, until: str | None, now: int = NOW) -> None:
    calls.set_lock(store, who, {"locked_until": until}, None, now)


def test_only_admins_lock_periods_and_only_days_that_have_ended(store: MemoryStore, boss: Actor, ana: Actor) -> None:
    with pytest.raises(Forbidden):
        lock(store, ana, "2024-05-31")
    with pytest.raises(Invalid, match="has ended"):
        lock(store, boss, "2024-06-15")
    with pytest.raises(Invalid):
        calls.set_lock(store, boss, {"older_than_days": 0}, None, NOW)


def test_every_write_in_a_locked_period_is_refused_with_locked(
    store: MemoryStore, boss: Actor, ana: Actor, refs: dict
) -> None:
    locked = create(store, ana, body(refs, "05-20T09:00", "05-20T10:00"))
    open_entry = create(store, ana, body(refs, "06-03T09:00", "06-03T10:00"))
    lock(store, boss, "2024-05-31")
    with pytest.raises(Locked, match=r"locked period \(up to 2024-05-31 included\)"):
        create(store, ana, body(refs, "05-22T09:00", "05-22T10:00"))
    for attempt in (
        lambda: update(store, ana, locked, {"description": "late fix"}),
        lambda: service.stop(store, ana, locked["id"], None, NOW),
        lambda: service.restart(store, ana, locked["id"], None, NOW),
        lambda: service.delete(store, ana, locked["id"], None, NOW),
        lambda: update(store, ana, open_entry, {"start_date": "2024-05-30T09:00:00Z"}),  # moved into it
    ):
        with pytest.raises(Locked):
            attempt()
    update(store, ana, open_entry, {"description": "after the lock: fine"})
    lock(store, boss, None)
    update(store, ana, locked, {"description": "unlocked again"})


def test_an_admin_overrides_the_lock_explicitly_and_the_write_says_so(
    store: MemoryStore, boss: Actor, refs: dict
) -> None:
    mine = create(store, boss, body(refs, "05-21T09:00", "05-21T10:00"))
    lock(store, boss, "2024-05-31")
    with pytest.raises(Locked):
        update(store, boss, mine, {"description": "fix"})
    update(store, boss, mine, {"description": "fix"}, override=True)
    create(store, boss, body(refs, "05-22T09:00", "05-22T10:00"), override=True)
    service.delete(store, boss, mine["id"], None, NOW, override=True)
    with store.unit_of_work(boss) as uow:
        events, _ = uow.events.list(EventQuery(item_id=mine["id"]))
    assert {(e["action"], e["description"]) for e in events} >= {
        ("update", "Locked period override"),
        ("delete", "Locked period override"),
    }


def test_asking_for_the_override_without_being_an_admin_is_forbidden(
    store: MemoryStore, ana: Actor, refs: dict
) -> None:
    entry = create(store, ana, body(refs, "06-14T09:00", "06-14T10:00"))
    with pytest.raises(Forbidden):
        update(store, ana, entry, {"description": "x"}, override=True)
    with pytest.raises(Forbidden):
        create(store, ana, body(refs, "06-13T09:00", "06-13T10:00"), override=True)


def test_a_running_timer_that_crosses_the_lock_may_be_stopped_and_nothing_else(
    store: MemoryStore, boss: Actor, ana: Actor, refs: dict
) -> None:
    running = create(store, ana, body(refs, "05-31T22:00"), now=at("06-01T10:00"))
    later = at("06-02T08:00")
    lock(store, boss, "2024-05-31", now=later)
    with pytest.raises(Locked):
        update(store, ana, running, {"description": "x"}, now=later)
    assert service.stop(store, ana, None, None, later)["end_at"] == later
    with pytest.raises(Locked):
        service.restart(store, ana, running["id"], None, later)


def test_a_rolling_lock_closes_the_days_older_than_n_in_the_tenants_zone(
    store: MemoryStore, boss: Actor, ana: Actor, refs: dict
) -> None:
    now = at("06-20T12:00")
    calls.update_settings(store, boss, {"timezone": "America/New_York"}, None, now)
    calls.set_lock(store, boss, {"older_than_days": 10}, None, now)  # before 2024-06-10 in New York
    with pytest.raises(Locked):
        create(store, ana, body(refs, "06-10T03:00", "06-10T03:30"), now=now)
    create(store, ana, body(refs, "06-10T04:00", "06-10T05:00"), now=now)


# ---------------------------------------------------------------- queries: now is an argument


def test_summary_counts_today_this_week_and_this_month_with_running_time_up_to_now(
    store: MemoryStore, ana: Actor, refs: dict
) -> None:
    now = at("05-15T15:00")  # a Wednesday
    create(store, ana, body(refs, "05-13T09:00", "05-13T10:00"), now=now)
    create(store, ana, body(refs, "05-02T09:00", "05-02T09:30"), now=now)
    create(store, ana, body(refs, "05-15T13:00"), now=now)
    summary = queries.summary(store, ana, UTC, now)
    assert summary["day"] == {"hours": 2, "minutes": 0, "seconds": 0}
    assert summary["week"]["hours"] == 3 and summary["month"] == {"hours": 3, "minutes": 30, "seconds": 0}
    assert queries.summary(store, ana, UTC, now + H // 2)["day"] == {"hours": 2, "minutes": 30, "seconds": 0}


def test_summary_days_are_the_callers_days(store: MemoryStore, ana: Actor, refs: dict) -> None:
    now = at("05-15T03:00")
    create(store, ana, body(refs, "05-14T20:00", "05-14T21:00"), now=now)
    assert queries.summary(store, ana, UTC, now)["day"]["hours"] == 0
    assert queries.summary(store, ana, zone_from(300), now)["day"]["hours"] == 1  # UTC-5: still the 14th


def test_report_totals_each_group_clipped_to_the_range_and_running_time_up_to_now(
    store: MemoryStore, boss: Actor, ana: Actor, bob: Actor, refs: dict
) -> None:
    now = at("06-01T00:30")
    create(store, ana, body(refs, "05-01T09:00", "05-01T11:00"), now=now)
    create(store, ana, body(refs, "05-02T09:00", "05-02T10:00", project="mobile"), now=now)
    create(store, bob, body(refs, "05-01T23:00", "05-02T01:00"), now=now)
    create(store, bob, body(refs, "05-31T23:00"), now=now)  # running: its hour in May counts
    may = Filters(start_date="2024-05-01", end_date="2024-05-31")

    def hours(filters: Filters, group_by: str) -> dict[str, float]:
        report = reports.report(store, boss, filters, group_by, UTC, now)
        assert report["total"]["seconds"] == sum(g["seconds"] for g in report["totals"])
        return {g["name"]: g["hours"] for g in report["totals"]}

    assert hours(may, "project") == {"Website": 5.0, "Mobile": 1.0}
    assert hours(may, "owner") == {"ana@example.com": 3.0, "bob@example.com": 3.0}
    assert hours(may, "customer") == {"Acme": 6.0}
    one_day = Filters(start_date="2024-05-02", end_date="2024-05-02")
    assert hours(one_day, "owner") == {"ana@example.com": 1.0, "bob@example.com": 1.0}
    assert hours(may, "billable") == {"Billable": 5.0, "Not billable": 1.0}


def test_reports_are_for_admins_and_bounded(store: MemoryStore, boss: Actor, ana: Actor) -> None:
    with pytest.raises(Forbidden):
        reports.report(store, ana, Filters(), "project", UTC, NOW)
    with pytest.raises(Invalid, match="group_by"):
        reports.report(store, boss, Filters(), "year", UTC, NOW)
    with pytest.raises(Invalid, match="then_by"):
        reports.report(store, boss, Filters(), "week", UTC, NOW, then_by="week")
    with pytest.raises(Invalid, match="366 days"):
        reports.report(store, boss, Filters(start_date="2020-01-01", end_date="2024-01-01"), "project", UTC, NOW)


def test_lists_are_the_months_entries_newest_first_and_pages_reach_the_end(
    store: MemoryStore, ana: Actor, refs: dict
) -> None:
    for day in range(1, 6):
        create(store, ana, body(refs, f"06-0{day}T09:00", f"06-0{day}T10:00"))
    create(store, ana, body(refs, "05-31T09:00", "05-31T10:00"))  # last month
    listed = queries.list_entries(store, ana, Filters(), UTC, NOW)
    assert [e["start_at"] for e in listed] == [at(f"06-0{day}T09:00") for day in range(5, 0, -1)]
    seen, token = [], None
    for _ in range(5):
        page = queries.paginated(store, ana, Filters(limit=2), UTC, NOW, token)
        assert page["records_total"] == 5
        seen += [e["id"] for e in page["data"]]
        token = page["continuation"]
        if token is None:
            break
    assert seen == [e["id"] for e in listed]


def test_latest_is_the_newest_entry_of_each_project_this_month(store: MemoryStore, ana: Actor, refs: dict) -> None:
    create(store, ana, body(refs, "06-01T09:00", "06-01T10:00", description="old"))
    create(store, ana, body(refs, "06-10T09:00", "06-10T10:00", description="new"))
    create(store, ana, body(refs, "06-05T09:00", "06-05T10:00", project="mobile", description="mobile"))
    create(store, ana, body(refs, "05-28T09:00", "05-28T10:00", project="chores", description="may"))
    assert [e["description"] for e in queries.latest(store, ana, UTC, NOW)] == ["new", "mobile"]
