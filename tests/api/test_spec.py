"""The published contract: /swagger.json (Swagger 2.0) and /openapi.json (OpenAPI 3.1) validate
and say what a client generator and a newcomer need."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest
from openapi_spec_validator import OpenAPIV2SpecValidator, OpenAPIV31SpecValidator

from tests.conftest import Client, settings_for_tests
from time_tracker_api import create_app


@pytest.fixture(scope="module")
def specs() -> tuple[dict[str, Any], dict[str, Any]]:
    client = create_app(settings_for_tests()).test_client()
    swagger, openapi = client.get("/swagger.json"), client.get("/openapi.json")
    assert swagger.status_code == 200 and openapi.status_code == 200
    return swagger.get_json(), openapi.get_json()


def operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if method != "parameters"
    ]


def test_swagger_2_document_validates(specs: tuple[dict[str, Any], dict[str, Any]]) -> None:
    errors = [str(e).splitlines()[0] for e in OpenAPIV2SpecValidator(specs[0]).iter_errors()]
    assert errors == []


def test_openapi_3_1_document_validates_and_has_every_operation(specs: tuple[dict[str, Any], dict[str, Any]]) -> None:
    swagger, openapi = specs
    errors = [str(e).splitlines()[0] for e in OpenAPIV31SpecValidator(openapi).iter_errors()]
    assert errors == []
    assert openapi["openapi"].startswith("3.1")
    ids = lambda spec: sorted(o["operationId"] for _, _, o in operations(spec))  # noqa: E731
    assert ids(openapi) == ids(swagger)
    assert openapi["paths"]["/time-entries"]["post"]["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/TimeEntryInput"
    }
    # Component names may not hold spaces in OpenAPI 3: `TimeTracker JWT` is `TimeTracker_JWT`.
    assert openapi["components"]["securitySchemes"]["TimeTracker_JWT"]["in"] == "header"
    assert openapi["security"] == [{"TimeTracker_JWT": []}]


def test_no_type_lists_anyof_or_restx_boilerplate_in_swagger_2(specs: tuple[dict[str, Any], dict[str, Any]]) -> None:
    text = json.dumps(specs[0])
    assert '"type": [' not in text and '"anyOf"' not in text
    assert "ParseError" not in text and "MaskError" not in text
    nullable = specs[0]["definitions"]["TimeEntryInput"]["properties"]["end_date"]
    assert nullable["type"] == "string" and nullable["x-nullable"] is True


def test_operation_ids_are_unique_and_name_the_action(specs: tuple[dict[str, Any], dict[str, Any]]) -> None:
    ids = Counter(o["operationId"] for _, _, o in operations(specs[0]))
    assert [i for i, n in ids.items() if n > 1] == []
    by_route = {(m, p): o["operationId"] for m, p, o in operations(specs[0])}
    assert by_route[("get", "/time-entries")] == "list_time_entries"
    assert by_route[("post", "/time-entries")] == "clock_in"
    assert by_route[("post", "/time-entries/{id}/stop")] == "clock_out"
    assert by_route[("post", "/customers")] == "create_customer"
    assert by_route[("delete", "/project-types/{id}")] == "delete_project_type"
    assert by_route[("post", "/activities")] == "create_activity"


def test_every_operation_and_query_parameter_is_described(specs: tuple[dict[str, Any], dict[str, Any]]) -> None:
    for method, path, operation in operations(specs[0]):
        assert operation.get("summary") and operation.get("description"), (method, path)
        assert " a activity" not in operation["summary"]
        for parameter in operation.get("parameters", []):
            if parameter["in"] == "query":
                assert parameter.get("description"), (method, path, parameter["name"])


def test_each_error_response_has_an_example_of_its_own_status(specs: tuple[dict[str, Any], dict[str, Any]]) -> None:
    paths = specs[0]["paths"]

    def example(path: str, method: str, code: str) -> str:
        return str(paths[path][method]["responses"][code]["examples"]["application/json"]["message"])

    assert "bearer" in example("/customers", "get", "401").lower()
    assert example("/customers/{id}", "get", "404") == "Customer not found"
    assert example("/time-entries", "post", "409") == "You already have a running time entry; stop it first"
    assert example("/time-entries", "post", "422") == "There is another time entry in that date range"
    for method, path, operation in operations(specs[0]):
        for code, response in operation["responses"].items():
            assert response.get("description"), (method, path, code)
            if int(code) >= 400 and response.get("schema") == {"$ref": "#/definitions/Error"}:
                assert response["examples"]["application/json"]["message"], (method, path, code)


def test_every_operation_declares_the_front_layers_answers(specs: tuple[dict[str, Any], dict[str, Any]]) -> None:
    # The fuzz run found 400 (`?status=`) and 401 (the user changes) answered but undeclared.
    for method, path, operation in operations(specs[0]):
        responses = operation["responses"]
        assert "400" in responses, (method, path)
        assert ("401" in responses) == (operation.get("security", specs[0]["security"]) != []), (method, path)
        has_body = any(p["in"] == "body" for p in operation.get("parameters", []))
        assert ("413" in responses) == has_body, (method, path)
        assert ("429" in responses) != path.startswith("/health"), (method, path)
        for code in ("400", "401", "413", "429"):
            if code in responses:
                assert responses[code]["examples"]["application/json"]["message"], (method, path, code)


@pytest.mark.parametrize(
    "path", ["/users/{id}/groups/add", "/users/{id}/groups/remove", "/users/{id}/roles/test/grant"]
)
def test_user_changes_without_a_token_are_401_as_declared(anonymous: Client, path: str) -> None:
    answer = anonymous.post(path.format(id="someone"), {"group_name": "time-tracker-admin"}, expect=401)
    assert "bearer" in answer["message"].lower()


def test_a_bad_query_value_is_a_declared_400(admin: Client) -> None:
    assert admin.get("/activities?status=", expect=400)["errors"] == {
        "status": "The value '' is not a valid choice for 'status'."
    }
