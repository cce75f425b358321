"""Rate limits: per user and per tenant over every endpoint, a stricter budget for reports;
429 JSON with Retry-After and the RateLimit-* headers. Counters in memory (one app here).

The limits here are per day: the sliding-window counter weighs the previous window in, so a
test that crossed a window's edge could see a slightly larger budget; a day's edge is never
crossed in practice."""

from __future__ import annotations

import sys
import threading
import time
import uuid
from typing import Any

from limits import parse
from limits.storage import memory
from limits.strategies import SlidingWindowCounterRateLimiter

from commons.config import Settings
from tests.conftest import Client, settings_for_tests, token_for
from time_tracker_api import create_app
from time_tracker_api.rate_limits import counters as in_memory


def limited_app(store: Any, **limits: str) -> Any:
    return create_app(settings_for_tests(**limits), store=store)


def test_a_user_past_the_limit_gets_429_json_with_retry_after(store: Any, tenant: str) -> None:
    app = limited_app(store, ratelimit_per_user="5/day")
    ana = Client(app.test_client(), token_for(tenant))
    for left in (4, 3, 2, 1, 0):
        ana.get("/customers")
        assert ana.last.headers["RateLimit-Limit"] == "5"
        assert ana.last.headers["RateLimit-Remaining"] == str(left)
        assert 0 < int(ana.last.headers["RateLimit-Reset"]) <= 86_400
    refused = ana.get("/time-entries/running", expect=429)
    assert "Too many requests" in refused["message"]
    assert 0 < int(ana.last.headers["Retry-After"]) <= 86_400
    assert ana.last.headers["RateLimit-Remaining"] == "0"
    # Another user of the same tenant has a budget of their own.
    Client(app.test_client(), token_for(tenant)).get("/customers")


def test_health_checks_and_the_swagger_page_are_not_counted(store: Any, tenant: str) -> None:
    app = limited_app(store, ratelimit_per_user="2/day")
    ana = Client(app.test_client(), token_for(tenant))
    for _ in range(5):
        assert ana.http.get("/health/live", headers=ana.headers()).status_code == 200
        assert ana.http.get("/swagger.json", headers=ana.headers()).status_code == 200
    ana.get("/customers")
    assert ana.last.headers["RateLimit-Remaining"] == "1"


def test_a_tenant_past_its_limit_is_refused_for_every_user_of_it(store: Any, tenant: str) -> None:
    app = limited_app(store, ratelimit_per_tenant="6/day")
    for _ in range(3):
        Client(app.test_client(), token_for(tenant)).get("/customers")
        Client(app.test_client(), token_for(tenant)).get("/activities")
    Client(app.test_client(), token_for(tenant)).get("/customers", expect=429)
    Client(app.test_client(), token_for(str(uuid.uuid4()))).get("/customers")


def test_reports_have_a_stricter_budget_than_the_rest(store: Any, tenant: str) -> None:
    app = limited_app(store, ratelimit_reports="2/day")
    boss = Client(app.test_client(), token_for(tenant, admin=True))
    for _ in range(2):
        boss.get("/time-entries/report?start_date=2024-05-01&end_date=2024-05-31")
    boss.get("/time-entries/report?start_date=2024-05-01&end_date=2024-05-31", expect=429)
    for _ in range(5):
        boss.get("/customers")  # the report budget is the reports' only


def test_anonymous_callers_are_counted_by_address(store: Any) -> None:
    app = limited_app(store, ratelimit_per_user="3/day")
    anonymous = Client(app.test_client(), None)
    for _ in range(3):
        anonymous.get("/customers", expect=401)
    anonymous.get("/customers", expect=429)


def test_limits_are_settings_and_can_be_turned_off(store: Any, tenant: str) -> None:
    app = create_app(settings_for_tests(ratelimit_per_user="1/day", ratelimit_enabled=False), store=store)
    ana = Client(app.test_client(), token_for(tenant))
    for _ in range(3):
        ana.get("/customers")
    assert "RateLimit-Limit" not in ana.last.headers
    defaults = Settings.from_env({"JWT_SECRET": "s" * 40})
    assert (defaults.ratelimit_per_user, defaults.ratelimit_storage_uri) == ("200/minute", "memory://")
    redis = Settings.from_env({"JWT_SECRET": "s" * 40, "RATELIMIT_STORAGE_URI": "redis://cache:6379/0"})
    assert redis.ratelimit_storage_uri == "redis://cache:6379/0"


def test_in_memory_counters_start_no_thread_per_request_and_still_expire(monkeypatch: Any) -> None:
    started: list[float] = []

    class CountingTimer(threading.Timer):
        def start(self) -> None:
            started.append(time.monotonic())
            super().start()

    monkeypatch.setattr(memory.threading, "Timer", CountingTimer)
    strategy = SlidingWindowCounterRateLimiter(in_memory())
    limit = parse("1000/second")
    for n in range(40):  # 0.4 s of traffic: MemoryStorage itself would start a thread per hit here
        assert strategy.hit(limit, "user", str(n % 7))
        time.sleep(0.01)
    assert len(started) <= 2, "a sweep at most once a second, not a thread every 10 ms"
    short = parse("1/second")
    assert strategy.hit(short, "user", "x") and not strategy.hit(short, "user", "x")
    time.sleep(2.1)  # two windows: the sliding counter's previous one weighs nothing any more
    assert strategy.hit(short, "user", "x"), "an expired counter no longer counts"


def test_a_sweep_beside_requests_reading_expired_counters_does_not_die(monkeypatch: Any) -> None:
    """limits 5.8.0's sweep indexes the expiry times of the keys it listed while a request's
    read of an expired counter drops that key: its thread died of a KeyError."""
    died: list[str] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: died.append(repr(args.exc_value)))
    storage = in_memory()
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    try:
        for _ in range(10):
            for n in range(5000):
                storage.storage[f"k{n}"] = 1
                storage.expirations[f"k{n}"] = time.time() - 1  # expired, not yet swept

            def read() -> None:
                for n in range(5000):
                    storage.get(f"k{n}")

            reader = threading.Thread(target=read)
            sweeper = threading.Thread(target=storage._MemoryStorage__expire_events)
            reader.start()
            sweeper.start()
            reader.join()
            sweeper.join()
    finally:
        sys.setswitchinterval(interval)
    assert died == []
    assert not storage.expirations and not storage.storage  # all swept or dropped by the reads
