"""The audit trail: handler, Functions triggers, runner (outbox / change feed), GET /events."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from typing import Any

import azure.functions as func
import pytest

from commons.data_access_layer.events import Actor
from commons.data_access_layer.memory import MemoryStore
from commons.data_access_layer.repository import EventQuery, Store
from tests.conftest import COSMOS_KEY, DATABASES, ROOT, Client, module_cosmos_database, token_for
from time_tracker_events import function_app
from time_tracker_events.handler import events_from
from time_tracker_events.runner import QUIET_PAUSE_S, run

DECLARED = function_app.app.get_functions()  # indexes the app once (a second call refuses)
FUNCTIONS = {f.get_function_name(): f.get_user_function() for f in DECLARED}


#: The change feed of this module's writes only (see module_cosmos_database).
cosmos_store = module_cosmos_database("cosmos_server")
cosmos_adverse_store = module_cosmos_database("cosmos_adverse_server", discovery=True)


def ctx(action: str, description: str | None = None, tenant: str = "t-1") -> dict[str, Any]:
    return {
        "event_id": uuid.uuid4().hex,
        "user_id": "u-1",
        "tenant_id": tenant,
        "action": action,
        "description": description,
        "container_id": "time_entry",
        "session_id": None,
        "date": "2024-05-01T09:30:00.000Z",
    }


def doc(tenant: str, context: dict[str, Any] | None, **extra: Any) -> dict[str, Any]:
    body = {"id": str(uuid.uuid4()), "tenant_id": tenant, "_rid": "r", "_etag": "e", "_ts": 1714555800, **extra}
    if context is not None:
        body["_last_event_ctx"] = context
    return body


def events_of(store: Store, tenant: str, **filters: Any) -> list[dict[str, Any]]:
    with store.unit_of_work(Actor("reader", tenant)) as uow:
        found, _ = uow.events.list(EventQuery(limit=500, **filters))
    return found


def test_the_handler_maps_a_change_to_one_event() -> None:
    context = ctx("update", "Stop time entry")
    change = doc("t-1", context, end_at=5)
    [event] = events_from([change], "time_entry")
    assert event == {
        "id": str(uuid.UUID(context["event_id"])),
        "tenant_id": "t-1",
        "user_id": "u-1",
        "action": "update",
        "description": "Stop time entry",
        "item_id": change["id"],
        "container_id": "time_entry",
        "session_id": None,
        "date": "2024-05-01T09:30:00.000Z",
    }


def test_documents_without_context_are_skipped_not_fatal(caplog: pytest.LogCaptureFixture) -> None:
    good = doc("t-1", ctx("create"))
    events = events_from([doc("t-1", None), doc("t-1", {"event_id": "not-a-uuid"}), {"no": "id"}, good], "customer")
    assert [e["item_id"] for e in events] == [good["id"]]
    assert "skipped" in caplog.text


@pytest.fixture
def functions_store(store: Store, monkeypatch: pytest.MonkeyPatch) -> Store:
    monkeypatch.setattr(function_app, "store", lambda: store)
    return store


def test_invocations_starting_at_once_share_one_store(monkeypatch: pytest.MonkeyPatch) -> None:
    """The functions worker runs invocations on a thread pool: the first ones, at once, wait
    for one store to be built (each built its own, and their clients were never closed)."""
    built: list[MemoryStore] = []

    def build(_settings: Any) -> MemoryStore:
        time.sleep(0.05)  # a client being set up
        built.append(MemoryStore())
        return built[-1]

    monkeypatch.setattr(function_app, "build_store", build)
    function_app._built.cache_clear()
    got: list[Store] = []
    threads = [threading.Thread(target=lambda: got.append(function_app.store())) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    function_app._built.cache_clear()
    assert len(built) == 1 and got == built * 6


@pytest.mark.parametrize("container", ["customer", "project_type", "project", "activity", "technology", "time_entry"])
def test_each_trigger_stores_create_update_and_soft_delete_events(functions_store: Store, container: str) -> None:
    tenant = str(uuid.uuid4())
    item = str(uuid.uuid4())
    changes = [
        {**doc(tenant, ctx("create", tenant=tenant)), "id": item},
        {**doc(tenant, ctx("update", tenant=tenant)), "id": item},
        {**doc(tenant, ctx("delete", tenant=tenant)), "id": item, "deleted": str(uuid.uuid4())},
        doc(tenant, None),
    ]
    documents = func.DocumentList([func.Document.from_dict(c) for c in changes])
    FUNCTIONS[f"handle_{container}_events"](documents)
    stored = events_of(functions_store, tenant)
    assert sorted(e["action"] for e in stored) == ["create", "delete", "update"]
    assert {e["item_id"] for e in stored} == {item}


def test_a_batch_delivered_twice_is_stored_once(functions_store: Store) -> None:
    tenant = str(uuid.uuid4())
    documents = func.DocumentList(
        [func.Document.from_dict(doc(tenant, ctx("create", tenant=tenant))) for _ in range(3)]
    )
    FUNCTIONS["handle_customer_events"](documents)
    FUNCTIONS["handle_customer_events"](documents)
    assert len(events_of(functions_store, tenant)) == 3


def write_some(app: Any, tenant: str) -> dict[str, Any]:
    """API writes whose events the runner must produce."""
    admin = Client(app.test_client(), token_for(tenant, admin=True, email="admin@example.com"))
    customer = admin.post("/customers", {"name": "Audited"})
    admin.put(f"/customers/{customer['id']}", {"description": "v2"})
    project = admin.post("/projects", {"name": "P", "customer_id": customer["id"]})
    activity = admin.post("/activities", {"name": "A"})
    entry = admin.post("/time-entries", {"project_id": project["id"], "activity_id": activity["id"]})
    admin.post(f"/time-entries/{entry['id']}/stop", expect=200)
    admin.post(f"/time-entries/{entry['id']}/restart", expect=200)
    admin.delete(f"/time-entries/{entry['id']}")
    admin.delete(f"/customers/{customer['id']}")
    return {"customer": customer["id"], "entry": entry["id"]}


EXPECTED = {
    ("customer", "create", None),
    ("customer", "update", None),
    ("customer", "delete", None),
    ("project", "create", None),
    ("activity", "create", None),
    ("time_entry", "create", None),
    ("time_entry", "update", "Stop time entry"),
    ("time_entry", "update", "Restart time entry"),
    ("time_entry", "delete", None),
}


def test_runner_crash_between_storing_and_checkpoint_loses_and_duplicates_nothing(
    app: Any, store: Store, tenant: str
) -> None:
    write_some(app, tenant)
    name = f"crash-{uuid.uuid4().hex[:8]}"

    class Crash(Exception):
        pass

    def crash() -> None:
        raise Crash

    with pytest.raises(Crash):
        run(store, name, once=True, batch_size=100_000, after_store=crash)
    run(store, name, once=True, batch_size=100_000)
    run(store, name, once=True, batch_size=100_000)
    stored = events_of(store, tenant)
    assert len(stored) == len(EXPECTED)
    assert {(e["container_id"], e["action"], e["description"]) for e in stored} == EXPECTED


def engine_env(engine: str, request: pytest.FixtureRequest) -> dict[str, str]:
    if engine == "sqlite":
        return {"SQL_DATABASE_URI": str(request.getfixturevalue("sqlite_store").url)}
    if engine == "postgresql":
        return {"SQL_DATABASE_URI": request.getfixturevalue("postgres").url}
    return {
        "DATABASE_ACCOUNT_URI": request.getfixturevalue(
            "cosmos_server" if engine == "cosmos" else "cosmos_adverse_server"
        ),
        "DATABASE_MASTER_KEY": COSMOS_KEY,
        "DATABASE_NAME": request.getfixturevalue("store").database_name,
        "COSMOS_ENDPOINT_DISCOVERY": "false" if engine == "cosmos" else "true",
    }


@pytest.mark.parametrize("engine", DATABASES)  # a cli.py process cannot see this one's memory store
def test_end_to_end_api_writes_then_cli_runner_then_get_events(
    app: Any, store: Store, tenant: str, engine: str, request: pytest.FixtureRequest, tmp_path: Any
) -> None:
    ids = write_some(app, tenant)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SQL_", "COSMOS_", "DATABASE_", "JWT_"))}
    env.update(engine_env(engine, request), PYTHONPATH=str(ROOT))
    result = subprocess.run(
        [sys.executable, str(ROOT / "cli.py"), "events", "run", "--once", "--name", f"e2e-{uuid.uuid4().hex[:8]}"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    admin = Client(app.test_client(), token_for(tenant, admin=True))
    page = admin.get("/events?limit=500")
    assert {(e["container_id"], e["action"], e["description"]) for e in page["data"]} == EXPECTED
    assert len(page["data"]) == len(EXPECTED) and page["continuation"] is None
    dates = [e["date"] for e in page["data"]]
    assert dates == sorted(dates, reverse=True) and all(d.endswith("Z") for d in dates)
    of_entry = admin.get(f"/events?item_id={ids['entry']}")["data"]
    assert sorted(e["description"] or "" for e in of_entry) == ["", "", "Restart time entry", "Stop time entry"]
    assert len(admin.get("/events?action=create")["data"]) == 4
    assert len(admin.get("/events?container_id=customer")["data"]) == 3
    first = admin.get("/events?limit=4")
    second = admin.get(f"/events?limit=4&continuation={first['continuation']}")
    assert (
        len(first["data"]) == 4
        and first["continuation"]
        and not {e["id"] for e in first["data"]} & {e["id"] for e in second["data"]}
    )
    Client(app.test_client(), token_for(tenant)).get("/events", expect=403)
    admin.get("/events?continuation=garbage", expect=400)


def test_personal_access_tokens_created_and_revoked_are_in_the_audit_trail(app: Any, store: Store, tenant: str) -> None:
    name = f"tokens-{uuid.uuid4().hex[:8]}"
    run(store, name, once=True, batch_size=100_000)  # skip what earlier tests wrote
    ana = Client(app.test_client(), token_for(tenant))
    created = ana.post("/users/me/tokens", {"name": "export script"})
    ana.delete(f"/users/me/tokens/{created['id']}", expect=204)
    run(store, name, once=True, batch_size=100_000)
    admin = Client(app.test_client(), token_for(tenant, admin=True))
    events = admin.get(f"/events?item_id={created['id']}")["data"]
    assert {e["container_id"] for e in events} == {"access_token"}
    assert sorted(e["action"] for e in events)[0] == "create" and len(events) == 2
    assert all(created["token"] not in json.dumps(e) for e in events), "the token itself is never logged"


def test_a_runner_reading_while_writers_commit_misses_nothing(app: Any, store: Store, tenant: str, engine: str) -> None:
    import threading

    admin = token_for(tenant, admin=True)
    name = f"live-{uuid.uuid4().hex[:8]}"
    run(store, name, once=True, batch_size=100_000)  # skip what earlier tests wrote
    done = threading.Event()

    def write(worker: int) -> None:
        client = Client(app.test_client(), admin)
        for n in range(15):
            client.post("/technologies", {"name": f"tech-{worker}-{n}"})

    def read() -> None:
        while not done.is_set():
            run(store, name, once=True, batch_size=7)

    writers = [threading.Thread(target=write, args=(w,)) for w in range(4)]
    reader = threading.Thread(target=read)
    reader.start()
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join()
    done.set()
    reader.join()
    run(store, name, once=True, batch_size=100_000)
    assert len(events_of(store, tenant, container_id="technology")) == 60


def test_changes_read_in_pages_of_seven_are_each_delivered_once_across_a_restart(
    app: Any, store: Store, tenant: str
) -> None:
    """The batch size bounds each page (Cosmos's change feed never splits the changes of one
    transactional batch, so a page may pass it by the rest of one write: item, guard, event);
    a runner that stops after any page and starts again delivers every change exactly once."""
    name = f"pages-{uuid.uuid4().hex[:8]}"
    run(store, name, once=True, batch_size=100_000)  # skip what earlier tests wrote
    admin = Client(app.test_client(), token_for(tenant, admin=True))
    for n in range(30):
        admin.post("/technologies", {"name": f"paged-{n}"})
    pages: list[int] = []
    feed = store.change_feed(name)
    quiet = 0
    while quiet < 2:  # a replica may say "nothing new" before it has caught up (runner.QUIET_READS)
        batch, position = feed.read(7)
        assert len(batch) < 7 + 3
        pages.append(len(batch))
        from time_tracker_events.runner import handle_page

        handle_page(store, batch)
        feed.commit(position)
        feed = store.change_feed(name)  # a restart after every page
        quiet = quiet + 1 if not batch else 0
        if quiet:
            time.sleep(QUIET_PAUSE_S)
    stored = events_of(store, tenant, container_id="technology")
    assert len(stored) == 30 and len({e["item_id"] for e in stored}) == 30
    assert len(pages) >= 30 // 7


def test_every_write_of_a_document_between_two_feed_reads_gives_its_own_event(
    app: Any, store: Store, tenant: str
) -> None:
    """Cosmos's change feed keeps only an item's latest version; the outbox keeps each write."""
    name = f"burst-{uuid.uuid4().hex[:8]}"
    run(store, name, once=True, batch_size=100_000)
    admin = Client(app.test_client(), token_for(tenant, admin=True))
    customer = admin.post("/customers", {"name": "Busy"})
    for n in range(24):
        admin.put(f"/customers/{customer['id']}", {"description": f"v{n}"})
    run(store, name, once=True, batch_size=10)
    stored = events_of(store, tenant, item_id=customer["id"])
    assert sorted(e["action"] for e in stored).count("update") == 24
    assert len(stored) == 25


def test_every_trigger_retries_a_failed_batch_forever_with_backoff_and_has_its_own_lease_prefix() -> None:
    """A batch whose events cannot be stored is retried (2 s doubling up to 15 min, no limit):
    the change feed processor moves its checkpoint only after the function succeeds."""
    functions = [f for f in DECLARED if f.get_function_name() != "dispatch_webhooks"]  # the timer (TT-15)
    prefixes = []
    for function in functions:
        retry = function.get_setting("retry_policy")
        assert retry is not None, function.get_function_name()
        assert (retry.strategy, retry.max_retry_count) == ("exponential_backoff", "-1")
        assert (retry.minimum_interval, retry.maximum_interval) == ("00:00:02", "00:15:00")
        [binding] = json.loads(function.get_function_json())["bindings"]
        prefixes.append(binding["leaseContainerPrefix"])
    assert len(functions) == 9  # the six business containers, `webhook`, `money` and `access_token`
    assert not [(a, b) for a in prefixes for b in prefixes if a != b and b.startswith(a)]
