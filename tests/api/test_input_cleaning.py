"""Hostile input is a 400 (or a 401, or a 413), never a 500 and never a silent empty change:
NUL characters, lone surrogates, deep nesting, malformed and non-object bodies, over-long
claims and fields, forged continuation tokens. On every engine."""

from __future__ import annotations

import base64
import io
import time
import uuid
from typing import Any

import jwt

from tests.conftest import SECRET, Client, token_for


def entry_world(admin: Client, user: Client) -> dict[str, Any]:
    customer = admin.post("/customers", {"name": "C"})
    project = admin.post("/projects", {"name": "P", "customer_id": customer["id"]})
    activity = admin.post("/activities", {"name": "A"})
    body = {
        "project_id": project["id"],
        "activity_id": activity["id"],
        "start_date": "2024-05-01T09:00:00Z",
        "end_date": "2024-05-01T10:00:00Z",
    }
    return {"body": body, "entry": user.post("/time-entries", body)}


def test_a_nul_character_in_the_path_or_the_query_is_400(admin: Client) -> None:
    admin.get("/customers/%00", expect=400)
    admin.get("/time-entries?uri=%00", expect=400)
    admin.get("/time-entries?start_date=2024-05-01%00", expect=400)


def test_a_nul_character_anywhere_in_a_json_body_is_400_and_nothing_is_stored(admin: Client, user: Client) -> None:
    world = entry_world(admin, user)
    user.post("/time-entries", {**world["body"], "description": "a\u0000b"}, expect=400)
    admin.post("/customers", {"name": "x\u0000"}, expect=400)
    admin.post("/customers", {"name": "fine", "x\u0000": 1}, expect=400)
    assert [c["name"] for c in admin.get("/customers")] == ["C"]


def test_a_lone_surrogate_in_a_body_is_400(admin: Client) -> None:
    admin.call("POST", "/customers", 400, data=b'{"name": "\\ud800"}', headers={"Content-Type": "application/json"})
    assert admin.get("/customers") == []


def test_json_nested_100k_deep_is_400(admin: Client) -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    admin.call("POST", "/customers", 400, data=deep, headers={"Content-Type": "application/json"})


def test_malformed_array_and_form_bodies_are_400_and_change_nothing(admin: Client, user: Client) -> None:
    world = entry_world(admin, user)
    path = f"/time-entries/{world['entry']['id']}"
    user.get(path)
    etag = user.last.headers["ETag"]
    json_type = {"Content-Type": "application/json"}
    user.call("PUT", path, 400, data=b'{"description": "x", ', headers=json_type)
    user.call("PUT", path, 400, data=b'[{"description": "x"}]', headers=json_type)
    user.call("PUT", path, 400, data=b"description=x", headers={"Content-Type": "application/x-www-form-urlencoded"})
    user.call("PUT", path, 400)
    user.get(path)
    assert user.last.headers["ETag"] == etag
    admin.call("POST", "/customers", 400, data=b'["x"]', headers=json_type)


def test_a_chunked_body_over_the_limit_is_413(app: Any, admin: Client) -> None:
    limit = app.config["MAX_CONTENT_LENGTH"]
    big = b'{"name": "' + b"x" * (limit + 10) + b'"}'
    response = admin.http.post(
        "/customers",
        input_stream=io.BytesIO(big),
        headers={**admin.headers(), "Content-Type": "application/json", "Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},  # as gunicorn says of chunked bodies
    )
    assert response.status_code == 413, response.get_data(as_text=True)
    assert "large" in response.get_json()["message"]


def test_over_long_catalogue_fields_are_400(admin: Client) -> None:
    admin.post("/technologies", {"name": "py", "creation_date": "x" * 300}, expect=400)
    admin.post("/technologies", {"name": "py", "first_use_time_entry_id": "x" * 300}, expect=400)
    admin.post("/projects", {"name": "P", "customer_id": "c" * 300}, expect=400)
    assert admin.get("/technologies") == []


def raw_token(tenant: str, **claims: Any) -> str:
    now = int(time.time())
    base = {"oid": str(uuid.uuid4()), "tid": tenant, "emails": ["a@example.com"], "exp": now + 600, "iat": now}
    return jwt.encode({**base, **claims}, SECRET, algorithm="HS256")


NEXT_DAY = {"start_date": "2024-05-02T09:00:00Z", "end_date": "2024-05-02T10:00:00Z"}


def test_a_256_character_name_claim_is_cut_not_a_500(app: Any, tenant: str, admin: Client) -> None:
    world = entry_world(admin, admin)
    long_name = Client(app.test_client(), raw_token(tenant, name="n" * 256, emails=["e" * 400 + "@x.io"]))
    long_name.post("/time-entries", {**world["body"], **NEXT_DAY})
    long_name.get("/time-entries?start_date=2024-05-01&end_date=2024-05-31")


def test_a_lone_surrogate_or_nul_in_a_name_claim_is_dropped_not_a_500(app: Any, tenant: str, admin: Client) -> None:
    world = entry_world(admin, admin)
    odd = Client(app.test_client(), raw_token(tenant, name="Ana \ud800 P\u0000rez"))
    odd.post("/time-entries", {**world["body"], **NEXT_DAY})


def test_an_over_long_or_unstorable_id_claim_is_401(app: Any, tenant: str) -> None:
    for claims in ({"oid": "u" * 37}, {"oid": "u\ud800"}, {"oid": "u\u0000"}, {"tid": "t" * 65}):
        Client(app.test_client(), raw_token(tenant, **claims)).get("/customers", expect=401)


def test_a_forged_events_continuation_is_400(admin: Client) -> None:
    for forged in (b'[1e300, "x"]', b'[1000000000000000000000000000000, "x"]', b'["1", "x"]', b"[1e999]"):
        token = base64.urlsafe_b64encode(forged).decode()
        admin.get(f"/events?continuation={token}", expect=400)


def test_a_bad_token_is_401_before_the_body_is_validated(app: Any, tenant: str) -> None:
    forged = jwt.encode({"oid": "u", "tid": tenant, "exp": int(time.time()) + 60}, "x" * 40, algorithm="HS256")
    for token in (None, forged):
        client = Client(app.test_client(), token)
        for path in ("/customers", "/projects", "/activities", "/project-types", "/technologies", "/time-entries"):
            client.post(path, {}, expect=401)
            client.call("POST", path, 401, data=b"{", headers={"Content-Type": "application/json"})


def test_the_catalogue_still_takes_a_good_body(admin: Client) -> None:
    assert admin.post("/customers", {"name": "Fine"})["name"] == "Fine"
    token_for(str(uuid.uuid4()))
