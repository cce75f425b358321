r"""The contract says what the service does: the rules that the stateful fuzz run
(tests/fuzz/test_stateful.py) found the service enforcing but /swagger.json not declaring,
each with the request that showed it (the answers before any resource: test_spec.py).

- "Not blank" is one pattern that means the same to JSON Schema (ECMA-262) validators and to
  the server's (Python `re`): a character that `str.strip()` keeps; `\S` did not (`\x1c`).
- Every rule the service enforces that Swagger 2.0 can state is declared: offset ranges, ids
  that are not blank and at most 36 characters, a project's customer (required, never null),
  an edit cannot empty start_date, role ids.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from commons.domain.clock import MAX_OFFSET_MINUTES
from tests.api.test_catalogue_api import make_customer
from tests.conftest import Client, settings_for_tests
from time_tracker_api import create_app
from time_tracker_api.inputs import NOT_BLANK


@pytest.fixture(scope="module")
def swagger() -> dict[str, Any]:
    return create_app(settings_for_tests()).test_client().get("/swagger.json").get_json()  # type: ignore[no-any-return]


def operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(m, p, o) for p, item in spec["paths"].items() for m, o in item.items() if m != "parameters"]


def parameter(spec: dict[str, Any], path: str, name: str, method: str = "get") -> dict[str, Any]:
    item = spec["paths"][path]
    found = [p for p in item[method].get("parameters", []) + item.get("parameters", []) if p["name"] == name]
    assert len(found) == 1, (path, name)
    return found[0]


def test_offsets_declare_the_range_the_service_accepts(swagger: dict[str, Any]) -> None:
    bounds = {"minimum": -MAX_OFFSET_MINUTES, "maximum": MAX_OFFSET_MINUTES}
    declared = [
        parameter(swagger, "/time-entries", "timezone_offset"),
        parameter(swagger, "/time-entries/latest", "timezone_offset"),
        parameter(swagger, "/time-entries/paginated", "timezone_offset"),
        parameter(swagger, "/time-entries/report", "timezone_offset"),
        parameter(swagger, "/time-entries/summary", "time_offset"),
        parameter(swagger, "/time-entries/summary", "timezone_offset"),
        parameter(swagger, "/events", "timezone_offset"),
        swagger["definitions"]["TimeEntryInput"]["properties"]["timezone_offset"],
    ]
    for schema in declared:
        assert {k: schema.get(k) for k in bounds} == bounds, schema


def test_ids_and_texts_declare_what_the_service_refuses(swagger: dict[str, Any]) -> None:
    definitions = swagger["definitions"]
    project = definitions["ProjectInput"]
    assert "customer_id" in project["required"]
    customer_id = project["properties"]["customer_id"]
    assert customer_id["pattern"] == NOT_BLANK and not customer_id.get("x-nullable") and customer_id["maxLength"] == 36
    for model, field in [
        ("ProjectInput", "project_type_id"),
        ("ProjectTypeInput", "customer_id"),
        ("ProjectTypeInput", "parent_id"),
        ("TechnologyInput", "first_use_time_entry_id"),
    ]:
        assert definitions[model]["properties"][field]["maxLength"] == 36, (model, field)
    assert definitions["ProjectInput"]["properties"]["technologies"]["items"]["maxLength"] == 255
    for model in ("TimeEntryInput", "TimeEntryUpdate"):
        for field in ("project_id", "activity_id"):
            assert definitions[model]["properties"][field]["pattern"] == NOT_BLANK, (model, field)
        assert definitions[model]["properties"]["uri"]["maxLength"] == 2000
    assert not definitions["TimeEntryUpdate"]["properties"]["start_date"].get("x-nullable")
    assert definitions["TimeEntryInput"]["properties"]["start_date"]["x-nullable"] is True
    assert parameter(swagger, "/users/{id}/roles/{role_id}/grant", "role_id", "post")["enum"] == ["admin", "test"]
    assert definitions["UserGroup"]["properties"]["group_name"]["pattern"] == NOT_BLANK
    for model in ("CustomerInput", "ActivityInput", "ProjectTypeInput", "TechnologyInput", "ProjectInput"):
        assert definitions[model]["properties"]["name"]["pattern"] == NOT_BLANK, model


def test_not_blank_is_what_strip_keeps_with_no_class_escapes() -> None:
    # No `\s`/`\S`/`\w`/`\d`: their sets differ between ECMA-262 and Python; `\t`, `\x1c` and
    # `\u1680` mean the same character in both.
    assert not re.search(r"\\[sSwWdD]", NOT_BLANK)
    pattern = re.compile(NOT_BLANK)
    kept = [c for c in map(chr, range(0x110000)) if pattern.search(c)]
    assert len(kept) == 0x110000 - 29 and all(c.strip() == c for c in kept)
    assert all(pattern.search(c) is None for c in map(chr, range(0x110000)) if c.isspace())


# The requests the fuzz run sent, each schema-valid under the old contract and refused: now the
# contract refuses them too, and the answer is still a 400 with a message.
@pytest.mark.parametrize(
    "path",
    [
        f"/time-entries?timezone_offset={MAX_OFFSET_MINUTES + 1}",
        f"/time-entries/paginated?timezone_offset={-MAX_OFFSET_MINUTES - 1}",
        f"/time-entries/summary?time_offset={MAX_OFFSET_MINUTES + 1}",
        f"/events?timezone_offset={MAX_OFFSET_MINUTES + 1}",
        "/activities?status=",
    ],
)
def test_query_values_outside_the_contract_are_400(admin: Client, path: str) -> None:
    assert admin.get(path, expect=400)["message"]


def test_offsets_at_the_bounds_are_accepted(admin: Client) -> None:
    assert admin.get(f"/time-entries?timezone_offset={MAX_OFFSET_MINUTES}") == []
    assert admin.get(f"/time-entries?timezone_offset={-MAX_OFFSET_MINUTES}") == []


@pytest.mark.parametrize("name", ["\x1c", " \x85\u3000 ", "\t"])
def test_names_of_only_whitespace_are_refused_as_the_contract_says(admin: Client, name: str) -> None:
    # The fuzz run's request: `{"name": "\x1c"}` matched the old `\S` for a JSON Schema validator.
    assert admin.post("/technologies", {"name": name}, expect=400)["errors"] == {"name": "name can not be empty"}


def test_ids_longer_than_declared_are_400(admin: Client) -> None:
    customer = make_customer(admin)
    answer = admin.post("/projects", {"name": "P", "customer_id": customer["id"] + "x"}, expect=400)
    assert set(answer["errors"]) == {"customer_id"}
    assert admin.post("/project-types", {"name": "T", "parent_id": "x" * 37}, expect=400)["errors"]


def test_an_edit_cannot_empty_the_start(user: Client, admin: Client) -> None:
    customer = make_customer(admin)
    project = admin.post("/projects", {"name": "P", "customer_id": customer["id"]})
    activity = admin.post("/activities", {"name": "A"})
    entry = user.post(
        "/time-entries",
        {
            "project_id": project["id"],
            "activity_id": activity["id"],
            "start_date": "2024-05-01T09:00:00Z",
            "end_date": "2024-05-01T10:00:00Z",
        },
    )
    assert user.put(f"/time-entries/{entry['id']}", {"start_date": None}, expect=400)["errors"] == {
        "start_date": "start_date can not be empty"
    }
