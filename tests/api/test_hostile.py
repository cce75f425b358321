"""Hostile input: every protected operation refuses bad tokens; every operation on an id
refuses other tenants and non-owners, changing nothing; oversized bodies are refused."""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

import migrations
from commons.data_access_layer.sql import SqlStore
from tests.conftest import Client, settings_for_tests, token_for
from time_tracker_api import create_app

AUDIENCE, ISSUER, SECRET = "tt-api", "https://issuer.test/", "matrix-secret-" + "m" * 40


@pytest.fixture(scope="module")
def strict_app() -> Any:
    """An app that checks audience and issuer, so that wrong ones can be tried."""
    store = SqlStore("sqlite://")
    migrations.migrate(store)
    return create_app(settings_for_tests(jwt_secret=SECRET, jwt_audience=AUDIENCE, jwt_issuer=ISSUER), store=store)


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {
        "oid": "u-1",
        "tid": "t-1",
        "emails": ["u@example.com"],
        "aud": AUDIENCE,
        "iss": ISSUER,
        "exp": now + 600,
        "iat": now,
        "extension_role": "time-tracker-admin",
    }
    return {**base, **overrides}


def bad_tokens() -> dict[str, str | None]:
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return {
        "missing": None,
        "garbage": "not-a-token",
        "expired": jwt.encode(claims(exp=int(time.time()) - 3600), SECRET, algorithm="HS256"),
        "another key": jwt.encode(claims(), "another-secret-" + "x" * 40, algorithm="HS256"),
        "another algorithm": jwt.encode(claims(), other_key, algorithm="RS256"),
        "alg none": jwt.encode(claims(), key=None, algorithm="none"),
        "wrong audience": jwt.encode(claims(aud="someone-else"), SECRET, algorithm="HS256"),
        "wrong issuer": jwt.encode(claims(iss="https://evil.test/"), SECRET, algorithm="HS256"),
        "no user": jwt.encode({k: v for k, v in claims().items() if k != "oid"}, SECRET, algorithm="HS256"),
    }


def operations(app: Any) -> list[tuple[str, str]]:
    """(method, path) of every operation that needs a token, ids filled in."""
    spec = app.test_client().get("/swagger.json").get_json()
    found = []
    for path, methods in spec["paths"].items():
        for method, operation in methods.items():
            if method == "parameters" or operation.get("security") == []:
                continue
            found.append((method.upper(), re.sub(r"\{[^}]+\}", "x" + uuid.uuid4().hex[:8], path)))
    return found


def test_the_matrix_covers_every_protected_operation(strict_app: Any) -> None:
    ops = operations(strict_app)
    assert len(ops) >= 40 and ("PUT", "/time-entries/stop") in ops and ("GET", "/health") not in ops


@pytest.mark.parametrize("kind", list(bad_tokens()))
def test_every_protected_operation_answers_401_to_a_bad_token(strict_app: Any, kind: str) -> None:
    token = bad_tokens()[kind]
    client = strict_app.test_client()
    for method, path in operations(strict_app):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = client.open(path, method=method, headers=headers, json={"name": "x", "group_name": "g"})
        assert response.status_code == 401, (kind, method, path, response.get_data(as_text=True))
        assert response.get_json()["message"]


def test_a_good_token_passes_the_same_gate(strict_app: Any) -> None:
    token = jwt.encode(claims(tid=str(uuid.uuid4())), SECRET, algorithm="HS256")
    assert strict_app.test_client().get("/customers", headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_bodies_over_the_limit_are_413_json(app: Any) -> None:
    admin = Client(app.test_client(), token_for(str(uuid.uuid4()), admin=True))
    limit = app.config["MAX_CONTENT_LENGTH"]
    body = '{"name": "' + "x" * (limit + 10) + '"}'
    answer = admin.call("POST", "/customers", 413, data=body, headers={"Content-Type": "application/json"})
    assert "large" in answer["message"].lower()
    assert admin.get("/customers") == []


@pytest.fixture
def world(app: Any, tenant: str) -> dict[str, Any]:
    """One tenant's catalogue, an owner with an entry, a colleague, and an outsider."""
    admin = Client(app.test_client(), token_for(tenant, admin=True))
    owner_id = str(uuid.uuid4())
    owner = Client(app.test_client(), token_for(tenant, owner_id, email="owner@example.com"))
    colleague = Client(app.test_client(), token_for(tenant))
    colleague_admin = Client(app.test_client(), token_for(tenant, admin=True))
    outsider = Client(app.test_client(), token_for(str(uuid.uuid4()), admin=True))
    customer = admin.post("/customers", {"name": "C"})
    project = admin.post("/projects", {"name": "P", "customer_id": customer["id"]})
    ptype = admin.post("/project-types", {"name": "T"})
    activity = admin.post("/activities", {"name": "A"})
    tech = admin.post("/technologies", {"name": "py"})
    entry = owner.post(
        "/time-entries",
        {
            "project_id": project["id"],
            "activity_id": activity["id"],
            "start_date": "2024-05-01T09:00:00Z",
            "end_date": "2024-05-01T10:00:00Z",
        },
    )
    return {
        "admin": admin,
        "owner": owner,
        "colleague": colleague,
        "colleague_admin": colleague_admin,
        "outsider": outsider,
        "ids": {
            "customers": customer["id"],
            "projects": project["id"],
            "project-types": ptype["id"],
            "activities": activity["id"],
            "technologies": tech["id"],
            "time-entries": entry["id"],
            "users": owner_id,
        },
    }


def snapshot(world: dict[str, Any]) -> dict[str, Any]:
    ids, admin, owner = world["ids"], world["admin"], world["owner"]
    state = {
        name: admin.get(f"/{name}/{ids[name]}")
        for name in ("customers", "projects", "project-types", "activities", "technologies")
    }
    state["time-entries"] = owner.get(f"/time-entries/{ids['time-entries']}")
    state["users"] = admin.get(f"/users/{ids['users']}")
    return state


ID_OPERATIONS = (
    [
        (name, method, suffix)
        for name in ("customers", "projects", "project-types", "activities", "technologies")
        for method, suffix in (("GET", ""), ("PUT", ""), ("DELETE", ""))
    ]
    + [
        ("time-entries", method, suffix)
        for method, suffix in (("GET", ""), ("PUT", ""), ("DELETE", ""), ("POST", "/stop"), ("POST", "/restart"))
    ]
    + [
        ("users", method, suffix)
        for method, suffix in (
            ("GET", ""),
            ("POST", "/roles/admin/grant"),
            ("POST", "/roles/admin/revoke"),
            ("POST", "/admin/grant"),
            ("POST", "/groups/add"),
            ("POST", "/groups/remove"),
            ("POST", "/is-member-of"),
        )
    ]
)


def test_other_tenants_get_404_on_every_operation_on_an_id_and_change_nothing(world: dict[str, Any]) -> None:
    before = snapshot(world)
    for name, method, suffix in ID_OPERATIONS:
        response = world["outsider"].http.open(
            f"/{name}/{world['ids'][name]}{suffix}",
            method=method,
            headers=world["outsider"].headers(),
            json={"name": "stolen", "description": "x", "group_name": "time-tracker-admin", "status": "inactive"},
        )
        assert response.status_code == 404, (name, method, suffix, response.get_data(as_text=True))
    assert snapshot(world) == before


def test_non_owners_and_non_admins_of_the_same_tenant_get_403_and_change_nothing(world: dict[str, Any]) -> None:
    before = snapshot(world)
    body = {"name": "mine", "description": "x", "group_name": "time-tracker-admin", "status": "inactive"}
    for name, method, suffix in ID_OPERATIONS:
        if method == "GET" or suffix == "/is-member-of":
            continue  # reads of the shared catalogue and directory are for every user of the tenant
        path = f"/{name}/{world['ids'][name]}{suffix}"
        response = world["colleague"].http.open(path, method=method, headers=world["colleague"].headers(), json=body)
        assert response.status_code == 403, (name, method, suffix, response.get_data(as_text=True))
    entry = f"/time-entries/{world['ids']['time-entries']}"
    for method, suffix in (("GET", ""), ("PUT", ""), ("DELETE", ""), ("POST", "/stop"), ("POST", "/restart")):
        # Even an admin of the same tenant does not edit someone else's entry.
        response = world["colleague_admin"].http.open(
            entry + suffix, method=method, headers=world["colleague_admin"].headers(), json=body
        )
        assert response.status_code == 403, (method, suffix)
    assert snapshot(world) == before


def test_every_response_carries_the_security_headers(app: Any) -> None:
    admin = Client(app.test_client(), token_for(str(uuid.uuid4()), admin=True))
    swagger = app.test_client().get("/")
    answers = [swagger, app.test_client().get("/health/live"), admin.http.get("/customers", headers=admin.headers())]
    answers.append(admin.http.get("/nowhere", headers=admin.headers()))
    for response in answers:
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["X-Frame-Options"] == "DENY"
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert swagger.status_code == 200 and swagger.mimetype == "text/html"
    assert answers[2].headers["Cache-Control"] == "no-store" and answers[3].headers["Cache-Control"] == "no-store"
    assert answers[3].status_code == 404 and answers[3].get_json()["message"]
