"""Rules that must hold when requests race, on every engine (real threads, real databases)."""

from __future__ import annotations

import threading
import uuid
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


@pytest.mark.parametrize("names", [("Same",), ("Ñandú", "ñandú", "ÑANDÚ")], ids=["same", "non-ascii-case"])
def test_catalogue_names_stay_unique_under_concurrent_creates(app: Any, tenant: str, names: tuple[str, ...]) -> None:
    """Racers create the same name, or the same name in other cases of its non-ASCII letters
    (which SQL's lower() does not fold): the unique index, not a check before it, decides."""
    token = token_for(tenant, admin=True)
    counter = iter(range(RACERS))
    picks = threading.Lock()

    def action(client: Client) -> Any:
        with picks:
            name = names[next(counter) % len(names)]
        return client.http.post("/customers", json={"name": name}, headers=client.headers())

    statuses = race(app, token, action)
    assert statuses == Counter({201: 1, 409: RACERS - 1})
    [kept] = Client(app.test_client(), token).get("/customers")
    assert kept["name"] in names


def pair(first: Callable[[], Any], second: Callable[[], Any]) -> list[int]:
    """Run two calls released at once; their status codes."""
    barrier = threading.Barrier(2)
    statuses: list[int] = []

    def run(call: Callable[[], Any]) -> None:
        barrier.wait()
        statuses.append(call().status_code)

    threads = [threading.Thread(target=run, args=(call,)) for call in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return statuses


def test_a_delete_racing_an_edit_without_if_match_never_answers_412(app: Any, tenant: str, refs: dict) -> None:
    token = token_for(tenant)
    me = Client(app.test_client(), token)
    deleter, editor = Client(app.test_client(), token), Client(app.test_client(), token)
    for day in range(1, 11):
        when = {"start_date": f"2024-05-{day:02d}T09:00:00Z", "end_date": f"2024-05-{day:02d}T10:00:00Z"}
        path = f"/time-entries/{me.post('/time-entries', {**refs, **when})['id']}"
        statuses = pair(
            lambda path=path: deleter.http.delete(path, headers=deleter.headers()),
            lambda path=path: editor.http.put(path, json={"description": "x"}, headers=editor.headers()),
        )
        assert 204 in statuses and set(statuses) <= {200, 204, 404}, statuses


def test_concurrent_reparenting_never_makes_a_project_type_cycle(app: Any, admin: Client) -> None:
    first, second = Client(app.test_client(), admin.token), Client(app.test_client(), admin.token)
    for _ in range(10):
        a = admin.post("/project-types", {"name": f"A-{uuid.uuid4().hex[:6]}"})["id"]
        b = admin.post("/project-types", {"name": f"B-{uuid.uuid4().hex[:6]}"})["id"]
        statuses = pair(
            lambda a=a, b=b: first.http.put(f"/project-types/{a}", json={"parent_id": b}, headers=first.headers()),
            lambda a=a, b=b: second.http.put(f"/project-types/{b}", json={"parent_id": a}, headers=second.headers()),
        )
        assert sorted(statuses) == [200, 400], statuses
