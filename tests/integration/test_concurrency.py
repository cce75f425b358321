"""Rules that must hold when requests race, on every engine (real threads, real databases)."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import Client, token_for

RACERS = 20


def race(app: Any, token: str, action: Callable[[Client], Any]) -> Counter[int]:
    """Run `action` from RACERS threads released at once; count the status codes."""
    barrier = threading.Barrier(RACERS)
    statuses: list[int] = []
    lock = threading.Lock()

    def run() -> None:
        client = Client(app.test_client(), token)
        barrier.wait()
        response = action(client)
        with lock:
            statuses.append(response.status_code)

    threads = [threading.Thread(target=run) for _ in range(RACERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return Counter(statuses)


@pytest.fixture
def refs(admin: Client) -> dict[str, str]:
    customer = admin.post("/customers", {"name": "Race Inc."})
    project = admin.post("/projects", {"name": "Race", "customer_id": customer["id"]})
    activity = admin.post("/activities", {"name": "Racing"})
    return {"project_id": project["id"], "activity_id": activity["id"]}


def test_simultaneous_clock_ins_leave_exactly_one_running_entry(app: Any, tenant: str, refs: dict[str, str]) -> None:
    token = token_for(tenant)
    statuses = race(app, token, lambda c: c.http.post("/time-entries", json=refs, headers=c.headers()))
    assert statuses == Counter({201: 1, 409: RACERS - 1})
    me = Client(app.test_client(), token)
    assert me.get("/time-entries/running")["running"] is True
    assert len(me.get("/time-entries")) == 1


def test_simultaneous_overlapping_entries_leave_exactly_one(app: Any, tenant: str, refs: dict[str, str]) -> None:
    token = token_for(tenant)
    body = {**refs, "start_date": "2024-05-01T09:00:00Z", "end_date": "2024-05-01T10:00:00Z"}
    statuses = race(app, token, lambda c: c.http.post("/time-entries", json=body, headers=c.headers()))
    assert statuses == Counter({201: 1, 422: RACERS - 1})
    assert len(Client(app.test_client(), token).get("/time-entries?month=5&year=2024")) == 1


def test_simultaneous_puts_with_the_same_if_match_give_one_200(app: Any, tenant: str, refs: dict[str, str]) -> None:
    token = token_for(tenant)
    me = Client(app.test_client(), token)
    created = me.post(
        "/time-entries", {**refs, "start_date": "2024-05-01T09:00:00Z", "end_date": "2024-05-01T10:00:00Z"}
    )
    etag = me.last.headers["ETag"]
    path = f"/time-entries/{created['id']}"
    statuses = race(
        app, token, lambda c: c.http.put(path, json={"description": "mine"}, headers=c.headers({"If-Match": etag}))
    )
    assert statuses == Counter({200: 1, 412: RACERS - 1})


def test_simultaneous_restarts_and_clock_ins_never_give_two_running_entries(
    app: Any, tenant: str, refs: dict[str, str]
) -> None:
    token = token_for(tenant)
    me = Client(app.test_client(), token)
    old = me.post("/time-entries", {**refs, "start_date": "2024-05-01T09:00:00Z", "end_date": "2024-05-01T10:00:00Z"})
    counter = iter(range(RACERS))
    picks = threading.Lock()

    def action(client: Client) -> Any:
        with picks:
            n = next(counter)
        if n % 2:
            return client.http.post(f"/time-entries/{old['id']}/restart", headers=client.headers())
        return client.http.post("/time-entries", json=refs, headers=client.headers())

    statuses = race(app, token, action)
    assert statuses[200] + statuses[201] == 1
    running = [e for e in me.get("/time-entries?start_date=2024-01-01") if e["running"]]
    assert len(running) == 1


def test_catalogue_names_stay_unique_under_concurrent_creates(app: Any, tenant: str) -> None:
    token = token_for(tenant, admin=True)
    statuses = race(app, token, lambda c: c.http.post("/customers", json={"name": "Same"}, headers=c.headers()))
    assert statuses == Counter({201: 1, 409: RACERS - 1})
