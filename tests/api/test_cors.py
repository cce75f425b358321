"""CORS (Flask-CORS): browsers' cross-origin requests, which always carry an `Origin`, get the
allow header (their origin echoed) and the exposed headers the front end reads, error answers
included; requests without an `Origin` (servers, scripts, API Management) get none, as the
library's `always_send=False` says.
"""

from __future__ import annotations

import uuid
from typing import Any

from tests.conftest import Client, settings_for_tests, token_for
from time_tracker_api import create_app

UI = "http://localhost:4200"


def test_a_request_without_an_origin_gets_no_cors_headers(app: Any) -> None:
    admin = Client(app.test_client(), token_for(str(uuid.uuid4()), admin=True))
    for response in (
        admin.http.get("/customers", headers=admin.headers()),
        admin.http.get("/nowhere", headers=admin.headers()),
        app.test_client().get("/time-entries/running"),
    ):
        assert not [name for name, _ in response.headers if name.lower().startswith("access-control-")]
        assert response.status_code in (200, 401, 404)


def test_a_cross_origin_request_is_allowed_and_sees_the_headers_the_ui_reads(app: Any) -> None:
    admin = Client(app.test_client(), token_for(str(uuid.uuid4()), admin=True))
    created = admin.http.post("/customers", json={"name": "Acme"}, headers=admin.headers({"Origin": UI}))
    assert created.status_code == 201
    assert created.headers["Access-Control-Allow-Origin"] == UI
    exposed = {h.strip().lower() for h in created.headers["Access-Control-Expose-Headers"].split(",")}
    assert {"etag", "location", "idempotent-replayed", "sync-cursor"} <= exposed


def test_error_answers_to_a_cross_origin_request_are_readable_by_the_browser(app: Any) -> None:
    refused = app.test_client().get("/time-entries/running", headers={"Origin": UI})
    assert refused.status_code == 401 and refused.get_json()["message"]
    assert refused.headers["Access-Control-Allow-Origin"] == UI
    admin = Client(app.test_client(), token_for(str(uuid.uuid4()), admin=True))
    missing = admin.http.get("/customers/nope", headers=admin.headers({"Origin": UI}))
    assert missing.status_code == 404 and missing.headers["Access-Control-Allow-Origin"] == UI


def test_with_listed_origins_only_those_are_allowed(store: Any) -> None:
    app = create_app(settings_for_tests(cors_origins=(UI, "https://tt.example.com")), store=store)
    admin = Client(app.test_client(), token_for(str(uuid.uuid4()), admin=True))
    allowed = admin.http.get("/customers", headers=admin.headers({"Origin": UI}))
    assert allowed.headers["Access-Control-Allow-Origin"] == UI
    assert "Origin" in allowed.headers.get("Vary", "")
    foreign = admin.http.get("/customers", headers=admin.headers({"Origin": "https://evil.example"}))
    assert foreign.status_code == 200 and "Access-Control-Allow-Origin" not in foreign.headers
    preflight = app.test_client().options(
        "/time-entries", headers={"Origin": UI, "Access-Control-Request-Method": "POST"}
    )
    assert preflight.headers["Access-Control-Allow-Origin"] == UI
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
