"""The Microsoft Graph directory against a Graph-shaped HTTPS server on loopback: real HTTP,
real msal, real client code."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from commons.config import Settings
from commons.data_access_layer.events import Actor
from commons.directory.graph import GraphDirectory
from commons.domain.errors import BadGateway, Unavailable
from tests.conftest import HIGH_LIMITS, SECRET, Client, token_for
from tests.tools.fake_graph import ROLE, ROLE_TEST, FakeGraph
from tests.tools.postgres import free_port
from time_tracker_api import create_app

TENANT = str(uuid.uuid4())


@pytest.fixture
def graph(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGraph]:
    fake = FakeGraph(page_size=2)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(fake.ca_file))
    yield fake
    fake.close()


def graph_settings(fake: FakeGraph, **overrides: Any) -> Settings:
    return Settings(
        sql_database_uri="sqlite://",
        jwt_secret=SECRET,
        ms_client_id="client",
        ms_secret="secret",
        ms_authority=fake.authority,
        ms_scope="https://graph.microsoft.com/.default",
        ms_endpoint=fake.endpoint,
        ms_role_attribute=ROLE,
        ms_test_role_attribute=ROLE_TEST,
        **HIGH_LIMITS,
    ).with_overrides(**overrides)


@pytest.fixture
def directory(graph: FakeGraph) -> GraphDirectory:
    return GraphDirectory(graph_settings(graph))


def actor(user_id: str = "caller") -> Actor:
    return Actor(user_id=user_id, tenant_id=TENANT)


def test_token_is_acquired_once_and_cached(graph: FakeGraph, directory: GraphDirectory) -> None:
    user = graph.add_user("Ana", "ana@example.com")
    for _ in range(3):
        directory.get_user(actor(), user)
    assert graph.token_requests == 1


def test_listing_follows_every_page_and_maps_roles_and_groups(graph: FakeGraph, directory: GraphDirectory) -> None:
    ids = [graph.add_user(f"User {n}", f"u{n}@example.com") for n in range(5)]
    admin = graph.add_user("Boss", "boss@example.com", **{ROLE: "time-tracker-admin"})
    graph.add_group("backend", ids[0], admin)
    users = {u["id"]: u for u in directory.list_users(actor())}
    assert set(users) == {*ids, admin}
    assert users[admin]["roles"] == ["time-tracker-admin"] and users[admin]["groups"] == [
        "backend",
        "time-tracker-admin",
    ]
    assert users[ids[0]]["groups"] == ["backend"] and users[ids[1]]["email"] == "u1@example.com"
    assert sum(1 for method, path in graph.requests if path.startswith("/v1.0/users?")) == 3  # 6 users, pages of 2


def test_granting_patches_the_role_attribute(graph: FakeGraph, directory: GraphDirectory) -> None:
    user = graph.add_user("Ana", "ana@example.com")
    granted = directory.set_role(actor(), user, "admin", True)
    assert graph.users[user][ROLE] == "time-tracker-admin" and granted["groups"] == ["time-tracker-admin"]
    assert ("PATCH", f"/v1.0/users/{user}") in graph.requests
    revoked = directory.set_role(actor(), user, "admin", False)
    assert graph.users[user][ROLE] is None and revoked["roles"] == []


def test_group_add_and_remove_go_through_graph(graph: FakeGraph, directory: GraphDirectory) -> None:
    user = graph.add_user("Ana", "ana@example.com")
    group = graph.add_group("backend")
    assert directory.change_group(actor(), user, "backend", True)["groups"] == ["backend"]
    assert graph.groups[group]["members"] == [user]
    assert directory.change_group(actor(), user, "backend", True)["groups"] == ["backend"]  # already a member
    assert directory.change_group(actor(), user, "backend", False)["groups"] == []
    assert graph.groups[group]["members"] == []


def test_the_admin_group_is_the_admin_role(graph: FakeGraph, directory: GraphDirectory) -> None:
    user = graph.add_user("Ana", "ana@example.com")
    directory.change_group(actor(), user, "time-tracker-admin", True)
    assert graph.users[user][ROLE] == "time-tracker-admin"


def test_emails_are_one_batched_cached_call(graph: FakeGraph, directory: GraphDirectory) -> None:
    ids = [graph.add_user(f"User {n}", f"u{n}@example.com") for n in range(4)]
    assert directory.emails(actor(), ids) == {i: f"u{n}@example.com" for n, i in enumerate(ids)}
    directory.emails(actor(), ids)
    assert sum(1 for _, path in graph.requests if "getByIds" in path) == 1


def test_graph_errors_become_502_and_unreachable_becomes_503(graph: FakeGraph, directory: GraphDirectory) -> None:
    user = graph.add_user("Ana", "ana@example.com")
    graph.fail_with = 500
    with pytest.raises(BadGateway):
        directory.get_user(actor(), user)
    graph.fail_with = 429
    with pytest.raises(Unavailable):
        directory.get_user(actor(), user)
    dead = f"https://127.0.0.1:{free_port()}"
    unreachable = GraphDirectory(graph_settings(graph, ms_authority=f"{dead}/t", ms_endpoint=f"{dead}/v1.0"))
    began = time.monotonic()
    with pytest.raises(Unavailable):
        unreachable.get_user(actor(), user)
    assert time.monotonic() - began < 15


def test_the_api_starts_without_graph_and_answers_503_json(monkeypatch: pytest.MonkeyPatch, graph: FakeGraph) -> None:
    dead = f"https://127.0.0.1:{free_port()}"
    settings = graph_settings(graph, ms_authority=f"{dead}/tenant-1", ms_endpoint=f"{dead}/v1.0")
    app = create_app(settings)
    admin = Client(app.test_client(), token_for(TENANT, admin=True))
    assert "unreachable" in admin.get("/users", expect=503)["message"]
    admin.get("/health")  # the store is fine


def test_api_on_graph_lists_users_and_guards_changes(graph: FakeGraph) -> None:
    app = create_app(graph_settings(graph))
    import migrations

    migrations.migrate(app.extensions["time_tracker"].store)
    boss = graph.add_user("Boss", "boss@example.com", **{ROLE: "time-tracker-admin"})
    ana = graph.add_user("Ana", "ana@example.com")
    # The directory makes `boss` an admin although the token does not say so.
    as_boss = Client(app.test_client(), token_for(TENANT, boss))
    as_ana = Client(app.test_client(), token_for(TENANT, ana))
    assert {u["email"] for u in as_ana.get("/users")} == {"boss@example.com", "ana@example.com"}
    as_ana.post(f"/users/{boss}/roles/admin/revoke", expect=403)
    assert as_boss.post(f"/users/{ana}/roles/admin/grant", expect=200)["groups"] == ["time-tracker-admin"]
    as_boss.post("/customers", {"name": "Made by a directory admin"})
    as_boss.post(f"/users/{ana}/groups/add", {"group_name": "nope"}, expect=400)


def test_ids_that_are_not_guids_never_reach_graph(graph: FakeGraph, directory: GraphDirectory) -> None:
    from commons.domain.errors import NotFound

    for bad in ("..", "x?$filter=1", "a/b"):
        with pytest.raises(NotFound):
            directory.get_user(actor(), bad)
    assert not [path for _, path in graph.requests if "/users/" in path]


def test_report_owner_groups_are_named_with_the_directorys_emails_as_their_entries_are(graph: FakeGraph) -> None:
    app = create_app(graph_settings(graph))
    import migrations

    migrations.migrate(app.extensions["time_tracker"].store)
    boss = graph.add_user("Boss", "boss@example.com", **{ROLE: "time-tracker-admin"})
    ana = graph.add_user("Ana", "ana@example.com")
    as_boss = Client(app.test_client(), token_for(TENANT, boss))
    # Ana's token still carries the address she had when it was issued; the directory is right.
    as_ana = Client(app.test_client(), token_for(TENANT, ana, email="ana.old@example.com"))
    customer = as_boss.post("/customers", {"name": f"Acme {uuid.uuid4().hex[:6]}"})
    project = as_boss.post("/projects", {"name": "Website", "customer_id": customer["id"]})
    activity = as_boss.post("/activities", {"name": f"Dev {uuid.uuid4().hex[:6]}"})
    as_ana.post(
        "/time-entries",
        {
            "project_id": project["id"],
            "activity_id": activity["id"],
            "start_date": "2024-05-02T09:00:00Z",
            "end_date": "2024-05-02T10:00:00Z",
        },
    )
    report = as_boss.get("/time-entries/report?start_date=2024-05-01&end_date=2024-05-31&group_by=owner&user_id=*")
    assert [e["owner_email"] for e in report["entries"]] == ["ana@example.com"]
    assert [(g["key"], g["name"]) for g in report["totals"]] == [(ana, "ana@example.com")]
