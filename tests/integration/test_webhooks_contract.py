"""The webhooks part of the repository contract (`Store.webhooks`), on every engine and memory."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from commons.data_access_layer.events import Actor
from commons.data_access_layer.repository import Store
from commons.domain.errors import NotFound, PreconditionFailed
from commons.domain.webhooks import DELIVERED, PENDING


def delivery(actor: Actor, endpoint: str, item: str, seq: int, **extra: Any) -> dict[str, Any]:
    return {
        "id": uuid.uuid4().hex,
        "tenant_id": actor.tenant_id,
        "endpoint_id": endpoint,
        "event_id": uuid.uuid4().hex,
        "item_id": item,
        "type": "customer.updated",
        "payload": {"n": seq},
        "seq": seq,
        "status": PENDING,
        "attempts": 0,
        "log": [],
        "next_at": 1 + seq,  # long due: ahead of any other test's deliveries in `due`
        "lease_until": 0,
        "created_at": seq,
        "updated_at": seq,
        **extra,
    }


def test_an_endpoint_is_written_only_at_its_version_and_a_deleted_one_is_gone(store: Store, actor: Actor) -> None:
    webhooks = store.webhooks
    added = webhooks.add_endpoint(actor, {"url": "https://example.com/hook", "events": ["*"], "active": True})
    assert webhooks.get_endpoint(actor.tenant_id, added["id"])["url"] == "https://example.com/hook"
    assert [e["id"] for e in webhooks.list_endpoints(actor.tenant_id)] == [added["id"]]
    changed = webhooks.write_endpoint({**added, "active": False}, added["_etag"], actor)
    assert changed["_etag"] != added["_etag"] and webhooks.get_endpoint(actor.tenant_id, added["id"])["active"] is False
    with pytest.raises(PreconditionFailed):
        webhooks.write_endpoint({**added, "active": True}, added["_etag"], actor)
    webhooks.write_endpoint({**changed, "deleted": uuid.uuid4().hex}, changed["_etag"], actor, "delete")
    with pytest.raises(NotFound):
        webhooks.get_endpoint(actor.tenant_id, added["id"])
    assert webhooks.list_endpoints(actor.tenant_id) == []
    with pytest.raises(NotFound):
        webhooks.get_endpoint(str(uuid.uuid4()), added["id"])  # another tenant's


def test_enqueue_answers_how_many_were_new_and_a_replay_adds_nothing(store: Store, actor: Actor) -> None:
    batch = [delivery(actor, "e-1", "item-1", seq) for seq in range(3)]
    assert store.webhooks.enqueue(batch) == 3
    assert store.webhooks.enqueue([*batch, delivery(actor, "e-1", "item-1", 3)]) == 1
    assert store.webhooks.enqueue([]) == 0
    assert [d["seq"] for d in store.webhooks.pending(actor.tenant_id, "e-1")] == [0, 1, 2, 3]


def test_the_head_of_an_item_is_its_lowest_pending_delivery(store: Store, actor: Actor) -> None:
    first, second = delivery(actor, "e-1", "item-1", 5), delivery(actor, "e-1", "item-1", 6)
    store.webhooks.enqueue([second, first, delivery(actor, "e-1", "item-2", 1), delivery(actor, "e-2", "item-1", 0)])
    head = store.webhooks.head(actor.tenant_id, "e-1", "item-1")
    assert head is not None and head["id"] == first["id"]
    store.webhooks.write_delivery({**head, "status": DELIVERED}, head["_etag"])
    assert store.webhooks.head(actor.tenant_id, "e-1", "item-1")["id"] == second["id"]  # type: ignore[index]
    assert store.webhooks.head(actor.tenant_id, "e-1", "item-9") is None


def test_only_one_of_two_writers_at_the_same_version_claims_a_delivery(store: Store, actor: Actor) -> None:
    store.webhooks.enqueue([delivery(actor, "e-1", "item-1", 1)])
    [found] = store.webhooks.pending(actor.tenant_id, "e-1")
    claimed = store.webhooks.write_delivery({**found, "lease_until": 10**15}, found["_etag"])
    with pytest.raises(PreconditionFailed):
        store.webhooks.write_delivery({**found, "lease_until": 10**15}, found["_etag"])
    assert store.webhooks.get_delivery(actor.tenant_id, found["id"])["_etag"] == claimed["_etag"]
    with pytest.raises(NotFound):
        store.webhooks.get_delivery(str(uuid.uuid4()), found["id"])


def test_due_lists_pending_deliveries_whose_time_came_and_that_no_one_holds(store: Store, actor: Actor) -> None:
    ready = delivery(actor, "e-1", "item-1", 1)
    later = delivery(actor, "e-1", "item-2", 2, next_at=10**15)
    held = delivery(actor, "e-1", "item-3", 3, lease_until=10**15)
    done = delivery(actor, "e-1", "item-4", 4, status=DELIVERED)
    store.webhooks.enqueue([ready, later, held, done])
    mine = [d["id"] for d in store.webhooks.due(now=10**12, limit=1000) if d["tenant_id"] == actor.tenant_id]
    assert mine == [ready["id"]]


def test_the_delivery_log_pages_newest_first_to_its_end(store: Store, actor: Actor) -> None:
    store.webhooks.enqueue([delivery(actor, "e-1", f"item-{n}", n) for n in range(7)])
    store.webhooks.enqueue([delivery(actor, "e-2", "item-x", 99)])
    seen: list[int] = []
    token: str | None = None
    while True:
        page, token = store.webhooks.list_deliveries(actor.tenant_id, "e-1", 3, token)
        seen.extend(d["seq"] for d in page)
        if token is None:
            break
    assert seen == [6, 5, 4, 3, 2, 1, 0]
