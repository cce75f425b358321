"""Sync lists (`updated_since` + `include_deleted`) on every engine: change order, one cursor,
tombstones, pages, and a mirror built only from them that equals the tenant after 500 random
writes."""

from __future__ import annotations

import random
import time
import uuid
from typing import Any

import pytest

from commons.domain.clock import format_instant
from tests.conftest import Client, settings_for_tests, token_for
from time_tracker_api import create_app

EPOCH = "1970-01-01T00:00:00Z"
H = 3_600_000


@pytest.fixture
def app(store: Any) -> Any:
    # Changes are listed as soon as they are a millisecond old (the default waits 15 s).
    return create_app(settings_for_tests(sync_settle_seconds=0), store=store)


def settled() -> None:
    time.sleep(0.005)


def one_after_another(client: Client, path: str, names: list[str]) -> list[str]:
    """Items created in distinct milliseconds, their ids in creation order: changes within one
    millisecond follow by id (the sync order is updated_at, then id), which a fast write made
    happen to these tests now and then."""
    ids = []
    for name in names:
        ids.append(client.post(path, {"name": name})["id"])
        settled()
    return ids


def sync_all(client: Client, path: str, cursor: str = EPOCH, limit: int = 500, **params: Any) -> tuple[list, str]:
    """Every page from `cursor`; the items and the cursor to keep."""
    items: list[dict[str, Any]] = []
    while True:
        query = {"updated_since": cursor, "include_deleted": "true", "limit": limit, **params}
        page = client.get(path, query_string=query)
        cursor = client.last.headers["Sync-Cursor"]
        items += page
        if len(page) < limit:
            return items, cursor


def test_changes_come_oldest_first_with_a_cursor_for_what_follows(admin: Client) -> None:
    ids = one_after_another(admin, "/customers", [f"C{n}" for n in range(3)])
    settled()
    page = admin.get("/customers", query_string={"updated_since": EPOCH})
    assert [c["id"] for c in page] == ids
    assert all(c["updated_at"].endswith("Z") for c in page)
    cursor = admin.last.headers["Sync-Cursor"]
    assert admin.get("/customers", query_string={"updated_since": cursor}) == []
    assert admin.last.headers["Sync-Cursor"] == cursor
    admin.put(f"/customers/{ids[0]}", {"description": "changed"})
    settled()
    again = admin.get("/customers", query_string={"updated_since": cursor})
    assert [(c["id"], c["description"]) for c in again] == [(ids[0], "changed")]


def test_an_instant_is_inclusive_and_later_changes_only(admin: Client) -> None:
    admin.post("/activities", {"name": "Before"})
    settled()
    middle = admin.get("/activities", query_string={"updated_since": EPOCH})[0]["updated_at"]
    time.sleep(0.002)
    admin.post("/activities", {"name": "After"})
    settled()
    names = [a["name"] for a in admin.get("/activities", query_string={"updated_since": middle})]
    assert names == ["Before", "After"]


def test_deleted_items_are_tombstones_only_with_include_deleted(admin: Client) -> None:
    kept = admin.post("/technologies", {"name": "python"})
    gone = admin.post("/technologies", {"name": "cobol"})
    admin.delete(f"/technologies/{gone['id']}")
    settled()
    live = admin.get("/technologies", query_string={"updated_since": EPOCH})
    assert [t["id"] for t in live] == [kept["id"]]
    everything = admin.get("/technologies", query_string={"updated_since": EPOCH, "include_deleted": "true"})
    assert [(t["id"], t["deleted"] is not None) for t in everything] == [(kept["id"], False), (gone["id"], True)]


def test_deactivated_customers_are_listed_as_they_are(admin: Client) -> None:
    customer = admin.post("/customers", {"name": "Old"})
    admin.delete(f"/customers/{customer['id']}")
    settled()
    (listed,) = admin.get("/customers", query_string={"updated_since": EPOCH})
    assert listed["status"] == "inactive" and listed["deleted"] is None


def test_pages_follow_the_cursor_without_gaps_or_repeats(admin: Client) -> None:
    ids = one_after_another(admin, "/project-types", [f"T{n}" for n in range(7)])
    settled()
    items, _ = sync_all(admin, "/project-types", limit=3)
    assert [t["id"] for t in items] == ids


def test_time_entries_sync_with_names_tombstones_and_owners(app: Any, admin: Client, tenant: str) -> None:
    customer = admin.post("/customers", {"name": "Acme"})
    project = admin.post("/projects", {"name": "Web", "customer_id": customer["id"]})
    activity = admin.post("/activities", {"name": "Dev"})
    ana = Client(app.test_client(), token_for(tenant))
    body = {"project_id": project["id"], "activity_id": activity["id"]}
    kept = ana.post("/time-entries", {**body, "start_date": "2024-05-01T09:00:00Z", "end_date": "2024-05-01T10:00:00Z"})
    gone = ana.post("/time-entries", {**body, "start_date": "2024-05-02T09:00:00Z", "end_date": "2024-05-02T10:00:00Z"})
    ana.delete(f"/time-entries/{gone['id']}")
    settled()
    page = ana.get("/time-entries", query_string={"updated_since": EPOCH, "include_deleted": "true"})
    assert [(e["id"], e["deleted"] is not None) for e in page] == [(kept["id"], False), (gone["id"], True)]
    assert page[0]["project_name"] == "Web" and page[0]["customer_name"] == "Acme"
    assert admin.get("/time-entries", query_string={"updated_since": EPOCH}) == []
    everyone = admin.get("/time-entries", query_string={"updated_since": EPOCH, "user_id": "*"})
    assert [e["id"] for e in everyone] == [kept["id"]]
    ana.get("/time-entries", query_string={"updated_since": EPOCH, "user_id": "*"}, expect=403)


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("/customers", {"include_deleted": "true"}),
        ("/customers", {"updated_since": "yesterday"}),
        ("/customers", {"updated_since": "sync_not-a-cursor"}),
        ("/customers", {"updated_since": EPOCH, "status": "active"}),
        ("/customers", {"updated_since": EPOCH, "limit": 1001}),
        ("/time-entries", {"updated_since": EPOCH, "month": 5}),
        ("/time-entries", {"updated_since": EPOCH, "limit": 5000}),
        ("/time-entries", {"include_deleted": "true"}),
    ],
)
def test_malformed_sync_requests_are_400(admin: Client, path: str, query: dict) -> None:
    admin.get(path, query_string=query, expect=400)


def test_a_change_is_listed_once_it_has_settled(store: Any, tenant: str) -> None:
    app = create_app(settings_for_tests(sync_settle_seconds=0.5), store=store)
    admin = Client(app.test_client(), token_for(tenant, admin=True))
    admin.post("/customers", {"name": "Fresh"})
    assert admin.get("/customers", query_string={"updated_since": EPOCH}) == []
    cursor = admin.last.headers["Sync-Cursor"]
    time.sleep(0.6)
    assert [c["name"] for c in admin.get("/customers", query_string={"updated_since": cursor})] == ["Fresh"]


def test_plain_lists_are_unchanged(admin: Client) -> None:
    admin.post("/customers", {"name": "B"})
    admin.post("/customers", {"name": "A"})
    listed = admin.get("/customers")
    assert [c["name"] for c in listed] == ["A", "B"] and "updated_at" not in listed[0]
    assert "Sync-Cursor" not in admin.last.headers


class Mirror:
    """A client's copy of the tenant, fed only by sync pages (one cursor per list)."""

    LISTS = ("/customers", "/technologies", "/project-types", "/time-entries")

    def __init__(self, client: Client) -> None:
        self.client = client
        self.cursors = dict.fromkeys(self.LISTS, EPOCH)
        self.items: dict[str, dict[str, dict[str, Any]]] = {path: {} for path in self.LISTS}

    def pull(self) -> None:
        for path in self.LISTS:
            extra = {"user_id": "*"} if path == "/time-entries" else {}
            changed, self.cursors[path] = sync_all(self.client, path, self.cursors[path], limit=50, **extra)
            for item in changed:
                if item["deleted"] is not None:
                    self.items[path].pop(item["id"], None)
                else:
                    self.items[path][item["id"]] = item


def _comparable(item: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k not in ("updated_at", "owner_email")}


def test_a_mirror_built_only_from_sync_pages_equals_the_tenant_after_500_random_writes(
    app: Any, admin: Client, tenant: str
) -> None:
    rng = random.Random(15)
    customer = admin.post("/customers", {"name": "Base"})
    project = admin.post("/projects", {"name": "Base", "customer_id": customer["id"]})
    activity = admin.post("/activities", {"name": "Base"})
    users = [Client(app.test_client(), token_for(tenant)) for _ in range(2)]
    mirror = Mirror(admin)
    live: dict[str, list[str]] = {"/customers": [], "/technologies": [], "/project-types": []}
    entries: list[tuple[Client, str]] = []
    slot = [0]
    start = (int(time.time() * 1000) // H - 24 * 300) * H

    def new_entry() -> None:
        who = rng.choice(users)
        begin = start + slot[0] * H
        slot[0] += 1
        body = {
            "project_id": project["id"],
            "activity_id": activity["id"],
            "start_date": format_instant(begin),
            "end_date": format_instant(begin + H // 2),
        }
        entries.append((who, who.post("/time-entries", body)["id"]))

    def catalogue_write(path: str) -> None:
        ids = live[path]
        action = rng.choice(["create", "create", "update", "delete"]) if ids else "create"
        if action == "create":
            ids.append(admin.post(path, {"name": f"n{uuid.uuid4().hex[:12]}"})["id"])
        elif action == "update":
            admin.put(f"{path}/{rng.choice(ids)}", {"description": uuid.uuid4().hex})
        else:
            victim = ids.pop(rng.randrange(len(ids)))
            admin.delete(f"{path}/{victim}")
            if path == "/customers":
                ids.append(victim)  # deactivated: still there, and can change again

    for n in range(500):
        kind = rng.choice(["/customers", "/technologies", "/project-types", "entry"])
        if kind != "entry":
            catalogue_write(kind)
        elif not entries or rng.random() < 0.5:
            new_entry()
        elif rng.random() < 0.5:
            who, entry_id = rng.choice(entries)
            who.put(f"/time-entries/{entry_id}", {"description": uuid.uuid4().hex})
        else:
            who, entry_id = entries.pop(rng.randrange(len(entries)))
            who.delete(f"/time-entries/{entry_id}")
        if n % 37 == 0:
            settled()
            mirror.pull()
    settled()
    mirror.pull()

    for path in ("/customers", "/technologies", "/project-types"):
        actual = {item["id"]: _comparable(item) for item in admin.get(path)}
        assert {i: _comparable(item) for i, item in mirror.items[path].items()} == actual, path
    window = {"user_id": "*", "start_date": format_instant(start - H), "end_date": format_instant(start + 400 * H)}
    actual_entries = {e["id"]: _comparable(e) for e in admin.get("/time-entries", query_string=window)}
    assert len(actual_entries) == len(entries)
    assert {i: _comparable(e) for i, e in mirror.items["/time-entries"].items()} == actual_entries
