"""What the memory engine does beyond what the contract suites ask every engine: how its units
of work publish, isolate and serialise, and its change feed and event log."""

from __future__ import annotations

import threading
import time
import uuid

import pytest

from commons.data_access_layer.events import Actor
from commons.data_access_layer.memory import MemoryStore, as_store
from commons.data_access_layer.repository import EventQuery, Store
from commons.domain.errors import Conflict


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


def test_a_unit_publishes_every_write_at_once_or_none(store: MemoryStore, actor: Actor) -> None:
    with pytest.raises(Conflict), store.unit_of_work(actor, write=True) as uow:
        uow.customers.add({"name": "Kept?"})
        uow.activities.add({"name": "Dev"})
        uow.activities.add({"name": "dev"})
    with store.unit_of_work(actor) as uow:
        assert uow.customers.list() == [] and uow.activities.list() == []
    assert store.change_feed("any").read(10)[0] == []


def test_a_reader_sees_the_state_published_when_it_opened(store: MemoryStore, actor: Actor) -> None:
    with store.unit_of_work(actor) as reader:
        with store.unit_of_work(actor, write=True) as writer:
            writer.customers.add({"name": "Later"})
            assert writer.customers.list()[0]["name"] == "Later"  # a unit reads its own writes
        assert reader.customers.list() == []
    with store.unit_of_work(actor) as uow:
        assert [c["name"] for c in uow.customers.list()] == ["Later"]


def test_a_reading_unit_that_writes_works_on_the_latest_state(store: MemoryStore, actor: Actor) -> None:
    with store.unit_of_work(actor) as reader:
        with store.unit_of_work(actor, write=True) as writer:
            writer.customers.add({"name": "First"})
        reader.customers.add({"name": "Second"})  # takes the write lock and the newest tables
    with store.unit_of_work(actor) as uow:
        assert [c["name"] for c in uow.customers.list()] == ["First", "Second"]


def test_writers_wait_for_each_other(store: MemoryStore, actor: Actor) -> None:
    inside, release = threading.Event(), threading.Event()
    order: list[str] = []

    def first() -> None:
        with store.unit_of_work(actor, write=True) as uow:
            inside.set()
            release.wait(5)
            uow.customers.add({"name": "First"})
            order.append("first")

    def second() -> None:
        with store.unit_of_work(actor, write=True) as uow:
            order.append("second")
            assert [c["name"] for c in uow.customers.list()] == ["First"]

    one = threading.Thread(target=first)
    one.start()
    inside.wait(5)
    two = threading.Thread(target=second)
    two.start()
    two.join(0.05)
    assert order == [] and two.is_alive()  # the second waits while the first holds the lock
    release.set()
    one.join(5)
    two.join(5)
    assert order == ["first", "second"]


def test_a_second_writing_unit_in_the_same_thread_is_refused_not_a_deadlock(store: MemoryStore, actor: Actor) -> None:
    with (
        store.unit_of_work(actor, write=True),
        pytest.raises(RuntimeError, match="deadlock"),
        store.unit_of_work(actor, write=True),
    ):
        pass
    with store.unit_of_work(actor, write=True) as uow:  # the lock was released
        uow.customers.add({"name": "Fine"})


def test_a_unit_that_ended_writes_no_more(store: MemoryStore, actor: Actor) -> None:
    with store.unit_of_work(actor, write=True) as uow:
        pass
    with pytest.raises(RuntimeError, match="ended"):
        uow.customers.add({"name": "Late"})


def test_answers_and_inputs_are_copies_of_what_is_stored(store: MemoryStore, actor: Actor) -> None:
    technologies = ["go"]
    with store.unit_of_work(actor, write=True) as uow:
        customer = uow.customers.add({"name": "C"})
        project = uow.projects.add({"name": "P", "customer_id": customer["id"], "technologies": technologies})
    technologies.append("changed by the caller")
    with store.unit_of_work(actor) as uow:
        uow.projects.get(project["id"])["technologies"].append("changed by a reader")
        assert uow.projects.get(project["id"])["technologies"] == ["go"]


def test_an_unknown_field_is_a_bug_not_data(store: MemoryStore, actor: Actor) -> None:
    with pytest.raises(ValueError, match="no field colour"), store.unit_of_work(actor, write=True) as uow:
        uow.customers.add({"name": "C", "colour": "red"})
    with pytest.raises(ValueError, match="unknown filter"), store.unit_of_work(actor) as uow:
        uow.customers.list({"colour": "red"})
    with store.unit_of_work(actor, write=True) as uow:
        customer = uow.customers.add({"name": "C"})
    with pytest.raises(ValueError, match="no field id"), store.unit_of_work(actor, write=True) as uow:
        uow.customers.update(customer["id"], {"id": "moved"})


def test_the_change_feed_delivers_every_write_in_order_from_a_named_checkpoint(
    store: MemoryStore, actor: Actor
) -> None:
    with store.unit_of_work(actor, write=True) as uow:
        customer = uow.customers.add({"name": "C"})
        uow.customers.update(customer["id"], {"description": "d"})
    feed = store.change_feed("runner")
    changes, position = feed.read(1)
    assert [(c, d["name"], d["_last_event_ctx"]["action"]) for c, d in changes] == [("customer", "C", "create")]
    assert feed.read(1)[0] == changes  # not committed: read again
    feed.commit(position)
    rest, end = store.change_feed("runner").read(10)
    assert [d["_last_event_ctx"]["action"] for _, d in rest] == ["update"] and "created_at" not in rest[0][1]
    assert len(store.change_feed("another").read(10)[0]) == 2  # each checkpoint is its own
    store.change_feed("runner").commit(end)
    assert store.change_feed("runner").read(10)[0] == []


def test_every_write_is_an_audit_event_at_once_and_a_redelivery_adds_nothing(store: MemoryStore, actor: Actor) -> None:
    with store.unit_of_work(actor, write=True) as uow:
        customer = uow.customers.add({"name": "C"})
    time.sleep(0.002)  # newest first by instant: the second write in a millisecond of its own
    with store.unit_of_work(actor, write=True) as uow:
        uow.customers.delete(customer["id"])
    with store.unit_of_work(actor) as uow:
        events, token = uow.events.list(EventQuery(item_id=customer["id"]))
    assert [e["action"] for e in events] == ["delete", "create"] and token is None
    assert events[0]["container_id"] == "customer" and events[0]["user_id"] == actor.user_id
    assert store.record_events(events) == 0  # what the events runner would store again


def test_tenants_do_not_share_tables(store: MemoryStore, actor: Actor) -> None:
    stranger = Actor(user_id=actor.user_id, tenant_id=str(uuid.uuid4()))
    with store.unit_of_work(actor, write=True) as uow:
        uow.customers.add({"name": "Mine"})
    with store.unit_of_work(stranger) as uow:
        assert uow.customers.list() == []


def test_the_store_is_the_contract_and_has_nothing_to_migrate(store: MemoryStore) -> None:
    typed: Store = as_store(store)
    assert typed.engine_name == "memory" and typed.create_containers(["customer", "customer"]) == ["customer"]
    assert typed.create_containers(["customer"]) == []
    typed.ping()
    typed.dispose()
