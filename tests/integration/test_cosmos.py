"""What only the Cosmos engine has: batches, guards, the owner fence, continuations, the
SDK error mapping, round trips, migrations. Against the Cosmos stand-in (tests/tools)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from azure.core.exceptions import ServiceRequestError
from azure.cosmos import exceptions

import migrations
from commons.data_access_layer.cosmos_db import CosmosStore, counting_round_trips, translate
from commons.data_access_layer.cosmos_db import store as store_module
from commons.data_access_layer.cosmos_db.units import Partition
from commons.data_access_layer.events import Actor
from commons.data_access_layer.repository import EntryQuery
from commons.domain.errors import Conflict, Contended, NotFound, PreconditionFailed, Unavailable
from tests.conftest import COSMOS_KEY, ROOT, Client, cosmos_settings, settings_for_tests, token_for, unavailable
from tests.tools.postgres import free_port
from time_tracker_api import create_app
from time_tracker_api.time_entries import inputs, service

HOUR = 3_600_000
T0 = 1_714_550_400_000  # 2024-05-01T08:00:00Z


@pytest.fixture
def cosmos(cosmos_store: Any) -> CosmosStore:
    if cosmos_store is None:
        unavailable("The Cosmos test server could not start")
    return cosmos_store  # type: ignore[no-any-return]


@pytest.fixture
def adverse(cosmos_adverse_store: Any) -> CosmosStore:
    if cosmos_adverse_store is None:
        unavailable("The Cosmos test server (adverse mode) could not start")
    return cosmos_adverse_store  # type: ignore[no-any-return]


@pytest.fixture
def actor() -> Actor:
    return Actor(user_id=str(uuid.uuid4()), tenant_id=str(uuid.uuid4()), email="c@example.com", is_admin=True)


def refs(store: CosmosStore, actor: Actor) -> dict[str, str]:
    with store.unit_of_work(actor, write=True) as uow:
        customer = uow.customers.add({"name": "C"})
        project = uow.projects.add({"name": "P", "customer_id": customer["id"]})
        activity = uow.activities.add({"name": "A"})
    return {"project_id": project["id"], "activity_id": activity["id"]}


def documents(store: CosmosStore, container: str, tenant: str) -> list[dict[str, Any]]:
    """Everything in the tenant's partition of a container, below the contract."""
    return list(
        store.proxy(container).query_items(
            "SELECT * FROM c WHERE c.tenant_id = @t", parameters=[{"name": "@t", "value": tenant}], partition_key=tenant
        )
    )


@pytest.mark.parametrize(
    "error, expected",
    [
        (exceptions.CosmosHttpResponseError(status_code=429, message="throttled"), Unavailable),
        (exceptions.CosmosHttpResponseError(status_code=503, message="down"), Unavailable),
        (exceptions.CosmosResourceNotFoundError(status_code=404, message="nope"), NotFound),
        (exceptions.CosmosResourceExistsError(status_code=409, message="dup"), Conflict),
        (exceptions.CosmosAccessConditionFailedError(status_code=412, message="etag"), PreconditionFailed),
        (ServiceRequestError("refused"), Unavailable),
    ],
)
def test_sdk_errors_become_domain_errors(error: Exception, expected: type) -> None:
    assert isinstance(translate(error), expected)


def test_unreachable_account_is_a_quick_503_and_the_service_still_starts() -> None:
    store = CosmosStore(cosmos_settings(f"http://127.0.0.1:{free_port()}", "nowhere"))
    app = create_app(settings_for_tests(), store=store)
    client = Client(app.test_client(), token_for(str(uuid.uuid4()), admin=True))
    began = time.monotonic()
    assert client.get("/health", expect=503)["status"] == "unavailable"
    assert "unreachable" in client.get("/customers", expect=503)["message"]
    client.post("/customers", {"name": "x"}, expect=503)
    assert time.monotonic() - began < 10


def test_requests_meeting_a_silent_account_at_once_all_get_their_503_within_the_timeouts() -> None:
    """The client is created on first use, under a lock. Against an account that accepts
    connections and never answers, creating it took 9 s whatever our timeouts (the SDK's own
    for its account read, 28 s with the defaults), and each request queued on that lock tried
    again in turn, so the k-th answered after k attempts. Now one attempt keeps to the
    timeouts, and those queued behind it answer with it."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        settings = replace(
            cosmos_settings(f"http://127.0.0.1:{silent.getsockname()[1]}", "nowhere"),
            db_connect_timeout_seconds=1,
            db_statement_timeout_seconds=0.5,
        )
        store = CosmosStore(settings)
        answered: list[float] = []
        refused: list[Exception] = []

        def ask() -> None:
            began = time.monotonic()
            try:
                store.client  # noqa: B018 - creates the client
            except Unavailable as error:
                refused.append(error)
            answered.append(time.monotonic() - began)

        threads = [threading.Thread(target=ask) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert len(refused) == 3 and all("unreachable" in str(error) for error in refused)
    assert max(answered) < 3, answered  # one attempt of about 1 s, shared, not 9, 18, 27


def test_a_name_guard_lives_beside_its_item_and_moves_with_renames_and_deletes(
    cosmos: CosmosStore, actor: Actor
) -> None:
    with cosmos.unit_of_work(actor, write=True) as uow:
        item = uow.activities.add({"name": "Old"})
    with cosmos.unit_of_work(actor, write=True) as uow:
        uow.activities.update(item["id"], {"name": "New"})
    with cosmos.unit_of_work(actor, write=True) as uow:
        uow.activities.add({"name": "Old"})
    with pytest.raises(Conflict, match="name already exists"), cosmos.unit_of_work(actor, write=True) as uow:
        uow.activities.add({"name": "new"})
    guards = [d for d in documents(cosmos, "activity", actor.tenant_id) if d.get("_kind") == "guard"]
    assert len(guards) == 2
    with cosmos.unit_of_work(actor, write=True) as uow:
        uow.activities.delete(item["id"])
        uow.activities.add({"name": "NEW"})  # a deactivated item's name is free again
        names = sorted(a["name"] for a in uow.activities.list())
    assert names == ["New", "NEW", "Old"] or names == ["NEW", "New", "Old"]


def test_items_stored_before_guards_moved_get_theirs_from_the_migration(cosmos: CosmosStore, actor: Actor) -> None:
    legacy = {"id": str(uuid.uuid4()), "tenant_id": actor.tenant_id, "name": "Legacy", "status": "active"}
    cosmos.proxy("customer").create_item({**legacy, "deleted": None})
    with cosmos.unit_of_work(actor, write=True) as uow:
        uow.customers.update(legacy["id"], {"description": "still renameable without a guard"})
    from commons.data_access_layer.cosmos_db.guards import guard_live_names

    guard_live_names(cosmos)
    with pytest.raises(Conflict), cosmos.unit_of_work(actor, write=True) as uow:
        uow.customers.add({"name": "legacy"})


def test_a_decision_overtaken_by_another_writer_writes_nothing(cosmos: CosmosStore, actor: Actor) -> None:
    ids = refs(cosmos, actor)
    with pytest.raises(Contended), cosmos.unit_of_work(actor, write=True) as late:
        late.time_entries.lock_owner(actor.user_id)
        assert late.time_entries.running(actor.user_id) is None
        with cosmos.unit_of_work(actor, write=True) as early:
            early.time_entries.lock_owner(actor.user_id)
            early.time_entries.add({**ids, "owner_id": actor.user_id, "start_at": T0, "end_at": None})
        late.time_entries.add({**ids, "owner_id": actor.user_id, "start_at": T0 + 1, "end_at": None})
    with cosmos.unit_of_work(actor) as uow:
        assert len(uow.time_entries.list(EntryQuery(owners=(actor.user_id,)))) == 1


def test_the_service_decides_again_when_overtaken_and_answers_by_the_rules(
    cosmos: CosmosStore, actor: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Right after the first attempt checked the owner's entries, another clock-in lands; the
    first attempt's batch is refused by the lease, and the second attempt answers 409."""
    from commons.data_access_layer.cosmos_db.time_entries import CosmosTimeEntries

    ids = refs(cosmos, actor)
    real = CosmosTimeEntries.overlapping
    calls: list[int] = []

    def overlapping_then_overtaken(self: Any, *args: Any, **kwargs: Any) -> Any:
        found = real(self, *args, **kwargs)
        calls.append(len(found))
        if len(calls) == 1:
            with cosmos.unit_of_work(actor, write=True) as other:
                other.time_entries.lock_owner(actor.user_id)
                other.time_entries.add({**ids, "owner_id": actor.user_id, "start_at": T0, "end_at": None})
        return found

    monkeypatch.setattr(CosmosTimeEntries, "overlapping", overlapping_then_overtaken)
    with pytest.raises(Conflict, match="already have a running"):
        service.create(cosmos, actor, inputs.new_entry(ids), T0 + 5000, service.Rules())
    assert calls[0] == 0 and len(calls) >= 2
    with cosmos.unit_of_work(actor) as uow:
        assert len(uow.time_entries.list(EntryQuery(owners=(actor.user_id,)))) == 1


class Killed(BaseException):
    """Stands for the process dying: nothing of ours catches it."""


@pytest.fixture
def fragile(
    cosmos_server: str | None, cosmos_store: Any, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[CosmosStore, list[int]]]:
    """A store whose process dies right after its n-th exchange with the account (the
    `cosmos_store` fixture has migrated the database)."""
    if cosmos_server is None or cosmos_store is None:
        unavailable("The Cosmos test server could not start")
    plan = [0, 10**9]  # exchanges so far, the one after which to die

    def count(response: Any) -> None:
        plan[0] += 1
        if plan[0] == plan[1]:
            raise Killed

    monkeypatch.setattr(store_module, "_count", count)
    store = CosmosStore(cosmos_settings(str(cosmos_server), "tt-tests"))
    yield store, plan
    store.dispose()


def test_a_unit_that_dies_after_any_exchange_leaves_all_or_nothing(
    fragile: tuple[CosmosStore, list[int]], actor: Actor
) -> None:
    """A PUT that moves an entry's start over the previous entry writes both entries and the
    lease: killed after each exchange in turn, the store holds the old state or the new one,
    never a mix, and the next writer is not held up by a lease."""
    store, plan = fragile
    ids = refs(store, actor)
    for die_after in range(1, 40):
        tenant_actor = Actor(user_id=actor.user_id, tenant_id=str(uuid.uuid4()), is_admin=True, email=actor.email)
        ids = refs(store, tenant_actor)
        with store.unit_of_work(tenant_actor, write=True) as uow:
            first = uow.time_entries.add({**ids, "owner_id": actor.user_id, "start_at": T0, "end_at": T0 + 2 * HOUR})
            second = uow.time_entries.add(
                {**ids, "owner_id": actor.user_id, "start_at": T0 + 2 * HOUR, "end_at": T0 + 3 * HOUR}
            )
        edit = inputs.entry_changes({"start_date": "2024-05-01T09:00:00Z", "update_last_entry_if_overlap": True})
        plan[0], plan[1] = 0, die_after
        try:
            service.update(store, tenant_actor, second["id"], edit, None, T0 + 10 * HOUR, service.Rules())
            finished = True
        except Killed:
            finished = False
        plan[1] = 10**9
        with store.unit_of_work(tenant_actor) as uow:
            a, b = uow.time_entries.get(first["id"]), uow.time_entries.get(second["id"])
        moved = (a["end_at"], b["start_at"]) == (T0 + HOUR, T0 + HOUR)
        kept = (a["end_at"], b["start_at"]) == (T0 + 2 * HOUR, T0 + 2 * HOUR)
        assert moved or kept, f"partial state after exchange {die_after}: {a['end_at']}, {b['start_at']}"
        began = time.monotonic()
        service.update(
            store,
            tenant_actor,
            second["id"],
            inputs.entry_changes({"description": "next"}),
            None,
            T0 + 10 * HOUR,
            service.Rules(),
        )
        assert time.monotonic() - began < 5  # no lease to wait for
        if finished:
            assert moved
            break
    else:
        pytest.fail("the PUT never finished")


_DIE_AFTER = """
import json, os, sys
sys.path.insert(0, sys.argv[1])
args = json.loads(sys.argv[2])
from commons.data_access_layer.cosmos_db import store as store_module
seen = [0]
armed = [False]
def die_after(response):
    seen[0] += armed[0]
    if seen[0] == args["die_after"]:
        os._exit(9)  # the process dies: no finally, no cleanup, nothing after this exchange
store_module._count = die_after
from commons.data_access_layer.cosmos_db import CosmosStore
from commons.data_access_layer.events import Actor
from tests.conftest import cosmos_settings
from time_tracker_api.time_entries import inputs, service
store = CosmosStore(cosmos_settings(args["url"], "tt-tests"))
actor = Actor(args["user"], args["tenant"], email="c@example.com")
with store.unit_of_work(actor) as uow:  # the client learns the account and the container first
    uow.time_entries.get(args["entry"])
    uow.users.remember(actor)
armed[0] = True
edit = inputs.entry_changes({"start_date": "2024-05-01T09:00:00Z", "update_last_entry_if_overlap": True})
service.update(store, actor, args["entry"], edit, None, args["now"], service.Rules())
"""


def test_a_process_killed_after_any_exchange_of_a_put_leaves_all_or_nothing(
    cosmos: CosmosStore, cosmos_server: str | None
) -> None:
    """The same PUT as above, in a process of its own that dies (os._exit) right after each
    exchange with the account in turn: the store holds the old state or the new one."""
    outcomes = []
    for die_after in range(1, 16):
        actor = Actor(user_id=str(uuid.uuid4()), tenant_id=str(uuid.uuid4()), is_admin=True, email="c@example.com")
        ids = refs(cosmos, actor)
        with cosmos.unit_of_work(actor, write=True) as uow:
            first = uow.time_entries.add({**ids, "owner_id": actor.user_id, "start_at": T0, "end_at": T0 + 2 * HOUR})
            second = uow.time_entries.add(
                {**ids, "owner_id": actor.user_id, "start_at": T0 + 2 * HOUR, "end_at": T0 + 3 * HOUR}
            )
        args = {
            "die_after": die_after,
            "url": cosmos_server,
            "tenant": actor.tenant_id,
            "user": actor.user_id,
            "entry": second["id"],
            "now": T0 + 10 * HOUR,
        }
        child = subprocess.run(
            [sys.executable, "-c", _DIE_AFTER, str(ROOT), json.dumps(args)], capture_output=True, text=True, timeout=120
        )
        assert child.returncode in (0, 9), child.stderr
        with cosmos.unit_of_work(actor) as uow:
            a, b = uow.time_entries.get(first["id"]), uow.time_entries.get(second["id"])
        moved = (a["end_at"], b["start_at"]) == (T0 + HOUR, T0 + HOUR)
        kept = (a["end_at"], b["start_at"]) == (T0 + 2 * HOUR, T0 + 2 * HOUR)
        assert moved or kept, f"partial state after exchange {die_after}: {a['end_at']}, {b['start_at']}"
        service.update(
            cosmos,
            actor,
            second["id"],
            inputs.entry_changes({"description": "next"}),
            None,
            T0 + 10 * HOUR,
            service.Rules(),
        )
        outcomes.append("moved" if moved else "kept")
        if child.returncode == 0:
            break
    assert outcomes[-1] == "moved" and "kept" in outcomes, outcomes


def test_a_paginated_walk_over_short_and_empty_pages_reaches_every_entry(adverse: CosmosStore, actor: Actor) -> None:
    ids = refs(adverse, actor)
    with adverse.unit_of_work(actor, write=True) as uow:
        for n in range(12):
            start = T0 + n * HOUR
            uow.time_entries.add({**ids, "owner_id": actor.user_id, "start_at": start, "end_at": start + 60_000})
    app = create_app(settings_for_tests(), store=adverse)
    client = Client(app.test_client(), token_for(actor.tenant_id, actor.user_id))
    seen: list[str] = []
    page = client.get("/time-entries/paginated?start=0&length=5&start_date=2024-05-01&end_date=2024-05-02")
    while True:
        assert len(page["data"]) == 5 or page["continuation"] is None
        seen += [e["start_date"] for e in page["data"]]
        if page["continuation"] is None:
            break
        page = client.get(
            f"/time-entries/paginated?length=5&continuation={page['continuation']}"
            "&start_date=2024-05-01&end_date=2024-05-02"
        )
    assert len(seen) == 12 and seen == sorted(seen, reverse=True)


def test_threads_sharing_the_client_each_walk_their_own_pages(cosmos: CosmosStore) -> None:
    """The SDK keeps the last response's headers on the client, shared by every thread, and reads
    a page's continuation (and copies a query's headers) back from there (sdk_fixes.py). Without
    the engine's fix, about one walk in 20 here went on from another thread's continuation, and
    some threads died of "OrderedDict mutated during iteration". Thread switches are made 500
    times as frequent to meet the interleavings that a busy server meets by chance."""
    tenants = [f"walk-{uuid.uuid4().hex[:8]}" for _ in range(8)]
    proxy = cosmos.proxy("webhook_delivery")
    for tenant in tenants:
        for seq in range(3):
            proxy.create_item({"id": f"{tenant}-{seq}", "tenant_id": tenant, "seq": seq})
    failures: list[str] = []

    def walk(first: int) -> None:
        for n in range(40):
            tenant = tenants[(first + n) % len(tenants)]
            partition = Partition(cosmos, "webhook_delivery", tenant, "Delivery")
            seen: list[str] = []
            token = None
            try:
                while len(seen) <= 3:
                    docs, token = partition.page("SELECT * FROM c WHERE c.tenant_id = @tenant ORDER BY c.seq", 1, token)
                    seen += [doc["id"] for doc in docs]
                    if token is None:
                        break
            except Exception as error:  # noqa: BLE001 - every failure is the finding
                failures.append(f"{tenant}: {error!r}")
                continue
            if seen != [f"{tenant}-{seq}" for seq in range(3)]:
                failures.append(f"{tenant}: {seen}")

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    try:
        threads = [threading.Thread(target=walk, args=(k,)) for k in range(len(tenants))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert failures == []


def test_report_totals_equal_the_sum_of_entries_over_short_pages(adverse: CosmosStore, actor: Actor) -> None:
    ids = refs(adverse, actor)
    with adverse.unit_of_work(actor, write=True) as uow:
        other = uow.projects.add({"name": "Q"})
        for n in range(15):
            start = T0 + n * HOUR
            project = ids["project_id"] if n % 3 else other["id"]
            uow.time_entries.add(
                {
                    **ids,
                    "project_id": project,
                    "owner_id": actor.user_id,
                    "start_at": start,
                    "end_at": start + (n + 1) * 60_000,
                }
            )
    query = EntryQuery(owners=(actor.user_id,), start=T0, end=T0 + 24 * HOUR)
    with adverse.unit_of_work(actor) as uow:
        totals = uow.time_entries.totals(query, "project_id", T0 + 48 * HOUR)
        entries = uow.time_entries.list(query)
        count = uow.time_entries.count(query)
    expected: dict[str | None, int] = {}
    for e in entries:
        expected[e["project_id"]] = expected.get(e["project_id"], 0) + e["end_at"] - e["start_at"]
    assert totals == expected and count == 15 == len(entries)
    assert sum(totals.values()) == sum((n + 1) * 60_000 for n in range(15))


def test_a_put_of_a_time_entry_needs_at_most_four_round_trips(cosmos: CosmosStore, actor: Actor) -> None:
    ids = refs(cosmos, actor)
    app = create_app(settings_for_tests(), store=cosmos)
    client = Client(app.test_client(), token_for(actor.tenant_id, actor.user_id, email="c@example.com"))
    entry = client.post(
        "/time-entries", {**ids, "start_date": "2024-05-01T08:00:00Z", "end_date": "2024-05-01T09:00:00Z"}
    )
    client.put(f"/time-entries/{entry['id']}", {"description": "warm"})  # a worker that served this user
    with counting_round_trips() as counter:
        client.put(f"/time-entries/{entry['id']}", {"description": "counted"})
    # The lease with the entry, the tenant's lock (money settings, TT-16), the overlap query,
    # the batch (names from the short cache).
    assert counter[0] <= 4, counter[0]


def test_cli_migrate_creates_every_container_and_is_safe_to_repeat(cosmos_server: str | None, tmp_path: Any) -> None:
    if cosmos_server is None:
        unavailable("The Cosmos test server could not start")
    database = f"cli-{uuid.uuid4().hex[:8]}"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("SQL_", "COSMOS_", "DATABASE_"))},
        "DATABASE_ACCOUNT_URI": cosmos_server,
        "DATABASE_MASTER_KEY": COSMOS_KEY,
        "DATABASE_NAME": database,
        "COSMOS_ENDPOINT_DISCOVERY": "false",
        "PYTHONPATH": str(ROOT),
    }
    for attempt in range(2):
        result = subprocess.run(
            [sys.executable, str(ROOT / "cli.py"), "migrate"],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        if attempt:
            assert "Applying migration" not in result.stderr
    store = CosmosStore(cosmos_settings(cosmos_server, database))
    found = {c["id"]: c for c in store.database.list_containers()}
    assert {"customer", "project_type", "project", "activity", "technology", "time_entry", "event", "migration"} <= set(
        found
    )
    assert found["time_entry"].get("defaultTtl") == -1
    event_index = found["event"]["indexingPolicy"]["compositeIndexes"][0]
    assert [p["path"] for p in event_index] == ["/tenant_id", "/date_at"]
    assert store.create_containers(["customer", "time_entry"]) == []


def test_a_frozen_account_gives_503_within_the_timeouts_then_recovers() -> None:
    """SIGSTOP of the stand-in: it keeps its sockets and answers nothing. Requests end as 503s
    within the configured timeouts, and after SIGCONT the service serves again by itself."""
    import signal

    from tests.tools.cosmos import start_cosmos_server

    proc, url = start_cosmos_server()
    try:
        settings = cosmos_settings(url, "frozen").with_overrides(
            db_statement_timeout_seconds=1.0, db_connect_timeout_seconds=1
        )
        store = CosmosStore(settings)
        migrations.migrate(store)
        app = create_app(settings_for_tests(), store=store)
        admin = Client(app.test_client(), token_for(str(uuid.uuid4()), admin=True))
        admin.post("/customers", {"name": "Before"})
        took: list[float] = []
        proc.send_signal(signal.SIGSTOP)
        try:
            for call in (
                lambda: admin.get("/customers", expect=503),
                lambda: admin.post("/customers", {"name": "During"}, expect=503),
                lambda: admin.get("/health", expect=503),
            ):
                began = time.monotonic()
                call()
                took.append(time.monotonic() - began)
        finally:
            proc.send_signal(signal.SIGCONT)
        assert max(took) < 5, took
        # A write that timed out may still land when the server wakes (as on the service):
        # whole, with its name guard, or not at all.
        names = [c["name"] for c in admin.get("/customers")]
        assert names in (["Before"], ["Before", "During"])
        admin.post("/customers", {"name": "during"}, expect=409 if "During" in names else 201)
        admin.post("/customers", {"name": "After"})
        print(f"frozen Cosmos: 503s after {', '.join(f'{t:.2f}s' for t in took)}")
        store.dispose()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
