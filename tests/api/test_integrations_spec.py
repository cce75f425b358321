"""The spec documents TT-15 with examples: sync parameters and the cursor header on every
list, Idempotency-Key on every POST (but token creation), the token endpoints."""

from __future__ import annotations

from typing import Any

from tests.conftest import settings_for_tests
from time_tracker_api import create_app

LISTS = ("/customers", "/project-types", "/projects", "/activities", "/technologies", "/time-entries")


def _spec() -> tuple[dict[str, Any], dict[str, Any]]:
    client = create_app(settings_for_tests()).test_client()
    return client.get("/swagger.json").get_json(), client.get("/openapi.json").get_json()


def test_every_list_documents_sync_with_an_example_and_its_cursor() -> None:
    swagger, openapi = _spec()
    for path in LISTS:
        operation = swagger["paths"][path]["get"]
        parameters = {p["name"]: p for p in operation["parameters"]}
        assert "updated_since" in parameters and "include_deleted" in parameters, path
        assert "Example: GET" in parameters["updated_since"]["description"], path
        assert "Sync-Cursor" in operation["responses"]["200"]["headers"], path
        assert "updated_since" in {p["name"] for p in openapi["paths"][path]["get"]["parameters"]}


def test_every_post_documents_idempotency_key_but_token_creation() -> None:
    swagger, openapi = _spec()
    for path, item in swagger["paths"].items():
        if "post" not in item:
            continue
        names = {p["name"] for p in item["post"].get("parameters", [])}
        if item["post"]["operationId"] == "create_access_token":
            assert "Idempotency-Key" not in names
            continue
        assert "Idempotency-Key" in names, path
        assert {"409", "422"} <= set(item["post"]["responses"]), path
    clock_in = openapi["paths"]["/time-entries"]["post"]
    header = next(p for p in clock_in["parameters"] if p["name"] == "Idempotency-Key")
    assert header["in"] == "header" and "Example" in header["description"]


def test_the_token_endpoints_are_documented() -> None:
    swagger, _ = _spec()
    assert {"get", "post"} <= set(swagger["paths"]["/users/{user_id}/tokens"])
    assert "delete" in swagger["paths"]["/users/{user_id}/tokens/{token_id}"]
    assert "get" in swagger["paths"]["/users/tokens"]
    created = swagger["definitions"]["AccessTokenCreated"]
    assert created["allOf"] or created.get("properties")
