"""The time-entry rules hold across processes on Cosmos: 20 requests at once, served by two
gunicorn workers, each with its own CosmosClient (so no client holds another's session)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import COSMOS_KEY, ROOT, SECRET, token_for, unavailable
from tests.tools.postgres import free_port

RACERS = 20


@pytest.fixture(scope="module")
def served(cosmos_server: str | None) -> Iterator[str]:
    """The API under gunicorn, 2 workers x 4 threads, on the Cosmos stand-in."""
    if cosmos_server is None:
        unavailable("The Cosmos test server could not start")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SQL_", "COSMOS_", "DATABASE_", "JWT_"))}
    env.update(
        DATABASE_ACCOUNT_URI=str(cosmos_server),
        DATABASE_MASTER_KEY=COSMOS_KEY,
        DATABASE_NAME="tt-tests",
        COSMOS_ENDPOINT_DISCOVERY="false",
        JWT_SECRET=SECRET,
        WEB_CONCURRENCY="2",
        GUNICORN_THREADS="4",
        GUNICORN_ACCESS_LOG="",
        GUNICORN_BIND=f"127.0.0.1:{port}",
        PYTHONPATH=str(ROOT),
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--log-level", "warning", "api:app"],
        cwd=ROOT,
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(base + "/health/live", timeout=1).read()
            break
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                pytest.fail("gunicorn did not start")
            time.sleep(0.2)
    yield base
    proc.terminate()
    proc.wait(timeout=30)


def call(base: str, method: str, path: str, token: str, body: Any = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        base + path,
        data=data,
        method=method,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def race(base: str, token: str, method: str, path: str, body: Any) -> Counter[int]:
    barrier = threading.Barrier(RACERS)
    statuses: list[int] = []
    lock = threading.Lock()

    def run() -> None:
        barrier.wait()
        status, _ = call(base, method, path, token, body)
        with lock:
            statuses.append(status)

    threads = [threading.Thread(target=run) for _ in range(RACERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return Counter(statuses)


@pytest.fixture(scope="module")
def refs(served: str) -> tuple[str, dict[str, str]]:
    tenant = str(uuid.uuid4())
    admin = token_for(tenant, admin=True)
    _, customer = call(served, "POST", "/customers", admin, {"name": "Across workers"})
    _, project = call(served, "POST", "/projects", admin, {"name": "P", "customer_id": customer["id"]})
    _, activity = call(served, "POST", "/activities", admin, {"name": "A"})
    return tenant, {"project_id": project["id"], "activity_id": activity["id"]}


def test_clock_ins_racing_through_two_workers_leave_one_running_entry(
    served: str, refs: tuple[str, dict[str, str]]
) -> None:
    tenant, ids = refs
    token = token_for(tenant)
    assert race(served, token, "POST", "/time-entries", ids) == Counter({201: 1, 409: RACERS - 1})
    status, entries = call(served, "GET", "/time-entries", token)
    assert status == 200 and len(entries) == 1 and entries[0]["running"] is True


def test_overlapping_entries_racing_through_two_workers_leave_one(
    served: str, refs: tuple[str, dict[str, str]]
) -> None:
    tenant, ids = refs
    token = token_for(tenant)
    body = {**ids, "start_date": "2024-05-01T09:00:00Z", "end_date": "2024-05-01T10:00:00Z"}
    assert race(served, token, "POST", "/time-entries", body) == Counter({201: 1, 422: RACERS - 1})
    status, entries = call(served, "GET", "/time-entries?month=5&year=2024", token)
    assert status == 200 and len(entries) == 1
