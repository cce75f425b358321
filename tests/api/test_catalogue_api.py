"""Catalogue endpoints through the factory-built app, on every engine."""

from __future__ import annotations

import uuid

import pytest

from tests.conftest import Client, new_id, token_for

PATHS = ["/customers", "/project-types", "/activities", "/technologies"]


def make_customer(admin: Client, name: str = "Acme") -> dict:
    return admin.post("/customers", {"name": name, "description": "A customer"})


def make_project(admin: Client, name: str = "Website", **extra: object) -> dict:
    customer = extra.pop("customer", None) or make_customer(admin, f"Customer of {name}")
    return admin.post("/projects", {"name": name, "customer_id": customer["id"], **extra})


@pytest.mark.parametrize("path", PATHS)
def test_admin_creates_reads_updates_and_lists(admin: Client, path: str) -> None:
    created = admin.post(path, {"name": "Thing", "description": "d"} if path != "/technologies" else {"name": "Thing"})
    assert admin.last.headers["ETag"].strip('"')
    assert created["name"] == "Thing" and created["deleted"] is None and created["tenant_id"]
    assert admin.get(f"{path}/{created['id']}")["id"] == created["id"]
    updated = admin.put(f"{path}/{created['id']}", {"name": "Renamed"})
    assert updated["name"] == "Renamed"
    assert [i["name"] for i in admin.get(path)] == ["Renamed"]


@pytest.mark.parametrize("path", PATHS + ["/projects"])
def test_plain_users_read_but_cannot_write(admin: Client, user: Client, path: str) -> None:
    body = {"name": "Readable"}
    if path == "/projects":
        body["customer_id"] = make_customer(admin)["id"]
    item = admin.post(path, body)
    assert user.get(f"{path}/{item['id']}")["name"] == "Readable"
    # A valid body (a project names its customer): only the role refuses it.
    assert user.post(path, {**body, "name": "Nope"}, expect=403)["message"] == "You don't have enough permissions."
    user.put(f"{path}/{item['id']}", {"name": "Nope"}, expect=403)
    user.delete(f"{path}/{item['id']}", expect=403)
    assert admin.get(f"{path}/{item['id']}")["name"] == "Readable"


@pytest.mark.parametrize("path", PATHS + ["/projects", "/health"])
def test_trailing_slash_twins_work(admin: Client, path: str) -> None:
    admin.get(path + "/")


def test_customer_delete_deactivates_and_name_is_reusable(admin: Client) -> None:
    first = make_customer(admin, "Initech")
    admin.delete(f"/customers/{first['id']}")
    assert admin.get(f"/customers/{first['id']}")["status"] == "inactive"
    second = make_customer(admin, "Initech")
    assert {c["id"] for c in admin.get("/customers?status=active")} == {second["id"]}
    assert {c["id"] for c in admin.get("/customers?status=inactive")} == {first["id"]}
    admin.put(f"/customers/{first['id']}", {"status": "active"}, expect=409)


def test_duplicate_live_names_conflict(admin: Client) -> None:
    make_customer(admin, "Globex")
    assert admin.post("/customers", {"name": "globex"}, expect=409)["message"]


def test_project_type_and_technology_delete_hides_them(admin: Client) -> None:
    for path in ("/project-types", "/technologies"):
        item = admin.post(path, {"name": "gone"})
        admin.delete(f"{path}/{item['id']}")
        admin.get(f"{path}/{item['id']}", expect=404)
        admin.delete(f"{path}/{item['id']}", expect=404)
        assert admin.get(path) == []
        admin.post(path, {"name": "gone"})


def test_unknown_body_keys_are_ignored_not_stored(admin: Client) -> None:
    created = admin.post(
        "/customers",
        {"name": "Safe", "id": "chosen", "tenant_id": "other", "deleted": "x", "_etag": "e", "evil": 1},
    )
    assert created["id"] != "chosen" and created["tenant_id"] != "other" and created["deleted"] is None
    assert "evil" not in created
    again = admin.put(f"/customers/{created['id']}", {"id": "moved", "tenant_id": "other", "description": "ok"})
    assert again["id"] == created["id"] and again["tenant_id"] == created["tenant_id"]


def test_projects_carry_customer_and_project_type(admin: Client) -> None:
    customer = make_customer(admin, "Umbrella")
    ptype = admin.post("/project-types", {"name": "Fixed price", "customer_id": customer["id"]})
    project = admin.post(
        "/projects",
        {
            "name": "Vaccine",
            "customer_id": customer["id"],
            "project_type_id": ptype["id"],
            "technologies": ["go", "go"],
        },
    )
    assert project["customer"]["name"] == "Umbrella" and project["customer_name"] == "Umbrella"
    assert project["project_type"]["name"] == "Fixed price" and project["technologies"] == ["go"]
    assert project["status"] == "active"
    listed = admin.get(f"/projects?customer_id={customer['id']}")
    assert [p["id"] for p in listed] == [project["id"]] and listed[0]["project_type"]["name"] == "Fixed price"
    bare = admin.post("/projects", {"name": "Bare", "customer_id": customer["id"]})
    assert bare["project_type"] is None


def test_projects_of_an_inactive_customer_stay_listed_with_the_customer_status(admin: Client) -> None:
    live = make_project(admin, "Live")
    gone = make_project(admin, "Gone")
    admin.delete(f"/customers/{gone['customer_id']}")
    listed = {p["id"]: p for p in admin.get("/projects")}
    assert set(listed) == {live["id"], gone["id"]}
    assert listed[gone["id"]]["customer"]["status"] == "inactive" and listed[gone["id"]]["status"] == "active"
    assert admin.get(f"/projects/{gone['id']}")["customer"]["status"] == "inactive"
    assert [p["id"] for p in admin.get("/projects?customer_status=active")] == [live["id"]]
    assert [p["id"] for p in admin.get("/projects?customer_status=inactive")] == [gone["id"]]
    assert admin.get("/projects?customer_status=inactive&status=inactive") == []
    assert [p["id"] for p in admin.get(f"/projects?customer_id={gone['customer_id']}")] == [gone["id"]]


def test_project_status_filter_and_reactivation(admin: Client) -> None:
    project = make_project(admin, "Toggle")
    admin.delete(f"/projects/{project['id']}")
    assert admin.get("/projects?status=active") == []
    assert admin.get("/projects?status=inactive")[0]["status"] == "inactive"
    assert admin.put(f"/projects/{project['id']}", {"status": 1})["status"] == "active"


@pytest.mark.parametrize(
    "body, message",
    [
        ({"name": "No customer"}, "customer_id is a required property"),
        ({"name": "Null customer", "customer_id": None}, "None is not of type 'string'"),
        ({"name": "Blank customer", "customer_id": " "}, "customer_id can not be empty"),
        ({"name": "Ghost", "customer_id": str(uuid.uuid4())}, "Related customer does not exist"),
    ],
)
def test_projects_need_an_existing_customer(admin: Client, body: dict, message: str) -> None:
    answer = admin.post("/projects", body, expect=400)
    assert message in (answer["message"], answer.get("errors", {}).get("customer_id"))


def test_project_with_unknown_project_type_is_rejected(admin: Client) -> None:
    customer = make_customer(admin)
    body = {"name": "P", "customer_id": customer["id"], "project_type_id": str(uuid.uuid4())}
    assert "project type" in admin.post("/projects", body, expect=400)["message"]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"name": ""},
        {"name": "   "},
        {"name": 5},
        {"name": "x" * 51},
        {"name": "ok", "description": 5},
        {"name": "ok", "status": "archived"},
        [],
    ],
)
def test_invalid_customer_bodies_are_400_with_a_message(admin: Client, body: object) -> None:
    admin.post("/customers", body, expect=400)
    assert admin.get("/customers") == []


def test_malformed_json_is_400(admin: Client) -> None:
    body = admin.call("POST", "/customers", 400, data="{bad", headers={"Content-Type": "application/json"})
    assert "Malformed JSON" in body["message"]


def test_unknown_route_is_json_404(admin: Client) -> None:
    admin.get("/no-such-thing", expect=404)


def test_wrong_method_is_json_405(admin: Client) -> None:
    admin.call("PATCH", "/customers", 405)


def test_missing_token_is_401_and_garbage_token_is_401(anonymous: Client) -> None:
    anonymous.get("/customers", expect=401)
    anonymous.token = "garbage"
    assert anonymous.get("/customers", expect=401)["message"] == "Malformed token"


def test_token_header_of_the_newer_front_end_is_accepted(admin: Client) -> None:
    token, admin.token = admin.token, None
    admin.get("/customers", headers={"token": f"Bearer {token}"})


def test_if_match_guards_put_and_delete(admin: Client) -> None:
    created = make_customer(admin, "Guarded")
    etag = admin.last.headers["ETag"]
    admin.put(f"/customers/{created['id']}", {"description": "v2"}, headers={"If-Match": etag})
    fresh = admin.last.headers["ETag"]
    assert fresh != etag
    admin.put(f"/customers/{created['id']}", {"description": "v3"}, expect=412, headers={"If-Match": etag})
    admin.delete(f"/customers/{created['id']}", expect=412, headers={"If-Match": etag})
    admin.delete(f"/customers/{created['id']}", headers={"If-Match": fresh})
    assert admin.get(f"/customers/{created['id']}")["description"] == "v2"


def test_other_tenant_never_sees_or_changes_data(admin: Client, other_tenant_admin: Client) -> None:
    project = make_project(admin, "Secret")
    for path in ("/customers", "/projects"):
        assert other_tenant_admin.get(path) == []
    item = f"/projects/{project['id']}"
    other_tenant_admin.get(item, expect=404)
    other_tenant_admin.put(item, {"name": "Mine"}, expect=404)
    other_tenant_admin.delete(item, expect=404)
    other_tenant_admin.post("/projects", {"name": "X", "customer_id": project["customer_id"]}, expect=400)
    assert admin.get(item)["name"] == "Secret" and admin.get(item)["status"] == "active"


def test_health_needs_no_token_and_reports_the_store(anonymous: Client, engine: str) -> None:
    assert anonymous.get("/health") == {"status": "ok", "store": engine.removesuffix("-adverse")}


def test_swagger_ui_and_spec_are_public(anonymous: Client) -> None:
    response = anonymous.http.get("/")
    assert response.status_code == 200 and b"swagger" in response.data.lower()
    spec = anonymous.get("/swagger.json")
    assert spec["securityDefinitions"]["TimeTracker JWT"] == {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": spec["securityDefinitions"]["TimeTracker JWT"]["description"],
    }
    for path in ("/customers", "/projects/{id}", "/project-types", "/activities", "/technologies", "/health"):
        assert path in spec["paths"]


def test_cors_preflight_allows_the_front_end_headers(anonymous: Client) -> None:
    response = anonymous.http.options(
        "/customers",
        headers={
            "Origin": "http://localhost:4200",
            "Access-Control-Request-Method": "PUT",
            "Access-Control-Request-Headers": "authorization,content-type,token,if-match",
        },
    )
    allowed = response.headers["Access-Control-Allow-Headers"].lower()
    assert all(h in allowed for h in ("authorization", "content-type", "token", "if-match"))


def test_names_with_any_characters_work_on_every_engine(admin: Client) -> None:
    for name in ("C#", "R&D/Ops", "a\\\\b?", "Ünïcode ✓"):
        admin.post("/technologies", {"name": name})
        admin.post("/customers", {"name": name})
    admin.post("/technologies", {"name": "c#"}, expect=409)


def test_project_types_stay_a_tree(admin: Client) -> None:
    a = admin.post("/project-types", {"name": "A"})
    b = admin.post("/project-types", {"name": "B", "parent_id": a["id"]})
    assert "ancestor" in admin.put(f"/project-types/{a['id']}", {"parent_id": b["id"]}, expect=400)["message"]
    admin.put(f"/project-types/{a['id']}", {"parent_id": a["id"]}, expect=400)


@pytest.mark.parametrize("path", PATHS)
def test_every_create_answers_with_location_and_every_declared_field(admin: Client, path: str) -> None:
    created = admin.post(path, {"name": "Bare"})
    assert admin.last.headers["Location"] == f"{path}/{created['id']}"
    assert admin.get(admin.last.headers["Location"])["id"] == created["id"]
    model = admin.get("/swagger.json")["paths"][path]["post"]["responses"]["201"]["schema"]["$ref"].split("/")[-1]
    definitions = admin.get("/swagger.json")["definitions"]
    declared = {
        name
        for part in [definitions[model], *definitions[model].get("allOf", [])]
        for name in definitions.get(part.get("$ref", "").split("/")[-1], part).get("properties", {})
    }
    assert declared - set(created) == set()
    assert all(declared <= set(item) for item in admin.get(path))
    if "description" in declared:
        assert created["description"] is None


def test_validation_errors_name_the_field_without_help_text_or_regexes(admin: Client) -> None:
    blank = admin.post("/customers", {"name": ""}, expect=400)
    assert blank["errors"] == {"name": "name can not be empty"}
    missing = admin.post("/projects", {"name": "No customer"}, expect=400)
    assert missing["errors"] == {"customer_id": "customer_id is a required property"}
    bad = admin.get("/customers?status=gone", expect=400)
    assert set(bad["errors"]) == {"status"} and "Only customers" not in bad["message"]


def test_an_authorization_header_without_bearer_is_told_so(anonymous: Client) -> None:
    token = token_for(new_id(), admin=True)
    answer = anonymous.get("/customers", expect=401, headers={"Authorization": token})
    assert "lacks the 'Bearer ' prefix" in answer["message"]


def test_a_project_with_more_technologies_than_allowed_is_refused_not_cut(admin: Client) -> None:
    customer = make_customer(admin, "Many tools")
    too_many = [f"tool-{n}" for n in range(51)]
    body = admin.post(
        "/projects", {"name": "Toolbox", "customer_id": customer["id"], "technologies": too_many}, expect=400
    )
    assert "technologies" in body["message"] or "technologies" in body.get("errors", {})
    assert admin.get(f"/projects?customer_id={customer['id']}") == []
    kept = admin.post("/projects", {"name": "Toolbox", "customer_id": customer["id"], "technologies": too_many[:50]})
    assert kept["technologies"] == too_many[:50]
    admin.put(f"/projects/{kept['id']}", {"technologies": too_many}, expect=400)
    assert admin.get(f"/projects/{kept['id']}")["technologies"] == too_many[:50]
