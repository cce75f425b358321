"""The rest of the repository contract the services use (Users, Money, AccessTokens, Events,
IdempotencyKeys), on every engine: the memory engine must answer as the others do."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

from commons.data_access_layer.events import Actor
from commons.data_access_layer.idempotency import IdempotencyClaim
from commons.data_access_layer.repository import (
    Contended,
    EventQuery,
    NotFound,
    Store,
)
from commons.domain.clock import format_instant, now_ms
from tests.integration.test_catalogue_contract import other

T0 = 1_714_550_400_000  # 2024-05-01T08:00:00Z


def person(actor: Actor, name: str | None, email: str | None = None) -> Actor:
    return Actor(user_id=str(uuid.uuid4()), tenant_id=actor.tenant_id, email=email, name=name)


# ---------------------------------------------------------------- users


def test_remember_records_the_email_and_name_and_keeps_roles(store: Store, actor: Actor) -> None:
    ana = person(actor, "Ana", "ana@example.com")
    with store.unit_of_work(ana, write=True) as uow:
        uow.users.remember(ana)
    with store.unit_of_work(ana, write=True) as uow:
        uow.users.change(ana.user_id, lambda roles, groups: ([*roles, "admin"], [*groups, "team"]))
    renamed = Actor(ana.user_id, ana.tenant_id, "ana@new.example.com", "Ana B")
    with store.unit_of_work(renamed, write=True) as uow:
        uow.users.remember(renamed)
    with store.unit_of_work(ana) as uow:
        assert uow.users.get(ana.user_id) == {
            "id": ana.user_id,
            "tenant_id": ana.tenant_id,
            "email": "ana@new.example.com",
            "name": "Ana B",
            "roles": ["admin"],
            "groups": ["team"],
        }
        assert uow.users.emails([ana.user_id, str(uuid.uuid4()), ""]) == {ana.user_id: "ana@new.example.com"}


def test_a_caller_remembered_in_a_unit_that_failed_is_remembered_by_the_next(store: Store, actor: Actor) -> None:
    ana = person(actor, "Ana", "ana@example.com")
    with store.unit_of_work(ana, write=True) as uow:
        uow.users.remember(ana)
    renamed = Actor(ana.user_id, ana.tenant_id, "ana@new.example.com", "Ana B")
    with pytest.raises(RuntimeError), store.unit_of_work(renamed, write=True) as uow:
        uow.users.remember(renamed)
        raise RuntimeError("a rule refused the write after the caller was remembered")
    with store.unit_of_work(renamed, write=True) as uow:
        uow.users.remember(renamed)
    with store.unit_of_work(ana) as uow:
        assert uow.users.emails([ana.user_id]) == {ana.user_id: "ana@new.example.com"}


def test_an_email_changed_and_changed_back_is_stored_back(store: Store, actor: Actor) -> None:
    """What the process remembers is keyed by the user: A, then B, then A again stores A (a
    memo of what was presented took the last A for already stored, and kept B)."""
    ana = person(actor, "Ana", "ana@example.com")
    moved = Actor(ana.user_id, ana.tenant_id, "ana@new.example.com", "Ana")
    for presented in (ana, moved, ana):
        with store.unit_of_work(presented, write=True) as uow:
            uow.users.remember(presented)
    with store.unit_of_work(ana) as uow:
        assert uow.users.emails([ana.user_id]) == {ana.user_id: "ana@example.com"}


def test_a_caller_without_an_email_is_not_remembered(store: Store, actor: Actor) -> None:
    nobody = person(actor, "Nobody")
    with store.unit_of_work(nobody, write=True) as uow:
        uow.users.remember(nobody)
    with store.unit_of_work(nobody) as uow, pytest.raises(NotFound):
        uow.users.get(nobody.user_id)


def test_a_role_change_of_an_unknown_user_needs_create(store: Store, actor: Actor) -> None:
    user_id = str(uuid.uuid4())
    with pytest.raises(NotFound), store.unit_of_work(actor, write=True) as uow:
        uow.users.change(user_id, lambda roles, groups: (["admin"], groups))
    with store.unit_of_work(actor, write=True) as uow:
        created = uow.users.change(user_id, lambda roles, groups: (["admin"], groups), create=True)
    assert created == {
        "id": user_id,
        "tenant_id": actor.tenant_id,
        "email": None,
        "name": None,
        "roles": ["admin"],
        "groups": [],
    }


def test_users_are_listed_by_name_within_their_tenant(store: Store, actor: Actor) -> None:
    for name in ("Cid", "Ana", "Bob"):
        someone = person(actor, name, f"{name.lower()}@example.com")
        with store.unit_of_work(someone, write=True) as uow:
            uow.users.remember(someone)
    with store.unit_of_work(actor) as uow:
        assert [u["name"] for u in uow.users.list()] == ["Ana", "Bob", "Cid"]
    with store.unit_of_work(other(actor)) as uow:
        assert uow.users.list() == []


def test_a_user_without_a_name_is_listed_first(store: Store, actor: Actor) -> None:
    for name in ("Ana", None):
        someone = person(actor, name, "someone@example.com")
        with store.unit_of_work(someone, write=True) as uow:
            uow.users.remember(someone)
    with store.unit_of_work(actor) as uow:
        assert [u["name"] for u in uow.users.list()] == [None, "Ana"]


# ---------------------------------------------------------------- money


def test_money_settings_are_created_once_then_replaced_at_the_version_read(store: Store, actor: Actor) -> None:
    with store.unit_of_work(actor) as uow:
        assert uow.money.get() is None
    with store.unit_of_work(actor, write=True) as uow:
        first = uow.money.put({"currency": "EUR"}, None, "created")
    with pytest.raises(Contended), store.unit_of_work(actor, write=True) as uow:
        uow.money.put({"currency": "USD"}, None)  # a second creator decides again
    with store.unit_of_work(actor, write=True) as uow:
        found = uow.money.get()
        assert found is not None and found["settings"] == {"currency": "EUR"} and found["_etag"] == first["_etag"]
        second = uow.money.put({"currency": "GBP"}, found["_etag"], "changed")
    assert second["_etag"] and second["_etag"] != first["_etag"] and second["id"] == "settings"
    with store.unit_of_work(actor) as uow:
        assert uow.money.get()["settings"] == {"currency": "GBP"}  # type: ignore[index]
    with store.unit_of_work(other(actor)) as uow:
        assert uow.money.get() is None


def test_money_settings_at_a_stale_version_make_the_writer_decide_again(store: Store, actor: Actor) -> None:
    with store.unit_of_work(actor, write=True) as uow:
        first = uow.money.put({"currency": "EUR"}, None)
    with store.unit_of_work(actor, write=True) as uow:
        uow.money.get()
        uow.money.put({"currency": "GBP"}, first["_etag"])
    with pytest.raises(Contended), store.unit_of_work(actor, write=True) as uow:
        uow.money.get()
        uow.money.put({"currency": "USD"}, first["_etag"])
    with store.unit_of_work(actor) as uow:
        assert uow.money.get()["settings"] == {"currency": "GBP"}  # type: ignore[index]


# ---------------------------------------------------------------- access tokens


def token_fields(owner: Actor, name: str) -> dict[str, Any]:
    return {
        "owner_id": owner.user_id,
        "owner_email": owner.email,
        "name": name,
        "digest": uuid.uuid4().hex * 2,
        "hint": "tt_abcd",
        "read_only": False,
        "expires_at": None,
        "last_used_at": None,
        "revoked_at": None,
    }


def test_tokens_are_listed_newest_first_and_revoking_keeps_them_listed(store: Store, actor: Actor) -> None:
    colleague = person(actor, "Bob", "bob@example.com")
    ids = []
    for owner, name in ((actor, "first"), (colleague, "theirs"), (actor, "second")):
        token_id = uuid.uuid4().hex[:16]
        with store.unit_of_work(owner, write=True) as uow:
            added = uow.access_tokens.add(token_id, token_fields(owner, name))
        assert added["id"] == token_id and added["created_at"] and added["deleted"] is None
        ids.append(token_id)
        time.sleep(0.002)  # each in a millisecond of its own: the order is then certain
    with store.unit_of_work(actor, write=True) as uow:
        revoked = uow.access_tokens.revoke(ids[0], T0)
        assert uow.access_tokens.revoke(ids[0], T0 + 1)["revoked_at"] == T0  # once
    assert revoked["revoked_at"] == T0 and revoked["name"] == "first"
    with store.unit_of_work(actor) as uow:
        assert [t["name"] for t in uow.access_tokens.list()] == ["second", "theirs", "first"]
        mine = uow.access_tokens.list(actor.user_id)
        assert [(t["name"], t["revoked_at"]) for t in mine] == [("second", None), ("first", T0)]
        assert uow.access_tokens.get(ids[1])["owner_email"] == "bob@example.com"
        with pytest.raises(NotFound):
            uow.access_tokens.get(uuid.uuid4().hex[:16])
    with store.unit_of_work(other(actor)) as uow, pytest.raises(NotFound):
        uow.access_tokens.get(ids[0])


def test_a_token_use_is_recorded_without_a_new_version_where_the_engine_allows(store: Store, actor: Actor) -> None:
    token_id = uuid.uuid4().hex[:16]
    with store.unit_of_work(actor, write=True) as uow:
        uow.access_tokens.add(token_id, token_fields(actor, "used"))
    with store.unit_of_work(actor) as uow:
        before = uow.access_tokens.get(token_id)
    with store.unit_of_work(actor, write=True) as uow:
        uow.access_tokens.touch(before, T0)
    with store.unit_of_work(actor) as uow:
        after = uow.access_tokens.get(token_id)
    assert after["last_used_at"] == T0
    # Bookkeeping, not a change of the token: no new version where the engine can avoid one
    # (on Cosmos every write makes a new `_etag`; the contract allows it).
    assert after["_etag"] == before["_etag"] or store.engine_name == "cosmos"


# ---------------------------------------------------------------- events


def event(actor: Actor, minute: int, **extra: Any) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "tenant_id": actor.tenant_id,
        "item_id": "item-1",
        "container_id": "customer",
        "user_id": actor.user_id,
        "action": "update",
        "description": None,
        "session_id": None,
        "date": format_instant(T0 + minute * 60_000),
        **extra,
    }


def test_events_are_stored_once_and_listed_newest_first_page_by_page(store: Store, actor: Actor) -> None:
    events = [event(actor, minute) for minute in range(5)]
    events.append(event(actor, 10, item_id="item-2", action="delete", container_id="project"))
    assert store.record_events(events) == 6
    assert store.record_events(events[:2]) == 0  # delivered again: kept once
    seen: list[dict[str, Any]] = []
    token: str | None = None
    with store.unit_of_work(actor) as uow:
        for _ in range(10):
            page, token = uow.events.list(EventQuery(limit=2, continuation=token))
            assert len(page) <= 2
            seen += page
            if token is None:
                break
        assert [e["id"] for e in seen] == [e["id"] for e in reversed(events)]
        assert {k: seen[0][k] for k in events[-1]} == events[-1]

        def found(**query: Any) -> list[str]:
            return [e["id"] for e in uow.events.list(EventQuery(**query))[0]]

        assert found(item_id="item-2") == found(action="delete") == found(container_id="project") == [events[5]["id"]]
        assert found(start=T0 + 60_000, end=T0 + 3 * 60_000) == [events[2]["id"], events[1]["id"]]
        assert found(user_id=str(uuid.uuid4())) == []
    with store.unit_of_work(other(actor)) as uow:
        assert uow.events.list(EventQuery())[0] == []


# ---------------------------------------------------------------- Idempotency-Key claims


def claim(owner: str, created_at: int, state: str = "in_flight", locked_for: int = 60_000) -> IdempotencyClaim:
    return IdempotencyClaim("f" * 64, owner, state, created_at, created_at + locked_for, created_at + 86_400_000)


def test_a_key_is_claimed_once_and_its_first_response_is_kept(store: Store, actor: Actor) -> None:
    keys, key, now = store.idempotency, f"key-{uuid.uuid4()}", now_ms()
    assert keys.claim(actor.tenant_id, actor.user_id, key, claim("first", now)) is None
    held = keys.claim(actor.tenant_id, actor.user_id, key, claim("second", now + 1))
    assert held is not None and held.owner == "first" and held.state == "in_flight"
    assert keys.claim(actor.tenant_id, str(uuid.uuid4()), key, claim("other user", now)) is None
    keys.complete(actor.tenant_id, actor.user_id, key, "second", 500, {"wrong": True})  # not the holder
    keys.complete(actor.tenant_id, actor.user_id, key, "first", 201, {"id": "x"})
    done = keys.get(actor.tenant_id, actor.user_id, key)
    assert done is not None and (done.state, done.status, done.response, done.owner) == (
        "done",
        201,
        {"id": "x"},
        "first",
    )
    keys.release(actor.tenant_id, actor.user_id, key, "second")  # not the holder: kept
    assert keys.get(actor.tenant_id, actor.user_id, key) is not None
    keys.release(actor.tenant_id, actor.user_id, key, "first")
    assert keys.get(actor.tenant_id, actor.user_id, key) is None


def test_a_claim_whose_holder_is_presumed_dead_or_that_expired_is_taken_over(store: Store, actor: Actor) -> None:
    keys, key, now = store.idempotency, f"key-{uuid.uuid4()}", now_ms()
    keys.claim(actor.tenant_id, actor.user_id, key, claim("dead", now, locked_for=10))
    assert keys.claim(actor.tenant_id, actor.user_id, key, claim("next", now + 10)) is None
    assert keys.get(actor.tenant_id, actor.user_id, key).owner == "next"  # type: ignore[union-attr]
    keys.complete(actor.tenant_id, actor.user_id, key, "next", 200, {})
    still = keys.claim(actor.tenant_id, actor.user_id, key, claim("later", now + 20))
    assert still is not None and still.state == "done"  # a done claim holds until it expires
    assert keys.claim(actor.tenant_id, actor.user_id, key, claim("much later", now + 2 * 86_400_000)) is None
