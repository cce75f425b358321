"""Webhooks (TT-15) end to end: API calls -> outbox / change feed -> events runner ->
deliveries -> dispatcher -> a signature-checking receiver on loopback, on every engine."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from commons.config import Settings
from commons.data_access_layer.repository import Store
from commons.webhooks import dispatch
from tests.conftest import Client, module_cosmos_database, settings_for_tests, token_for
from tests.tools.webhook_receiver import WebhookReceiver
from time_tracker_api import create_app
from time_tracker_events.runner import run

#: Retries after 0.2, 0.4, 0.8 ... s: the production schedule's shape in seconds.
FAST = (0.2, 0.4, 0.8, 1.6, 3.2)


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    found = WebhookReceiver()
    yield found
    found.close()


#: The change feed of this module's writes only (see module_cosmos_database).
cosmos_store = module_cosmos_database("cosmos_server")
cosmos_adverse_store = module_cosmos_database("cosmos_adverse_server", discovery=True)


def fast_settings(receiver: WebhookReceiver, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "webhook_allow_private_targets": True,
        "webhook_ca_bundle": str(receiver.ca_file),
        "webhook_retry_schedule": FAST,
        "webhook_timeout_seconds": 3.0,
    }
    return settings_for_tests(**{**values, **overrides})


def admin_of(store: Store, settings: Settings, tenant: str) -> Client:
    app = create_app(settings, store=store)
    return Client(app.test_client(), token_for(tenant, admin=True, email="admin@example.com"))


def pump(store: Store, settings: Settings, done: Callable[[], bool], timeout: float = 90.0) -> None:
    """Run the events runner and the dispatcher, as `cli.py run` does, until `done()`."""
    name = f"webhooks-{uuid.uuid4().hex[:8]}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run(store, name, once=True)
        dispatch(store, settings)
        if done():
            return
        time.sleep(0.1)
    raise AssertionError("the deliveries did not arrive in time")


def scripted_run(admin: Client) -> list[tuple[str, str]]:
    """Writes of every kind; answers (item id, event type) in write order."""
    written: list[tuple[str, str]] = []
    customer = admin.post("/customers", {"name": f"Acme {uuid.uuid4().hex[:6]}"})
    written.append((customer["id"], "customer.created"))
    project = admin.post("/projects", {"name": "Website", "customer_id": customer["id"]})
    written.append((project["id"], "project.created"))
    activity = admin.post("/activities", {"name": "Development"})
    written.append((activity["id"], "activity.created"))
    refs = {"project_id": project["id"], "activity_id": activity["id"]}
    started = (datetime.now(UTC) - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    entry = admin.post("/time-entries", {**refs, "start_date": started})
    written.append((entry["id"], "time_entry.started"))
    admin.post(f"/time-entries/{entry['id']}/stop", expect=200)
    written.append((entry["id"], "time_entry.stopped"))
    admin.put(f"/time-entries/{entry['id']}", {"description": "Reviewed the release"})
    written.append((entry["id"], "time_entry.updated"))
    done = admin.post(
        "/time-entries", {**refs, "start_date": "2024-04-01T09:00:00Z", "end_date": "2024-04-01T10:00:00Z"}
    )
    written.append((done["id"], "time_entry.created"))
    admin.delete(f"/time-entries/{done['id']}")
    written.append((done["id"], "time_entry.deleted"))
    admin.put(f"/customers/{customer['id']}", {"description": "Our oldest customer"})
    written.append((customer["id"], "customer.updated"))
    admin.delete(f"/projects/{project['id']}")
    written.append((project["id"], "project.deleted"))
    return written


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["sqlite", "postgresql", "cosmos"])
def test_a_receiver_failing_three_times_gets_every_event_once_in_order_per_item_with_valid_signatures(
    store: Store, tenant: str, receiver: WebhookReceiver
) -> None:
    receiver.fail_first = 3
    settings = fast_settings(receiver)
    admin = admin_of(store, settings, tenant)
    hook = admin.post("/webhooks", {"url": receiver.url, "events": ["*"], "description": "test"})
    assert hook["secret"].startswith("whsec_") and admin.last.headers["Location"].endswith(hook["id"])
    receiver.secret = hook["secret"]
    assert "secret" not in admin.get(f"/webhooks/{hook['id']}")

    written = scripted_run(admin)
    pump(store, settings, lambda: len({r.webhook_id for r in receiver.accepted()}) >= len(written))
    time.sleep(0.5)
    dispatch(store, settings)  # anything else would arrive now

    assert all(r.verified for r in receiver.received), "every request carries a valid signature"
    assert [r.answered for r in receiver.received[:3]] == [500, 500, 500]
    first: dict[str, Any] = {}
    for r in receiver.accepted():
        first.setdefault(r.webhook_id, r)
    assert len(first) == len(written), "each event exactly once after de-duplication by webhook-id"
    per_item: dict[str, list[str]] = {}
    for r in first.values():
        per_item.setdefault(r.body["data"]["item_id"], []).append(r.body["type"])
    expected: dict[str, list[str]] = {}
    for item, kind in written:
        expected.setdefault(item, []).append(kind)
    assert per_item == expected, "in write order within each item"
    events = {e["id"] for e in admin.get("/events?limit=500")["data"] if e["container_id"] != "webhook"}
    assert {r.body["data"]["id"] for r in first.values()} == events, "one delivery per audit event"

    log = admin.get(f"/webhooks/{hook['id']}/deliveries?limit=200")["data"]
    assert len(log) == len(written) and all(d["status"] == "delivered" for d in log)
    retried = [d for d in log if d["attempts"] > 1]
    assert retried and all(a["status_code"] == 500 for d in retried for a in d["attempts_log"][:-1])
    assert all(d["attempts_log"][-1]["status_code"] == 204 and d["next_attempt"] is None for d in log)


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["sqlite", "postgresql", "cosmos"])
def test_an_endpoint_that_keeps_failing_is_disabled_and_says_why(
    store: Store, tenant: str, receiver: WebhookReceiver
) -> None:
    receiver.status = 503
    settings = fast_settings(receiver, webhook_disable_after_seconds=1.0)
    admin = admin_of(store, settings, tenant)
    hook = admin.post("/webhooks", {"url": receiver.url, "events": ["customer.*"]})
    receiver.secret = hook["secret"]
    admin.post("/customers", {"name": "Failing Corp."})

    pump(store, settings, lambda: not admin.get(f"/webhooks/{hook['id']}")["active"], timeout=60)
    found = admin.get(f"/webhooks/{hook['id']}")
    assert found["disabled_reason"].startswith("Disabled automatically") and "HTTP 503" in found["disabled_reason"]
    assert found["failing_since"] is not None
    tried = len(receiver.received)
    admin.post("/customers", {"name": "Later Corp."})
    run(store, f"later-{uuid.uuid4().hex[:6]}", once=True)
    dispatch(store, settings)
    assert len(receiver.received) == tried, "a disabled endpoint gets nothing"

    receiver.status = 204
    enabled = admin.put(f"/webhooks/{hook['id']}", {"active": True})
    assert enabled["active"] and enabled["disabled_reason"] is None
    pump(store, settings, lambda: len(receiver.accepted()) >= 1, timeout=30)


@pytest.mark.parametrize("engine", ["sqlite"])
def test_ping_and_redelivery_send_signed_requests_and_log_them(
    store: Store, tenant: str, receiver: WebhookReceiver
) -> None:
    settings = fast_settings(receiver)
    admin = admin_of(store, settings, tenant)
    hook = admin.post("/webhooks", {"url": receiver.url, "events": ["customer.created"]})
    receiver.secret = hook["secret"]
    receiver.status = 200
    receiver.answer_body = b"x" * 10_000
    pinged = admin.post(f"/webhooks/{hook['id']}/ping", expect=200)
    assert pinged["status"] == "delivered" and pinged["type"] == "webhook.ping"
    assert len(pinged["attempts_log"][0]["response_excerpt"]) <= 256
    assert receiver.accepted()[0].body["type"] == "webhook.ping"

    admin.post("/customers", {"name": "Redelivered Corp."})
    pump(store, settings, lambda: len(receiver.accepted()) >= 2)
    [delivery] = [d for d in admin.get(f"/webhooks/{hook['id']}/deliveries")["data"] if d["type"] != "webhook.ping"]
    again = admin.post(f"/webhooks/{hook['id']}/deliveries/{delivery['id']}/redeliver", expect=202)
    assert again["status"] == "pending"
    pump(store, settings, lambda: len(receiver.accepted()) >= 3)
    assert receiver.accepted()[-1].webhook_id == delivery["id"], "the same webhook-id again"
    assert admin.get(f"/webhooks/{hook['id']}/deliveries/{delivery['id']}")["attempts"] == 2


@pytest.mark.parametrize("engine", ["sqlite"])
def test_redirects_are_not_followed(store: Store, tenant: str, receiver: WebhookReceiver) -> None:
    settings = fast_settings(receiver)
    admin = admin_of(store, settings, tenant)
    hook = admin.post("/webhooks", {"url": receiver.url, "events": ["*"]})
    receiver.secret = hook["secret"]
    receiver.location = "https://127.0.0.1:1/elsewhere"
    pinged = admin.post(f"/webhooks/{hook['id']}/ping", expect=200)
    assert pinged["status"] == "failed" and pinged["last_status_code"] == 302
    assert "not followed" in pinged["attempts_log"][0]["error"]
    assert len(receiver.received) == 1


@pytest.mark.parametrize("engine", ["sqlite"])
@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/hooks",
        "https://localhost/hooks",
        "https://10.1.2.3/hooks",
        "https://192.168.0.10/hooks",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/hooks",
        "https://[fe80::1]/hooks",
        "https://[::ffff:127.0.0.1]/hooks",
        "https://0.0.0.0/hooks",
        "http://example.com/hooks",
        "https://user:pass@example.com/hooks",
        "ftp://example.com/hooks",
        "https:///hooks",
    ],
)
def test_private_and_non_https_targets_are_refused_without_the_setting(store: Store, tenant: str, url: str) -> None:
    admin = admin_of(store, settings_for_tests(), tenant)
    answer = admin.post("/webhooks", {"url": url, "events": ["*"]}, expect=400)
    assert "url" in answer.get("errors", {}), answer
    assert admin.get("/webhooks") == []


@pytest.mark.parametrize("engine", ["sqlite"])
def test_a_target_that_became_private_is_refused_at_delivery_time(
    store: Store, tenant: str, receiver: WebhookReceiver
) -> None:
    allowed = fast_settings(receiver)
    admin = admin_of(store, allowed, tenant)
    hook = admin.post("/webhooks", {"url": receiver.url, "events": ["*"]})
    strict = fast_settings(receiver, webhook_allow_private_targets=False)
    pinged = admin_of(store, strict, tenant).post(f"/webhooks/{hook['id']}/ping", expect=200)
    assert pinged["status"] == "failed" and "private" in pinged["attempts_log"][0]["error"]
    assert receiver.received == []


@pytest.mark.parametrize("engine", ["sqlite"])
def test_webhooks_are_for_admins_and_validated(store: Store, tenant: str, receiver: WebhookReceiver) -> None:
    settings = fast_settings(receiver)
    app = create_app(settings, store=store)
    user = Client(app.test_client(), token_for(tenant))
    user.post("/webhooks", {"url": receiver.url, "events": ["*"]}, expect=403)
    user.get("/webhooks", expect=403)
    admin = admin_of(store, settings, tenant)
    answer = admin.post("/webhooks", {"url": receiver.url, "events": ["time_entry.paused"]}, expect=400)
    assert "time_entry.paused" in str(answer.get("errors") or answer["message"])  # the contract's enum
    hook = admin.post("/webhooks", {"url": receiver.url, "events": ["time_entry.stopped"]})
    etag = admin.last.headers["ETag"]
    admin.put(f"/webhooks/{hook['id']}", {"description": "x"}, headers={"If-Match": '"stale"'}, expect=412)
    admin.put(f"/webhooks/{hook['id']}", {"events": ["*"]}, headers={"If-Match": etag})
    other = Client(app.test_client(), token_for(str(uuid.uuid4()), admin=True))
    other.get(f"/webhooks/{hook['id']}", expect=404)
    admin.delete(f"/webhooks/{hook['id']}")
    admin.get(f"/webhooks/{hook['id']}", expect=404)
    for _ in range(50):
        admin.post("/webhooks", {"url": receiver.url, "events": ["*"]})
    assert "at most 50" in admin.post("/webhooks", {"url": receiver.url, "events": ["*"]}, expect=409)["message"]
    assert "time_entry.started" in admin.get("/webhooks/event-types")["types"]


@pytest.mark.parametrize("engine", ["sqlite"])
def test_the_functions_trigger_enqueues_and_the_timer_function_sends(
    store: Store, tenant: str, receiver: WebhookReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    import azure.functions as func

    from time_tracker_events import function_app

    settings = fast_settings(receiver)
    monkeypatch.setattr(function_app, "store", lambda: store)
    monkeypatch.setattr(function_app, "settings", lambda: settings)
    admin = admin_of(store, settings, tenant)
    hook = admin.post("/webhooks", {"url": receiver.url, "events": ["time_entry.started"]})
    receiver.secret = hook["secret"]
    context = {
        "event_id": uuid.uuid4().hex,
        "user_id": "u-1",
        "tenant_id": tenant,
        "action": "create",
        "description": None,
        "container_id": "time_entry",
        "session_id": None,
        "date": "2024-05-01T09:30:00.000Z",
    }
    outbox = {"id": f"event:{context['event_id']}", "tenant_id": tenant, "_kind": "event", "item_id": "entry-1"}
    change = {**outbox, "_last_event_ctx": context, "end_at": None}
    from tests.integration.test_events import FUNCTIONS  # the app is indexed once

    for _ in range(2):  # a batch delivered twice makes one delivery
        FUNCTIONS["handle_time_entry_events"](func.DocumentList([func.Document.from_dict(change)]))
    FUNCTIONS["dispatch_webhooks"](None)
    [received] = receiver.accepted()
    assert received.body["type"] == "time_entry.started" and received.body["data"]["item_id"] == "entry-1"


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["sqlite", "postgresql", "cosmos", "cosmos-adverse"])
def test_dispatchers_running_at_once_never_send_a_delivery_twice(
    store: Store, tenant: str, receiver: WebhookReceiver
) -> None:
    import threading

    settings = fast_settings(receiver)
    admin = admin_of(store, settings, tenant)
    hook = admin.post("/webhooks", {"url": receiver.url, "events": ["customer.created", "customer.updated"]})
    receiver.secret = hook["secret"]
    customers = [admin.post("/customers", {"name": f"Parallel {n}"}) for n in range(6)]
    for customer in customers:
        admin.put(f"/customers/{customer['id']}", {"description": "changed"})
    run(store, f"parallel-{uuid.uuid4().hex[:6]}", once=True)
    deadline = time.monotonic() + 90

    def dispatcher() -> None:
        while len(receiver.accepted()) < 12 and time.monotonic() < deadline:
            dispatch(store, settings, workers=4)

    threads = [threading.Thread(target=dispatcher) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ids = [r.webhook_id for r in receiver.received]
    assert len(ids) == 12 and len(set(ids)) == 12, "each delivery sent once, by one dispatcher"
    for customer in customers:
        kinds = [r.body["type"] for r in receiver.received if r.body["data"]["item_id"] == customer["id"]]
        assert kinds == ["customer.created", "customer.updated"]


@pytest.mark.parametrize("engine", ["sqlite", "postgresql", "cosmos"])
def test_endpoint_changes_are_audited_and_the_secret_stays_out_of_the_audit_trail(
    store: Store, tenant: str, receiver: WebhookReceiver
) -> None:
    settings = fast_settings(receiver)
    admin = admin_of(store, settings, tenant)
    hook = admin.post("/webhooks", {"url": receiver.url, "events": ["*"]})
    admin.put(f"/webhooks/{hook['id']}", {"active": False})
    admin.delete(f"/webhooks/{hook['id']}")
    run(store, f"audit-{uuid.uuid4().hex[:6]}", once=True)
    events = admin.get(f"/events?container_id=webhook&item_id={hook['id']}")["data"]
    assert sorted(e["action"] for e in events) == ["create", "delete", "update"]
    assert hook["secret"] not in str(events)
    if store.engine_name != "cosmos":
        from sqlalchemy import select

        from commons.data_access_layer.sql import change_log

        with store.engine.connect() as conn:  # type: ignore[attr-defined]
            logged = conn.execute(select(change_log.c.document).where(change_log.c.item_id == hook["id"])).all()
        assert len(logged) == 3 and hook["secret"] not in str(logged), "the outbox never holds the secret"
