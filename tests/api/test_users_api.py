"""/users on the local directory (the store), on every engine."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.conftest import Client, token_for


@pytest.fixture
def people(app: Any, tenant: str) -> dict[str, Any]:
    """An admin (by token) and two plain users who have called the API once."""
    ids = {name: str(uuid.uuid4()) for name in ("admin", "ana", "bob")}
    clients = {
        name: Client(
            app.test_client(),
            token_for(tenant, ids[name], admin=name == "admin", email=f"{name}@example.com", name=name.title()),
        )
        for name in ids
    }
    for client in clients.values():
        client.get("/customers")
    return {"ids": ids, **clients}


def test_users_are_recorded_when_they_first_call(people: dict) -> None:
    listed = people["ana"].get("/users")
    assert {u["email"] for u in listed} == {"admin@example.com", "ana@example.com", "bob@example.com"}
    ana = people["ana"].get(f"/users/{people['ids']['ana']}")
    assert ana == {
        "id": people["ids"]["ana"],
        "name": "Ana",
        "email": "ana@example.com",
        "roles": [],
        "groups": [],
        "tenant_id": ana["tenant_id"],
        "deleted": None,
    }


def test_granting_admin_shows_as_role_and_group_and_gives_admin_rights(people: dict) -> None:
    ana_id = people["ids"]["ana"]
    people["ana"].post("/customers", {"name": "Not yet"}, expect=403)
    granted = people["admin"].post(f"/users/{ana_id}/roles/admin/grant", expect=200)
    assert granted["roles"] == ["time-tracker-admin"] and granted["groups"] == ["time-tracker-admin"]
    people["ana"].post("/customers", {"name": "Now allowed"})
    revoked = people["admin"].post(f"/users/{ana_id}/admin/revoke", expect=200)
    assert revoked["roles"] == [] and revoked["groups"] == []
    people["ana"].post("/customers", {"name": "No longer"}, expect=403)


def test_the_admin_group_and_the_admin_role_always_agree(people: dict) -> None:
    bob_id = people["ids"]["bob"]
    added = people["admin"].post(f"/users/{bob_id}/groups/add", {"group_name": "time-tracker-admin"}, expect=200)
    assert added["roles"] == ["time-tracker-admin"] and "time-tracker-admin" in added["groups"]
    removed = people["admin"].post(f"/users/{bob_id}/groups/remove", {"group_name": "time-tracker-admin"}, expect=200)
    assert removed["roles"] == [] and removed["groups"] == []


def test_other_groups_and_membership(people: dict) -> None:
    bob_id = people["ids"]["bob"]
    after = people["admin"].post(f"/users/{bob_id}/groups/add", {"group_name": "backend"}, expect=200)
    assert after["groups"] == ["backend"]
    assert people["bob"].post(f"/users/{bob_id}/is-member-of", {"group_name": "backend"}, expect=200) == {"value": True}
    people["admin"].post(f"/users/{bob_id}/groups/remove", {"group_name": "backend"}, expect=200)
    assert people["bob"].post(f"/users/{bob_id}/is-member-of", {"group_name": "backend"}, expect=200) == {
        "value": False
    }


def test_test_users_are_hidden_from_non_testers(people: dict) -> None:
    bob_id = people["ids"]["bob"]
    people["admin"].post(f"/users/{bob_id}/roles/test/grant", expect=200)
    assert bob_id not in {u["id"] for u in people["ana"].get("/users")}
    assert bob_id in {u["id"] for u in people["bob"].get("/users")}


def test_a_test_user_is_hidden_from_non_testers_by_id_too(people: dict) -> None:
    bob_id = people["ids"]["bob"]
    people["admin"].post(f"/users/{bob_id}/roles/test/grant", expect=200)
    people["ana"].get(f"/users/{bob_id}", expect=404)
    people["ana"].post(f"/users/{bob_id}/is-member-of", {"group_name": "x"}, expect=404)
    assert people["bob"].get(f"/users/{bob_id}")["roles"] == ["time-tracker-tester"]


@pytest.mark.parametrize(
    "path, body",
    [
        ("roles/admin/grant", None),
        ("roles/admin/revoke", None),
        ("admin/grant", None),
        ("roles/test/grant", None),
        ("groups/add", {"group_name": "x"}),
        ("groups/remove", {"group_name": "x"}),
    ],
)
def test_every_change_needs_the_admin_role(people: dict, path: str, body: Any) -> None:
    bob_id = people["ids"]["bob"]
    people["ana"].post(f"/users/{bob_id}/{path}", body, expect=403)
    assert people["ana"].get(f"/users/{bob_id}")["roles"] == []


@pytest.mark.parametrize(
    "path, body, status",
    [
        ("roles/owner/grant", None, 400),
        ("groups/add", {}, 400),
        ("groups/add", {"group_name": ""}, 400),
        ("groups/add", {"group_name": 5}, 400),
        ("is-member-of", None, 400),
    ],
)
def test_bad_role_or_group_is_400_not_500(people: dict, path: str, body: Any, status: int) -> None:
    people["admin"].post(f"/users/{people['ids']['bob']}/{path}", body, expect=status)


def test_unknown_or_foreign_user_is_404(app: Any, people: dict) -> None:
    people["admin"].get(f"/users/{uuid.uuid4()}", expect=404)
    people["admin"].post(f"/users/{uuid.uuid4()}/roles/admin/grant", expect=404)
    stranger = Client(app.test_client(), token_for(str(uuid.uuid4()), admin=True))
    stranger.get(f"/users/{people['ids']['ana']}", expect=404)
    stranger.post(f"/users/{people['ids']['ana']}/roles/admin/grant", expect=404)
    assert all(u["id"] not in people["ids"].values() for u in stranger.get("/users"))


def test_reads_need_a_token(anonymous: Client) -> None:
    anonymous.get("/users", expect=401)
    anonymous.get(f"/users/{uuid.uuid4()}", expect=401)


def test_roles_survive_the_user_calling_again_from_a_fresh_process(app: Any, people: dict) -> None:
    ana_id = people["ids"]["ana"]
    people["admin"].post(f"/users/{ana_id}/roles/admin/grant", expect=200)
    store = app.extensions["time_tracker"].store
    if hasattr(store, "remembered"):  # the memory engine keeps no per-process cache of callers
        store.remembered.clear()  # as a new worker process would start
    people["ana"].get("/customers")
    assert people["ana"].get(f"/users/{ana_id}")["roles"] == ["time-tracker-admin"]
    people["ana"].post("/customers", {"name": "Still an admin"})


def test_a_revoke_holds_at_once_in_every_worker(store: Any, tenant: str) -> None:
    """Two apps on one store are two workers: a revoke through one is seen by the other on the
    very next request (no per-worker cache of the admin role)."""
    from tests.conftest import settings_for_tests
    from time_tracker_api import create_app

    worker_a, worker_b = (create_app(settings_for_tests(), store=store) for _ in range(2))
    ana_id = str(uuid.uuid4())
    ana_token = token_for(tenant, ana_id, email="ana@example.com")
    ana_a = Client(worker_a.test_client(), ana_token)
    boss_b = Client(worker_b.test_client(), token_for(tenant, admin=True))
    ana_a.get("/customers")
    boss_b.post(f"/users/{ana_id}/roles/admin/grant", expect=200)
    ana_a.post("/customers", {"name": "Allowed"})
    ana_a.get("/users")
    boss_b.post(f"/users/{ana_id}/roles/admin/revoke", expect=200)
    ana_a.post(f"/users/{ana_id}/roles/admin/grant", expect=403)
    ana_a.post("/customers", {"name": "Refused"}, expect=403)
    assert boss_b.get(f"/users/{ana_id}")["roles"] == []


def test_an_admin_by_token_sees_themself_as_admin_in_users(people: dict) -> None:
    me = people["ids"]["admin"]
    mine = people["admin"].get(f"/users/{me}")
    assert mine["roles"] == ["time-tracker-admin"] and mine["groups"] == ["time-tracker-admin"]
    listed = {u["id"]: u for u in people["admin"].get("/users")}
    assert listed[me]["groups"] == ["time-tracker-admin"]
    member = people["admin"].post(f"/users/{me}/is-member-of", {"group_name": "time-tracker-admin"}, expect=200)
    assert member == {"value": True}
    # Plain users are still plain, and the claim is the token's: nobody else's record changes.
    assert people["admin"].get(f"/users/{people['ids']['ana']}")["roles"] == []
