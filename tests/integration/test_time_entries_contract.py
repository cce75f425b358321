"""The time-entry part of the repository contract (`TimeEntries`), on every engine.

The rules of the service (no overlaps, one running entry, times) are not what is tested here:
this is what a repository answers, so every engine answers the same. Each test writes in
units of its own and reads in others: a unit's answer has its final `_etag` once it ends
(Cosmos learns it from the batch).
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

from commons.data_access_layer.events import Actor
from commons.data_access_layer.repository import (
    ChangeQuery,
    Conflict,
    EntryQuery,
    NotFound,
    PreconditionFailed,
    Record,
    Store,
)
from commons.domain.clock import now_ms, parse_instant
from tests.conftest import ENGINES
from tests.integration.test_catalogue_contract import other, stored_context

H = 3_600_000
DAY = 24 * H
MAY = parse_instant("2024-05-01T00:00:00Z")


@pytest.fixture
def refs(store: Store, actor: Actor) -> dict[str, Any]:
    """A customer with two projects, a project of another customer, an activity; the actor
    known to the store (for `owner_email`)."""
    with store.unit_of_work(actor, write=True) as uow:
        acme = uow.customers.add({"name": "Acme", "billable": False})
        other_customer = uow.customers.add({"name": "Globex"})
        website = uow.projects.add({"name": "Website", "customer_id": acme["id"], "billable": True})
        mobile = uow.projects.add({"name": "Mobile", "customer_id": acme["id"]})
        elsewhere = uow.projects.add({"name": "Elsewhere", "customer_id": other_customer["id"]})
        development = uow.activities.add({"name": "Development"})
        review = uow.activities.add({"name": "Review"})
    with store.unit_of_work(actor, write=True) as uow:
        uow.users.remember(actor)
    return {
        "acme": acme,
        "globex": other_customer,
        "website": website,
        "mobile": mobile,
        "elsewhere": elsewhere,
        "development": development,
        "review": review,
    }


def fields(refs: dict[str, Any], owner: str, start: int, end: int | None, **extra: Any) -> dict[str, Any]:
    return {
        "owner_id": owner,
        "project_id": refs[extra.pop("project", "website")]["id"],
        "activity_id": refs[extra.pop("activity", "development")]["id"],
        "start_at": start,
        "end_at": end,
        **extra,
    }


def add(store: Store, actor: Actor, values: dict[str, Any], description: str | None = None) -> Record:
    with store.unit_of_work(actor, write=True) as uow:
        added = uow.time_entries.add(values, description)
    return added


def at(hours: float, day: int = 1) -> int:
    """An instant of May 2024: `hours` after midnight of `day`."""
    return MAY + (day - 1) * DAY + int(hours * H)


def ids(records: list[Record]) -> list[str]:
    return [r["id"] for r in records]


# ---------------------------------------------------------------- add, get, running


def test_an_added_entry_reads_back_with_the_names_of_its_project_customer_activity_and_owner(
    store: Store, actor: Actor, refs: dict
) -> None:
    values = fields(refs, actor.user_id, at(9), at(10), description="work", uri="TT-1", timezone_offset=-60)
    added = add(store, actor, values)
    assert added["_etag"] and added["deleted"] is None and added["tenant_id"] == actor.tenant_id
    assert added["technologies"] == [] and added["start_at"] == at(9)
    with store.unit_of_work(actor) as uow:
        got = uow.time_entries.get(added["id"])
    assert {k: got[k] for k in values} == values
    assert got["_etag"] == added["_etag"] and got["deleted"] is None and got["technologies"] == []
    assert (got["project_name"], got["customer_id"], got["customer_name"]) == ("Website", refs["acme"]["id"], "Acme")
    assert (got["activity_name"], got["owner_email"]) == ("Development", actor.email)


def test_names_of_items_that_do_not_exist_are_none(store: Store, actor: Actor) -> None:
    stranger = Actor(user_id=str(uuid.uuid4()), tenant_id=actor.tenant_id)
    values = {"owner_id": stranger.user_id, "project_id": str(uuid.uuid4()), "activity_id": str(uuid.uuid4())}
    added = add(store, stranger, {**values, "start_at": at(9), "end_at": at(10)})
    with store.unit_of_work(actor) as uow:
        got = uow.time_entries.get(added["id"])
    names = ("project_name", "customer_id", "customer_name", "activity_name", "owner_email")
    assert [got[n] for n in names] == [None] * 5


def test_a_field_never_written_reads_as_none(store: Store, actor: Actor, refs: dict) -> None:
    added = add(store, actor, fields(refs, actor.user_id, at(9), at(10)))
    with store.unit_of_work(actor) as uow:
        got = uow.time_entries.get(added["id"])
    assert [got[f] for f in ("description", "uri", "timezone_offset", "billable")] == [None] * 4


def test_a_missing_entry_is_not_found(store: Store, actor: Actor) -> None:
    with store.unit_of_work(actor) as uow, pytest.raises(NotFound):
        uow.time_entries.get(str(uuid.uuid4()))


def test_running_is_the_owners_entry_without_an_end(store: Store, actor: Actor, refs: dict) -> None:
    add(store, actor, fields(refs, actor.user_id, at(8), at(9)))
    running = add(store, actor, fields(refs, actor.user_id, at(9), None))
    with store.unit_of_work(actor) as uow:
        found = uow.time_entries.running(actor.user_id)
        assert uow.time_entries.running(str(uuid.uuid4())) is None
        # The whole entry, as `get` answers it (a stop decides on it without reading it again).
        assert found == uow.time_entries.get(running["id"])
    assert found is not None and found["id"] == running["id"] and found["project_name"] == "Website"
    with store.unit_of_work(actor, write=True) as uow:
        uow.time_entries.update(running["id"], {"end_at": at(10)})
    with store.unit_of_work(actor) as uow:
        assert uow.time_entries.running(actor.user_id) is None


# The contract: engines with a constraint (SQL's unique index, memory) refuse a second running
# entry themselves; Cosmos has none below the owner lease, under which every writer of entries
# checks `running` first (tests/integration/test_concurrency.py races clock-ins on it).
@pytest.mark.parametrize("engine", [e for e in ENGINES if not e.startswith("cosmos")])
def test_a_second_running_entry_of_the_owner_is_a_conflict(store: Store, actor: Actor, refs: dict) -> None:
    add(store, actor, fields(refs, actor.user_id, at(9), None))
    with pytest.raises(Conflict), store.unit_of_work(actor, write=True) as uow:
        uow.time_entries.add(fields(refs, actor.user_id, at(11), None))


def test_another_owner_may_run_an_entry_at_the_same_time(store: Store, actor: Actor, refs: dict) -> None:
    add(store, actor, fields(refs, actor.user_id, at(9), None))
    colleague = str(uuid.uuid4())
    add(store, actor, fields(refs, colleague, at(9), None))
    with store.unit_of_work(actor) as uow:
        assert uow.time_entries.running(colleague) is not None


# ---------------------------------------------------------------- overlapping


def test_overlapping_is_shared_time_and_touching_is_not(store: Store, actor: Actor, refs: dict) -> None:
    nine = add(store, actor, fields(refs, actor.user_id, at(9), at(10)))
    ten = add(store, actor, fields(refs, actor.user_id, at(10), at(11)))
    with store.unit_of_work(actor) as uow:
        entries = uow.time_entries
        assert ids(entries.overlapping(actor.user_id, at(10), at(11))) == [ten["id"]]
        assert sorted(ids(entries.overlapping(actor.user_id, at(9.5), at(10.5)))) == sorted([nine["id"], ten["id"]])
        assert entries.overlapping(actor.user_id, at(11), at(12)) == []
        assert entries.overlapping(actor.user_id, at(8), at(9)) == []
        assert ids(entries.overlapping(actor.user_id, at(8), at(9) + 1)) == [nine["id"]]


def test_an_open_ended_interval_overlaps_every_later_entry_and_a_running_one(
    store: Store, actor: Actor, refs: dict
) -> None:
    add(store, actor, fields(refs, actor.user_id, at(9), at(10)))
    later = add(store, actor, fields(refs, actor.user_id, at(9, day=20), at(10, day=20)))
    running = add(store, actor, fields(refs, actor.user_id, at(9, day=25), None))
    with store.unit_of_work(actor) as uow:
        found = uow.time_entries.overlapping(actor.user_id, at(12), None)
        assert sorted(ids(found)) == sorted([later["id"], running["id"]])
        # A running entry extends to forever: a window far after its start still meets it.
        assert ids(uow.time_entries.overlapping(actor.user_id, at(9, day=30), at(10, day=30))) == [running["id"]]


def test_overlapping_leaves_out_the_excluded_entry_deleted_ones_and_other_owners(
    store: Store, actor: Actor, refs: dict
) -> None:
    mine = add(store, actor, fields(refs, actor.user_id, at(9), at(10)))
    gone = add(store, actor, fields(refs, actor.user_id, at(10), at(11)))
    add(store, actor, fields(refs, str(uuid.uuid4()), at(9), at(11)))
    with store.unit_of_work(actor, write=True) as uow:
        uow.time_entries.delete(gone["id"])
    with store.unit_of_work(actor) as uow:
        assert ids(uow.time_entries.overlapping(actor.user_id, at(8), at(12))) == [mine["id"]]
        assert uow.time_entries.overlapping(actor.user_id, at(8), at(12), exclude_id=mine["id"]) == []


# ---------------------------------------------------------------- list, page, count, spans


def test_list_is_newest_start_first(store: Store, actor: Actor, refs: dict) -> None:
    starts = [at(9, day) for day in (3, 1, 5, 2, 4)]
    added = {add(store, actor, fields(refs, actor.user_id, s, s + H))["id"]: s for s in starts}
    with store.unit_of_work(actor) as uow:
        listed = uow.time_entries.list(EntryQuery(owners=(actor.user_id,)))
        assert [e["start_at"] for e in listed] == sorted(starts, reverse=True)
        assert set(ids(listed)) == set(added) and listed[0]["project_name"] == "Website"
        window = uow.time_entries.list(EntryQuery(owners=(actor.user_id,), limit=2, offset=1))
    assert [e["start_at"] for e in window] == [at(9, 4), at(9, 3)]


def test_list_filters_combine_with_and(store: Store, actor: Actor, refs: dict) -> None:
    colleague = str(uuid.uuid4())
    a = add(store, actor, fields(refs, actor.user_id, at(9, 1), at(10, 1), uri="TT-1"))
    b = add(store, actor, fields(refs, actor.user_id, at(9, 2), at(10, 2), project="mobile", activity="review"))
    c = add(store, actor, fields(refs, colleague, at(9, 3), at(10, 3), project="mobile"))
    with store.unit_of_work(actor) as uow:

        def found(**query: Any) -> set[str]:
            return set(ids(uow.time_entries.list(EntryQuery(**query))))

        assert found() == {a["id"], b["id"], c["id"]}
        assert found(owners=(colleague,)) == {c["id"]}
        assert found(owners=(actor.user_id, colleague)) == {a["id"], b["id"], c["id"]}
        assert found(owners=()) == set()
        assert found(project_ids=(refs["mobile"]["id"],)) == {b["id"], c["id"]}
        assert found(project_ids=(refs["mobile"]["id"],), owners=(actor.user_id,)) == {b["id"]}
        assert found(project_ids=()) == set()
        assert found(activity_id=refs["review"]["id"]) == {b["id"]}
        assert found(uri="TT-1") == {a["id"]}


def test_the_window_keeps_the_entries_that_overlap_it(store: Store, actor: Actor, refs: dict) -> None:
    me = actor.user_id
    before = add(store, actor, fields(refs, me, at(8), at(9)))
    across_start = add(store, actor, fields(refs, me, at(9.5), at(10.5)))
    inside = add(store, actor, fields(refs, me, at(11), at(12)))
    across_end = add(store, actor, fields(refs, me, at(13.5), at(14.5)))
    at_the_end = add(store, actor, fields(refs, me, at(14), at(15)))
    running = add(store, actor, fields(refs, me, at(16), None))
    with store.unit_of_work(actor) as uow:

        def window(start: int | None, end: int | None) -> list[str]:
            return ids(uow.time_entries.list(EntryQuery(owners=(me,), start=start, end=end)))

        assert window(at(10), at(14)) == [across_end["id"], inside["id"], across_start["id"]]
        assert window(at(9), at(9.5)) == []  # touching at either end is outside
        assert window(at(20), at(21)) == [running["id"]]  # a running entry lasts to forever
        assert window(None, at(9) + 1) == [before["id"]]
        assert window(at(14.5), None) == [running["id"], at_the_end["id"]]


def test_pages_follow_continuations_to_the_end_without_duplicates(store: Store, actor: Actor, refs: dict) -> None:
    for day in range(1, 8):
        add(store, actor, fields(refs, actor.user_id, at(9, day), at(10, day)))
    query = EntryQuery(owners=(actor.user_id,), start=at(0, 1), end=at(0, 31))
    seen: list[Record] = []
    token: str | None = None
    with store.unit_of_work(actor) as uow:
        expected = ids(uow.time_entries.list(query))
        for _ in range(10):  # bounded: a token that never ends is a failure, not a hang
            page, token = uow.time_entries.page(query, 3, token)
            assert len(page) <= 3
            seen += page
            if token is None:
                break
    assert token is None and ids(seen) == expected and len(expected) == 7
    assert all(e["project_name"] == "Website" for e in seen)


def test_count_and_spans_match_the_query_whatever_its_limit_and_offset(store: Store, actor: Actor, refs: dict) -> None:
    add(store, actor, fields(refs, actor.user_id, at(9), at(10)))
    add(store, actor, fields(refs, actor.user_id, at(11), at(12), project="mobile"))
    add(store, actor, fields(refs, actor.user_id, at(13), None))
    add(store, actor, fields(refs, actor.user_id, at(9, day=10), at(10, day=10)))
    query = EntryQuery(owners=(actor.user_id,), start=at(0), end=at(24), limit=1, offset=1)
    with store.unit_of_work(actor) as uow:
        assert uow.time_entries.count(query) == 3
        assert sorted(uow.time_entries.spans(query)) == [(at(9), at(10)), (at(11), at(12)), (at(13), None)]
        assert uow.time_entries.count(EntryQuery(owners=(actor.user_id,), project_ids=(refs["mobile"]["id"],))) == 1
        assert uow.time_entries.count(EntryQuery(owners=(str(uuid.uuid4()),))) == 0


# ---------------------------------------------------------------- totals, latest, references


def test_totals_are_clipped_to_the_window_and_running_time_counts_up_to_now(
    store: Store, actor: Actor, refs: dict
) -> None:
    me = actor.user_id
    add(store, actor, fields(refs, me, at(9), at(11)))  # 1 h inside [10, 14)
    add(store, actor, fields(refs, me, at(12), at(12.5), activity="review"))  # 0.5 h
    add(store, actor, fields(refs, me, at(12.5), None, project="elsewhere"))  # up to now: 0.5 h
    add(store, actor, fields(refs, me, at(7), at(8)))  # outside
    colleague = str(uuid.uuid4())
    add(store, actor, fields(refs, colleague, at(13), at(15), project="mobile"))  # 1 h inside
    query = EntryQuery(start=at(10), end=at(14))
    now = at(13)
    with store.unit_of_work(actor) as uow:
        totals = uow.time_entries.totals
        assert totals(query, "project_id", now) == {
            refs["website"]["id"]: int(1.5 * H),
            refs["elsewhere"]["id"]: H // 2,
            refs["mobile"]["id"]: 0,  # it starts at 13:00, and now is 13:00
        }
        assert totals(query, "project_id", at(16)) == {
            refs["website"]["id"]: int(1.5 * H),
            refs["elsewhere"]["id"]: int(1.5 * H),
            refs["mobile"]["id"]: H,
        }
        assert totals(query, "owner_id", at(16)) == {me: 3 * H, colleague: H}
        assert totals(query, "activity_id", at(16)) == {
            refs["development"]["id"]: int(3.5 * H),
            refs["review"]["id"]: H // 2,
        }
        assert totals(query, "customer_id", at(16)) == {
            refs["acme"]["id"]: int(2.5 * H),
            refs["globex"]["id"]: int(1.5 * H),
        }
        # No end: up to now, and every entry from the start on (the one from 7:00 to 8:00 too).
        assert totals(EntryQuery(owners=(me,), start=at(7)), "owner_id", at(13)) == {me: 4 * H}


def test_latest_per_project_is_the_newest_entry_of_each_project_in_the_window_newest_first(
    store: Store, actor: Actor, refs: dict
) -> None:
    me = actor.user_id
    add(store, actor, fields(refs, me, at(9, 1), at(10, 1), description="old"))
    add(store, actor, fields(refs, me, at(9, 10), at(10, 10), description="new"))
    add(store, actor, fields(refs, me, at(9, 5), at(10, 5), project="mobile", description="mobile"))
    add(store, actor, fields(refs, me, MAY - DAY, MAY - DAY + H, project="elsewhere", description="april"))
    add(store, actor, fields(refs, str(uuid.uuid4()), at(9, 12), at(10, 12), description="someone else's"))
    with store.unit_of_work(actor) as uow:
        latest = uow.time_entries.latest_per_project(me, MAY, at(0, 32))
    assert [e["description"] for e in latest] == ["new", "mobile"]
    assert [e["project_name"] for e in latest] == ["Website", "Mobile"]


def test_lock_owner_answers_the_tenants_settings_and_the_references_asked_for(
    store: Store, actor: Actor, refs: dict
) -> None:
    pair = (refs["website"]["id"], refs["review"]["id"])
    with store.unit_of_work(actor, write=True) as uow:
        bare = uow.time_entries.lock_owner(actor.user_id)
        assert bare.settings is None and bare.references is None
    settings = {"currency": "EUR", "timezone": "Europe/Madrid", "lock": {"locked_until": "2024-04-30"}}
    with store.unit_of_work(actor, write=True) as uow:
        uow.money.put(settings, None)
    with store.unit_of_work(actor, write=True) as uow:
        held = uow.time_entries.lock_owner(actor.user_id, pair)
        assert held.settings == settings
        assert held.references == uow.time_entries.references(*pair)
        assert held.references["project_name"] == "Website" and held.references["activity_name"] == "Review"
    with store.unit_of_work(other(actor), write=True) as uow:  # confined to the tenant
        elsewhere = uow.time_entries.lock_owner(actor.user_id, pair)
        assert elsewhere.settings is None and set(elsewhere.references.values()) == {None}


def test_add_unless_overlapping_writes_nothing_where_the_owner_has_a_live_entry(
    store: Store, actor: Actor, refs: dict
) -> None:
    me, colleague = actor.user_id, str(uuid.uuid4())
    add(store, actor, fields(refs, me, at(9), at(10)))
    add(store, actor, fields(refs, colleague, at(10), at(11)))  # someone else's time is no clash
    gone = add(store, actor, fields(refs, me, at(12), at(13)))
    with store.unit_of_work(actor, write=True) as uow:
        uow.time_entries.delete(gone["id"])
    running = add(store, actor, fields(refs, me, at(14), None))
    with store.unit_of_work(actor, write=True) as uow:
        entries = uow.time_entries
        entries.lock_owner(me)
        assert entries.add_unless_overlapping(fields(refs, me, at(9.5), at(9.75))) is None  # inside
        assert entries.add_unless_overlapping(fields(refs, me, at(8), at(11))) is None  # around
        assert entries.add_unless_overlapping(fields(refs, me, at(15), at(16))) is None  # a running one
        assert entries.add_unless_overlapping(fields(refs, me, at(8), None)) is None  # open-ended: runs on
        side_by_side = entries.add_unless_overlapping(fields(refs, me, at(10), at(11), description="after"))
        deleted_slot = entries.add_unless_overlapping(fields(refs, me, at(12), at(13), description="freed"))
    assert side_by_side is not None and side_by_side["description"] == "after"  # [9, 10) then [10, 11)
    assert deleted_slot is not None and deleted_slot["_etag"]
    with store.unit_of_work(actor) as uow:
        mine = uow.time_entries.list(EntryQuery(owners=(me,), start=at(0), end=at(24)))
        assert uow.time_entries.get(side_by_side["id"])["description"] == "after"
    assert sorted(e["start_at"] for e in mine) == [at(9), at(10), at(12), at(14)]
    assert running["id"] in {e["id"] for e in mine}


def test_update_unless_overlapping_writes_nothing_where_the_edit_would_clash(
    store: Store, actor: Actor, refs: dict
) -> None:
    me, colleague = actor.user_id, str(uuid.uuid4())
    add(store, actor, fields(refs, me, at(9), at(10)))
    edited = add(store, actor, fields(refs, me, at(11), at(12)))
    add(store, actor, fields(refs, colleague, at(12), at(14)))  # someone else's time is no clash
    gone = add(store, actor, fields(refs, me, at(13), at(14)))
    with store.unit_of_work(actor, write=True) as uow:
        uow.time_entries.delete(gone["id"])
    add(store, actor, fields(refs, me, at(15), None))
    clashes = [
        {"start_at": at(9.5)},  # into the entry before
        {"start_at": at(8), "end_at": at(12)},  # around it
        {"end_at": at(15.5)},  # into the running one
        {"start_at": at(16), "end_at": at(17)},  # after the running one started
        {"end_at": None},  # reopened while another runs
    ]
    with store.unit_of_work(actor, write=True) as uow:
        uow.time_entries.lock_owner(me)
        current = uow.time_entries.get(edited["id"])
        for changes in clashes:
            assert uow.time_entries.update_unless_overlapping(edited["id"], changes, current) is None, changes
    with store.unit_of_work(actor) as uow:
        assert uow.time_entries.get(edited["id"])["_etag"] == edited["_etag"]  # nothing written
    # Beside the entry before, over itself, a colleague's time and a deleted entry's slot.
    for changes in ({"start_at": at(10)}, {"end_at": at(11.5)}, {"end_at": at(14)}):
        with store.unit_of_work(actor, write=True) as uow:
            uow.time_entries.lock_owner(me)
            current = uow.time_entries.get(edited["id"])
            written = uow.time_entries.update_unless_overlapping(edited["id"], changes, current, description="moved")
        assert written is not None and all(written[k] == v for k, v in changes.items())
    with store.unit_of_work(actor) as uow:
        now = uow.time_entries.get(edited["id"])
    assert (now["start_at"], now["end_at"]) == (at(10), at(14))


def test_update_unless_overlapping_at_a_stale_version_is_refused_and_a_clash_is_named_first(
    store: Store, actor: Actor, refs: dict
) -> None:
    me = actor.user_id
    add(store, actor, fields(refs, me, at(9), at(10)))
    edited = add(store, actor, fields(refs, me, at(11), at(12)))
    with store.unit_of_work(actor, write=True) as uow:
        uow.time_entries.update(edited["id"], {"description": "newer"})
    with pytest.raises(PreconditionFailed), store.unit_of_work(actor, write=True) as uow:
        uow.time_entries.lock_owner(me)
        uow.time_entries.update_unless_overlapping(edited["id"], {"end_at": at(13)}, edited)
    with store.unit_of_work(actor, write=True) as uow:
        uow.time_entries.lock_owner(me)
        assert uow.time_entries.update_unless_overlapping(edited["id"], {"start_at": at(9.5)}, edited) is None
    with store.unit_of_work(actor) as uow:
        assert uow.time_entries.get(edited["id"])["end_at"] == at(12)


def test_references_answer_project_customer_and_activity_and_none_for_missing_ones(
    store: Store, actor: Actor, refs: dict
) -> None:
    with store.unit_of_work(actor, write=True) as uow:
        uow.activities.delete(refs["review"]["id"])
    with store.unit_of_work(actor) as uow:
        found = uow.time_entries.references(refs["website"]["id"], refs["review"]["id"])
        missing = uow.time_entries.references(str(uuid.uuid4()), str(uuid.uuid4()))
    assert found == {
        "project_name": "Website",
        "project_status": "active",
        "project_billable": True,
        "customer_id": refs["acme"]["id"],
        "customer_name": "Acme",
        "customer_status": "active",
        "customer_billable": False,
        "activity_name": "Review",
        "activity_status": "inactive",
    }
    assert set(missing) == set(found) and all(value is None for value in missing.values())


# ---------------------------------------------------------------- update, delete


def test_update_merges_the_changes_and_answers_a_new_version(store: Store, actor: Actor, refs: dict) -> None:
    added = add(store, actor, fields(refs, actor.user_id, at(9), None, description="first"))
    with store.unit_of_work(actor, write=True) as uow:
        current = uow.time_entries.get(added["id"])
        written = uow.time_entries.update(added["id"], {"end_at": at(10)}, added["_etag"], "Stop", current=current)
    assert written["end_at"] == at(10) and written["description"] == "first" and written["_etag"] != added["_etag"]
    assert written["project_name"] == "Website"  # the names of the version read
    with store.unit_of_work(actor) as uow:
        got = uow.time_entries.get(added["id"])
    assert got["_etag"] == written["_etag"] and got["end_at"] == at(10) and got["description"] == "first"
    assert stored_context(store, "time_entry", actor.tenant_id, added["id"])["description"] == "Stop"


def test_update_with_a_stale_if_match_is_a_precondition_failure_and_writes_nothing(
    store: Store, actor: Actor, refs: dict
) -> None:
    added = add(store, actor, fields(refs, actor.user_id, at(9), at(10)))
    with store.unit_of_work(actor, write=True) as uow:
        uow.time_entries.update(added["id"], {"description": "second"}, added["_etag"])
    with pytest.raises(PreconditionFailed), store.unit_of_work(actor, write=True) as uow:
        uow.time_entries.update(added["id"], {"description": "third"}, added["_etag"])
    with pytest.raises(PreconditionFailed), store.unit_of_work(actor, write=True) as uow:
        uow.time_entries.delete(added["id"], added["_etag"])
    with store.unit_of_work(actor) as uow:
        assert uow.time_entries.get(added["id"])["description"] == "second"


def test_update_of_a_version_changed_since_it_was_read_is_a_precondition_failure(
    store: Store, actor: Actor, refs: dict
) -> None:
    added = add(store, actor, fields(refs, actor.user_id, at(9), at(10)))
    with store.unit_of_work(actor) as uow:
        read_before = uow.time_entries.get(added["id"])
    with store.unit_of_work(actor, write=True) as uow:
        uow.time_entries.update(added["id"], {"description": "meanwhile"})
    with pytest.raises(PreconditionFailed), store.unit_of_work(actor, write=True) as uow:
        uow.time_entries.update(added["id"], {"description": "lost"}, current=read_before)
    with store.unit_of_work(actor) as uow:
        assert uow.time_entries.get(added["id"])["description"] == "meanwhile"


def test_delete_is_soft_and_then_the_entry_is_not_found_anywhere(store: Store, actor: Actor, refs: dict) -> None:
    added = add(store, actor, fields(refs, actor.user_id, at(9), None))
    with store.unit_of_work(actor, write=True) as uow:
        uow.time_entries.delete(added["id"], added["_etag"], "Gone")
    with store.unit_of_work(actor) as uow:
        with pytest.raises(NotFound):
            uow.time_entries.get(added["id"])
        assert uow.time_entries.list(EntryQuery()) == [] and uow.time_entries.count(EntryQuery()) == 0
        assert uow.time_entries.running(actor.user_id) is None
    for write in (
        lambda uow: uow.time_entries.update(added["id"], {"description": "x"}),
        lambda uow: uow.time_entries.delete(added["id"]),
    ):
        with pytest.raises(NotFound), store.unit_of_work(actor, write=True) as uow:
            write(uow)
    stamped = stored_context(store, "time_entry", actor.tenant_id, added["id"])
    assert stamped["action"] == "delete" and stamped["description"] == "Gone"
    # A deleted running entry no longer holds the owner's one running slot.
    add(store, actor, fields(refs, actor.user_id, at(11), None))


def test_a_failed_unit_of_work_writes_no_entry(store: Store, actor: Actor, refs: dict) -> None:
    with pytest.raises(RuntimeError), store.unit_of_work(actor, write=True) as uow:
        uow.time_entries.add(fields(refs, actor.user_id, at(9), at(10)))
        raise RuntimeError("the service refused after the write")
    with store.unit_of_work(actor) as uow:
        assert uow.time_entries.list(EntryQuery()) == []


# ---------------------------------------------------------------- changes


def test_changes_come_in_change_order_page_by_page_and_tombstones_only_when_asked(
    store: Store, actor: Actor, refs: dict
) -> None:
    since = now_ms() - 1
    written = []
    for day in (3, 1, 2):
        written.append(add(store, actor, fields(refs, actor.user_id, at(9, day), at(10, day)))["id"])
        time.sleep(0.002)  # each write in a millisecond of its own: the order is then certain
    with store.unit_of_work(actor, write=True) as uow:
        uow.time_entries.delete(written[0])
    time.sleep(0.002)
    with store.unit_of_work(actor, write=True) as uow:
        uow.time_entries.update(written[1], {"description": "edited last"})

    def sync(include_deleted: bool) -> list[Record]:
        seen: list[Record] = []
        after = (since, "")
        with store.unit_of_work(actor) as uow:
            for _ in range(10):
                query = ChangeQuery(after, now_ms() + 60_000, 2, include_deleted, (actor.user_id,))
                page = uow.time_entries.changes(query)
                seen += page
                if len(page) < 2:
                    return seen
                after = (page[-1]["updated_at"], page[-1]["id"])
        raise AssertionError("the sync list never ended")

    everything = sync(include_deleted=True)
    assert [e["id"] for e in everything] == [written[2], written[0], written[1]]
    assert [e["updated_at"] for e in everything] == sorted(e["updated_at"] for e in everything)
    tombstone = everything[1]
    assert tombstone["deleted"] is not None and tombstone["project_name"] == "Website"
    assert everything[2]["description"] == "edited last" and everything[2]["deleted"] is None
    assert [e["id"] for e in sync(include_deleted=False)] == [written[2], written[1]]


def test_changes_are_confined_to_the_owners_asked_for(store: Store, actor: Actor, refs: dict) -> None:
    since = now_ms() - 1
    mine = add(store, actor, fields(refs, actor.user_id, at(9), at(10)))
    theirs = add(store, actor, fields(refs, str(uuid.uuid4()), at(9), at(10)))
    with store.unit_of_work(actor) as uow:

        def changed(owners: tuple[str, ...] | None) -> set[str]:
            return set(ids(uow.time_entries.changes(ChangeQuery((since, ""), now_ms() + 60_000, 10, owners=owners))))

        assert changed((actor.user_id,)) == {mine["id"]}
        assert changed(None) == {mine["id"], theirs["id"]}
        assert changed(()) == set()
        assert uow.time_entries.changes(ChangeQuery((since, ""), since, 10)) == []  # nothing at or before `until`


# ---------------------------------------------------------------- tenants


def test_another_tenant_sees_and_changes_none_of_the_entries(store: Store, actor: Actor, refs: dict) -> None:
    added = add(store, actor, fields(refs, actor.user_id, at(9), None))
    stranger = other(actor)
    with store.unit_of_work(stranger) as uow:
        entries = uow.time_entries
        with pytest.raises(NotFound):
            entries.get(added["id"])
        assert entries.list(EntryQuery()) == [] and entries.count(EntryQuery()) == 0
        assert entries.running(actor.user_id) is None
        assert entries.overlapping(actor.user_id, at(0), None) == []
        assert entries.spans(EntryQuery()) == [] and entries.totals(EntryQuery(), "owner_id", at(12)) == {}
        assert entries.latest_per_project(actor.user_id, MAY, at(0, 32)) == []
        assert entries.changes(ChangeQuery((0, ""), now_ms() + 60_000, 10, include_deleted=True)) == []
        assert entries.references(refs["website"]["id"], refs["development"]["id"])["project_name"] is None
    for write in (
        lambda uow: uow.time_entries.update(added["id"], {"description": "stolen"}),
        lambda uow: uow.time_entries.delete(added["id"]),
    ):
        with pytest.raises(NotFound), store.unit_of_work(stranger, write=True) as uow:
            write(uow)
    # The same owner id running in another tenant is another person's slot.
    add(store, Actor(actor.user_id, stranger.tenant_id), fields(refs, actor.user_id, at(9), None))
    with store.unit_of_work(actor) as uow:
        assert uow.time_entries.get(added["id"]).get("description") is None
