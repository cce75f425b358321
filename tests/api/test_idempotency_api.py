"""Idempotency-Key on POST (IETF httpapi draft) on every engine: the first response replayed,
another body 422, in flight 409, per tenant and user, and 20 parallel clock-ins with one key
making one entry and 20 identical responses."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import orjson
import pytest

from commons.data_access_layer.idempotency import IdempotencyClaim
from tests.conftest import Client, settings_for_tests, token_for
from time_tracker_api import create_app
from time_tracker_api.idempotency import fingerprint

RACERS = 20


def key() -> dict[str, str]:
    return {"Idempotency-Key": str(uuid.uuid4())}


@pytest.fixture
def refs(admin: Client) -> dict[str, str]:
    customer = admin.post("/customers", {"name": "Retry Inc."})
    project = admin.post("/projects", {"name": "Flaky network", "customer_id": customer["id"]})
    activity = admin.post("/activities", {"name": "Retrying"})
    return {"project_id": project["id"], "activity_id": activity["id"]}


def test_a_retried_create_replays_the_first_response_and_creates_once(admin: Client) -> None:
    headers = key()
    first = admin.post("/customers", {"name": "Once"}, headers=headers)
    location, etag = admin.last.headers["Location"], admin.last.headers["ETag"]
    again = admin.post("/customers", {"name": "Once"}, headers=headers)
    assert again == first
    assert admin.last.headers["Idempotent-Replayed"] == "true"
    assert (admin.last.headers["Location"], admin.last.headers["ETag"]) == (location, etag)
    assert [c["name"] for c in admin.get("/customers")] == ["Once"]


def test_the_same_key_with_another_body_is_422(admin: Client) -> None:
    headers = key()
    admin.post("/customers", {"name": "First"}, headers=headers)
    answer = admin.post("/customers", {"name": "Second"}, headers=headers, expect=422)
    assert "another request" in answer["message"]
    admin.post("/activities", {"name": "First"}, headers=headers, expect=422)


def test_spacing_and_key_order_do_not_make_another_body(admin: Client) -> None:
    headers = {**key(), "Content-Type": "application/json"}
    admin.call("POST", "/customers", 201, headers=headers, data=b'{"name": "A", "description": "d"}')
    admin.call("POST", "/customers", 201, headers=headers, data=b'{"description":"d","name":"A"}')
    assert admin.last.headers["Idempotent-Replayed"] == "true"


def test_a_key_still_in_flight_is_409(store: Any, tenant: str) -> None:
    app = create_app(settings_for_tests(idempotency_wait_seconds=0.2), store=store)
    user_id = str(uuid.uuid4())
    admin = Client(app.test_client(), token_for(tenant, user_id, admin=True))
    body = {"name": "Slow"}
    the_key = str(uuid.uuid4())
    now = app.extensions["time_tracker"].clock()
    held = IdempotencyClaim(
        fingerprint=fingerprint("POST", "/customers", b"", orjson.dumps(body)),
        owner="another-request",
        state="in_flight",
        created_at=now,
        locked_until=now + 60_000,
        expires_at=now + 86_400_000,
    )
    assert store.idempotency.claim(tenant, user_id, the_key, held) is None
    answer = admin.post("/customers", body, headers={"Idempotency-Key": the_key}, expect=409)
    assert "still being processed" in answer["message"]
    assert admin.get("/customers") == []


def test_keys_are_per_user(app: Any, tenant: str) -> None:
    headers = key()
    ana = Client(app.test_client(), token_for(tenant, admin=True))
    bob = Client(app.test_client(), token_for(tenant, admin=True))
    ana.post("/activities", {"name": "Ana's"}, headers=headers)
    bob.post("/activities", {"name": "Bob's"}, headers=headers)
    assert "Idempotent-Replayed" not in bob.last.headers
    assert len(ana.get("/activities")) == 2


def test_an_error_answer_is_replayed_too(user: Client, refs: dict[str, str]) -> None:
    headers = key()
    user.post("/time-entries", refs)
    first = user.post("/time-entries", refs, headers=headers, expect=409)
    assert user.post("/time-entries", refs, headers=headers, expect=409) == first
    assert user.last.headers["Idempotent-Replayed"] == "true"


def test_a_retried_stop_answers_the_stop_again_not_already_stopped(user: Client, refs: dict[str, str]) -> None:
    running = user.post("/time-entries", refs)
    headers = key()
    stopped = user.post(f"/time-entries/{running['id']}/stop", headers=headers, expect=200)
    assert user.post(f"/time-entries/{running['id']}/stop", headers=headers, expect=200) == stopped
    user.post(f"/time-entries/{running['id']}/stop", expect=422)


def test_a_key_is_replayed_for_24_hours_then_forgotten(app: Any, admin: Client) -> None:
    services = app.extensions["time_tracker"]
    real_clock = services.clock
    headers = key()
    admin.post("/customers", {"name": "Daily"}, headers=headers)
    services.clock = lambda: real_clock() + 23 * 3_600_000
    try:
        admin.post("/customers", {"name": "Daily"}, headers=headers)
        assert admin.last.headers["Idempotent-Replayed"] == "true"
        services.clock = lambda: real_clock() + 25 * 3_600_000
        admin.post("/customers", {"name": "Daily"}, headers=headers, expect=409)  # done again: a duplicate now
    finally:
        services.clock = real_clock


@pytest.mark.parametrize("value", ["", " ", "x" * 256, "naïve"])
def test_a_malformed_key_is_400(admin: Client, value: str) -> None:
    admin.post("/customers", {"name": "K"}, headers={"Idempotency-Key": value}, expect=400)


def test_twenty_parallel_clock_ins_with_one_key_make_one_entry_and_twenty_identical_answers(
    store: Any, tenant: str, refs: dict[str, str]
) -> None:
    """Across two workers (two apps on one store): the claim lives in the store."""
    # Waiters wait for the first request up to 30 s: the Cosmos stand-in on a shared 2-core box
    # can be slow, and a 409 there would say nothing about the rule.
    workers = [create_app(settings_for_tests(idempotency_wait_seconds=30), store=store) for _ in range(2)]
    token = token_for(tenant)
    headers = {"Authorization": f"Bearer {token}", **key()}
    barrier = threading.Barrier(RACERS)
    answers: list[tuple[int, bytes]] = []
    lock = threading.Lock()

    def clock_in(worker: Any) -> None:
        client = worker.test_client()
        barrier.wait()
        response = client.post("/time-entries", json=refs, headers=headers)
        with lock:
            answers.append((response.status_code, response.get_data()))

    threads = [threading.Thread(target=clock_in, args=(workers[n % 2],)) for n in range(RACERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(answers) == RACERS
    assert {status for status, _ in answers} == {201}
    assert len({body for _, body in answers}) == 1
    me = Client(workers[0].test_client(), token)
    assert len(me.get("/time-entries")) == 1
