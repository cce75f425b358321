"""What only the Cosmos engine has: guards, leases, continuation pages, SDK error mapping,
GROUP BY text, migrations. Against the Cosmos protocol server where it can run."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from typing import Any

import pytest
from azure.core.exceptions import ServiceRequestError
from azure.cosmos import exceptions

from commons.data_access_layer.cosmos_db import CosmosStore, _translate, totals_query
from commons.data_access_layer.events import Actor
from commons.data_access_layer.repository import Conflict, EntryQuery, NotFound, PreconditionFailed, Unavailable
from tests.conftest import COSMOS_KEY, ROOT, Client, cosmos_settings, settings_for_tests, token_for, unavailable
from tests.tools.postgres import free_port
from time_tracker_api import create_app


@pytest.fixture
def cosmos(cosmos_store: Any) -> CosmosStore:
    if cosmos_store is None:
        unavailable("The Cosmos test server could not start")
    return cosmos_store  # type: ignore[no-any-return]


@pytest.fixture
def actor() -> Actor:
    return Actor(user_id=str(uuid.uuid4()), tenant_id=str(uuid.uuid4()), email="c@example.com")


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
    assert isinstance(_translate(error), expected)


def test_totals_are_grouped_in_one_partition_by_the_server() -> None:
    text, params = totals_query(EntryQuery(owners=("u",), start=0, end=10), "project_id", now=5)
    assert text.startswith("SELECT c.project_id AS key, SUM(")
    assert "WHERE c.tenant_id = @tenant" in text and text.endswith("GROUP BY c.project_id")
    assert "IS_NULL(c.end_at) ? @now : c.end_at" in text
    assert params["clip_end"] == 5 and params["owner"] == "u"


def test_unreachable_account_is_a_quick_503_and_the_service_still_starts() -> None:
    store = CosmosStore(cosmos_settings(f"http://127.0.0.1:{free_port()}", "nowhere"))
    app = create_app(settings_for_tests(), store=store)
    client = Client(app.test_client(), token_for(str(uuid.uuid4()), admin=True))
    began = time.monotonic()
    assert client.get("/health", expect=503)["status"] == "unavailable"
    assert "unreachable" in client.get("/customers", expect=503)["message"]
    client.post("/customers", {"name": "x"}, expect=503)
    assert time.monotonic() - began < 10


def test_a_name_guard_left_by_a_crashed_writer_is_taken_over_after_the_grace_period(
    cosmos: CosmosStore, actor: Actor
) -> None:
    guards = cosmos.proxy("guard")
    with cosmos.unit_of_work(actor) as uow:
        guard_id = uow.customers._guard_id({"name": "Ghost"})
    stale = {"id": guard_id, "tenant_id": actor.tenant_id, "item_id": str(uuid.uuid4()), "claimed_at": 0}
    guards.upsert_item(stale)
    with cosmos.unit_of_work(actor, write=True) as uow:
        created = uow.customers.add({"name": "Ghost"})
    assert guards.read_item(guard_id, partition_key=actor.tenant_id)["item_id"] == created["id"]


def test_a_fresh_name_guard_of_an_item_being_created_is_respected(cosmos: CosmosStore, actor: Actor) -> None:
    with cosmos.unit_of_work(actor) as uow:
        guard_id = uow.customers._guard_id({"name": "Busy"})
    fresh = {
        "id": guard_id,
        "tenant_id": actor.tenant_id,
        "item_id": str(uuid.uuid4()),
        "claimed_at": int(time.time() * 1000),
    }
    cosmos.proxy("guard").upsert_item(fresh)
    with pytest.raises(Conflict), cosmos.unit_of_work(actor, write=True) as uow:
        uow.customers.add({"name": "Busy"})


def test_a_rename_in_flight_keeps_its_new_name(cosmos: CosmosStore, actor: Actor) -> None:
    """X renamed bar -> foo and holds the foo guard, its item still says bar: Y may not take it."""
    with cosmos.unit_of_work(actor, write=True) as uow:
        x = uow.customers.add({"name": "bar"})
        y = uow.customers.add({"name": "baz"})
        guard_id = uow.customers._guard_id({"name": "foo"})
    claim = {"id": guard_id, "tenant_id": actor.tenant_id, "item_id": x["id"], "claimed_at": int(time.time() * 1000)}
    cosmos.proxy("guard").upsert_item(claim)
    with pytest.raises(Conflict), cosmos.unit_of_work(actor, write=True) as uow:
        uow.customers.update(y["id"], {"name": "foo"})


def test_renaming_moves_the_name_guard(cosmos: CosmosStore, actor: Actor) -> None:
    with cosmos.unit_of_work(actor, write=True) as uow:
        item = uow.activities.add({"name": "Old"})
        uow.activities.update(item["id"], {"name": "New"})
        uow.activities.add({"name": "Old"})
        with pytest.raises(Conflict):
            uow.activities.add({"name": "new"})


def test_the_owner_lease_is_released_and_a_stale_one_is_taken(cosmos: CosmosStore, actor: Actor) -> None:
    guards = cosmos.proxy("guard")
    with cosmos.unit_of_work(actor, write=True) as uow:
        uow.time_entries.lock_owner(actor.user_id)
        held = guards.read_item(f"owner:{actor.user_id}", partition_key=actor.tenant_id)
        assert held["holder"] and held["expires"] > time.time() * 1000
    assert guards.read_item(f"owner:{actor.user_id}", partition_key=actor.tenant_id)["holder"] is None
    guards.upsert_item(
        {"id": f"owner:{actor.user_id}", "tenant_id": actor.tenant_id, "holder": "crashed", "expires": 1}
    )
    with cosmos.unit_of_work(actor, write=True) as uow:
        uow.time_entries.lock_owner(actor.user_id)


def test_pages_follow_continuation_tokens(cosmos: CosmosStore, actor: Actor) -> None:
    with cosmos.unit_of_work(actor, write=True) as uow:
        for n in range(5):
            start = 1_700_000_000_000 + n * 3_600_000
            uow.time_entries.add(
                {
                    "owner_id": actor.user_id,
                    "project_id": "p",
                    "activity_id": "a",
                    "start_at": start,
                    "end_at": start + 60_000,
                }
            )
    seen: list[int] = []
    token = None
    with cosmos.unit_of_work(actor) as uow:
        for _ in range(5):
            page, token = uow.time_entries.page(EntryQuery(owners=(actor.user_id,)), 2, token)  # type: ignore[attr-defined]
            seen += [e["start_at"] for e in page]
            if token is None:
                break
    assert seen == sorted(seen, reverse=True) and len(seen) == 5


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
    names = {c["id"] for c in store.database.list_containers()}
    assert {
        "customer",
        "project_type",
        "project",
        "activity",
        "technology",
        "time_entry",
        "guard",
        "migration",
    } <= names
    assert store.create_containers(["customer", "time_entry"]) == []
