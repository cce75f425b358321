"""Personal access tokens (`/users/me/tokens`) on every engine: shown once, hashed at rest,
the owner's rights, read-only, expiry, last use, revoked at once in every worker."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from commons.data_access_layer.events import Actor
from commons.domain.clock import format_instant
from tests.conftest import Client, settings_for_tests, token_for
from time_tracker_api import create_app


@pytest.fixture
def ana_id() -> str:
    return str(uuid.uuid4())


@pytest.fixture
def ana(app: Any, tenant: str, ana_id: str) -> Client:
    return Client(app.test_client(), token_for(tenant, ana_id, email="ana@example.com"))


def bearer(app: Any, token: str) -> Client:
    return Client(app.test_client(), token)


def test_a_token_is_shown_once_with_its_prefix_and_stored_only_as_a_digest(
    ana: Client, store: Any, tenant: str, ana_id: str
) -> None:
    created = ana.post("/users/me/tokens", {"name": "export script"})
    token = created["token"]
    assert token.startswith("ttp_") and created["hint"] == f"ttp_…{token[-4:]}"
    assert ana.last.headers["Location"].endswith(f"/users/me/tokens/{created['id']}")
    assert created["status"] == "active" and created["read_only"] is False and created["last_used_at"] is None
    listed = ana.get("/users/me/tokens")
    assert [t["id"] for t in listed] == [created["id"]]
    assert "token" not in listed[0] and "digest" not in listed[0]
    with store.unit_of_work(Actor(ana_id, tenant)) as uow:
        stored = uow.access_tokens.get(created["id"])
    secret = token.rsplit(".", 1)[1]
    assert secret not in str(stored) and len(stored["digest"]) == 64


def test_a_token_acts_with_its_owners_rights_and_records_its_last_use(
    app: Any, ana: Client, admin: Client, ana_id: str
) -> None:
    token = ana.post("/users/me/tokens", {"name": "script"})["token"]
    script = bearer(app, token)
    script.get("/customers")
    script.post("/customers", {"name": "Not an admin"}, expect=403)
    admin.post(f"/users/{ana_id}/roles/admin/grant", expect=200)
    script.post("/customers", {"name": "Now an admin"})
    assert script.get("/users/me/tokens")[0]["last_used_at"] is not None
    # The owner's entries are the token's entries.
    assert script.get("/time-entries") == []


def test_a_read_only_token_only_reads(app: Any, ana: Client) -> None:
    token = ana.post("/users/me/tokens", {"name": "dashboard", "read_only": True})["token"]
    reader = bearer(app, token)
    reader.get("/customers")
    answer = reader.post("/customers", {"name": "x"}, expect=403)
    assert "read-only" in answer["message"]
    reader.delete("/users/me/tokens/whatever", expect=403)


def test_an_expired_token_is_refused(app: Any, ana: Client) -> None:
    services = app.extensions["time_tracker"]
    real_clock = services.clock
    day = 86_400_000
    tomorrow = format_instant(real_clock() + day)
    created = ana.post("/users/me/tokens", {"name": "short", "expires_at": tomorrow})
    bearer(app, created["token"]).get("/customers")
    services.clock = lambda: real_clock() + 2 * day
    try:
        assert "expired" in bearer(app, created["token"]).get("/customers", expect=401)["message"]
    finally:
        services.clock = real_clock
    assert ana.get("/users/me/tokens")[0]["status"] == "active"
    ana.post("/users/me/tokens", {"name": "past", "expires_at": "2000-01-01T00:00:00Z"}, expect=400)
    ana.post("/users/me/tokens", {"name": "far", "expires_at": format_instant(real_clock() + 400 * day)}, expect=400)


@pytest.mark.parametrize(
    "body",
    [{}, {"name": " "}, {"name": "x" * 101}, {"name": "ok", "read_only": "yes"}, {"name": "ok", "expires_at": "soon"}],
)
def test_bad_token_input_is_a_400(ana: Client, body: dict) -> None:
    ana.post("/users/me/tokens", body, expect=400)


def test_forged_or_malformed_tokens_are_401(app: Any, ana: Client, tenant: str) -> None:
    token = ana.post("/users/me/tokens", {"name": "real"})["token"]
    head, secret = token.rsplit(".", 1)
    forged = head + "." + ("A" if secret[0] != "A" else "B") + secret[1:]
    for raw in (forged, "ttp_", "ttp_x.y.z", token + "x", token.replace("ttp_", "ttp_QQ", 1)):
        bearer(app, raw).get("/customers", expect=401)


def test_a_revoked_token_is_refused_at_once_in_every_worker(store: Any, tenant: str) -> None:
    """Two apps on one store are two workers: a revoke through one holds on the other's very
    next request (every use reads the token through the store)."""
    worker_a, worker_b = (create_app(settings_for_tests(), store=store) for _ in range(2))
    owner = Client(worker_a.test_client(), token_for(tenant, email="ana@example.com"))
    token = owner.post("/users/me/tokens", {"name": "ci"})["token"]
    on_a, on_b = bearer(worker_a, token), bearer(worker_b, token)
    on_a.get("/customers")
    on_b.get("/customers")
    token_id = owner.get("/users/me/tokens")[0]["id"]
    owner.delete(f"/users/me/tokens/{token_id}")
    assert "revoked" in on_b.get("/customers", expect=401)["message"]
    on_a.get("/customers", expect=401)
    assert owner.get("/users/me/tokens")[0]["status"] == "revoked"


def test_admins_list_and_revoke_any_token_of_their_tenant_only(
    app: Any, ana: Client, admin: Client, ana_id: str, other_tenant_admin: Client
) -> None:
    created = ana.post("/users/me/tokens", {"name": "ana's"})
    assert [t["id"] for t in admin.get("/users/tokens")] == [created["id"]]
    assert [t["id"] for t in admin.get(f"/users/{ana_id}/tokens")] == [created["id"]]
    ana.get("/users/tokens", expect=403)
    ana.get(f"/users/{uuid.uuid4()}/tokens", expect=403)
    assert other_tenant_admin.get("/users/tokens") == []
    other_tenant_admin.delete(f"/users/{ana_id}/tokens/{created['id']}", expect=404)
    admin.post(f"/users/{ana_id}/tokens", {"name": "for someone else"}, expect=403)
    admin.delete(f"/users/{ana_id}/tokens/{created['id']}")
    bearer(app, created["token"]).get("/customers", expect=401)


def test_a_token_can_not_mint_tokens(app: Any, ana: Client) -> None:
    token = ana.post("/users/me/tokens", {"name": "script"})["token"]
    bearer(app, token).post("/users/me/tokens", {"name": "child"}, expect=403)


def test_token_writes_are_audited(ana: Client, store: Any, tenant: str, ana_id: str) -> None:
    created = ana.post("/users/me/tokens", {"name": "audited"})
    ana.delete(f"/users/me/tokens/{created['id']}")
    with store.unit_of_work(Actor(ana_id, tenant)) as uow:
        revoked = uow.access_tokens.get(created["id"])
    assert revoked["revoked_at"] is not None


def test_a_token_and_its_owners_jwt_share_one_rate_limit_budget(store: Any, tenant: str) -> None:
    app = create_app(settings_for_tests(ratelimit_per_user="3/minute"), store=store)
    owner = Client(app.test_client(), token_for(tenant, email="ana@example.com"))
    token = owner.post("/users/me/tokens", {"name": "script"})["token"]
    script = bearer(app, token)
    script.get("/customers")
    owner.get("/customers")
    script.get("/customers", expect=429)


def test_a_token_is_accepted_in_the_token_header_too(app: Any, ana: Client) -> None:
    token = ana.post("/users/me/tokens", {"name": "ui"})["token"]
    response = app.test_client().get("/customers", headers={"token": token})
    assert response.status_code == 200


def test_using_a_token_keeps_the_owners_name_and_email_as_their_sign_in_left_them(
    app: Any, tenant: str, ana_id: str, admin: Client
) -> None:
    ana = Client(app.test_client(), token_for(tenant, ana_id, email="ana@example.com", name="Ana Pérez"))
    token = ana.post("/users/me/tokens", {"name": "script"})["token"]
    # Ana's address changes; her next sign-in records it.
    Client(app.test_client(), token_for(tenant, ana_id, email="ana@new.example", name="Ana Pérez")).get("/customers")
    bearer(app, token).get("/customers")
    admin.post("/activities", {"name": "Work"})
    seen = admin.get(f"/users/{ana_id}")
    assert (seen["email"], seen["name"]) == ("ana@new.example", "Ana Pérez")
