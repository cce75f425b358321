"""The pure rules of webhooks (TT-15): event types, subscriptions, retry schedule, disabling,
target checks, payloads and signatures."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from standardwebhooks.webhooks import Webhook

from commons.config import ConfigError, Settings
from commons.domain.errors import Invalid
from commons.domain.webhooks import (
    check_addresses,
    check_url,
    delivery_id,
    disable_reason,
    event_types,
    new_secret,
    next_attempt_at,
    payload,
    private_address,
    subscribed,
    validate_subscriptions,
)
from commons.webhooks import SEQUENCE, sign


def event(container: str, action: str, description: str | None = None) -> dict[str, str | None]:
    return {"container_id": container, "action": action, "description": description, "id": "e", "item_id": "i"}


def test_a_clock_in_is_started_and_also_created() -> None:
    assert event_types(event("time_entry", "create"), running=True) == ("time_entry.started", "time_entry.created")
    assert event_types(event("time_entry", "create"), running=False) == ("time_entry.created",)


def test_a_stop_and_a_restart_are_stopped_and_started_and_also_updated() -> None:
    assert event_types(event("time_entry", "update", "Stop time entry")) == ("time_entry.stopped", "time_entry.updated")
    assert event_types(event("time_entry", "update", "Restart time entry")) == (
        "time_entry.started",
        "time_entry.updated",
    )
    assert event_types(event("customer", "delete")) == ("customer.deleted",)


def test_writes_of_webhooks_themselves_are_no_webhook_events() -> None:
    assert event_types(event("webhook", "create")) == ()


def test_subscriptions_match_types_and_wildcards() -> None:
    stop = event_types(event("time_entry", "update", "Stop time entry"))
    assert subscribed(["time_entry.updated"], stop) and subscribed(["time_entry.*"], stop) and subscribed(["*"], stop)
    assert not subscribed(["time_entry.created", "customer.*"], stop)


def test_unknown_event_types_are_refused() -> None:
    assert validate_subscriptions(["customer.*", "customer.*", "*"]) == ["*", "customer.*"]
    for wrong in ([], "customer.created", ["time_entry.paused"], [1]):
        with pytest.raises(Invalid):
            validate_subscriptions(wrong)


def test_the_default_schedule_retries_for_more_than_a_day_with_growing_waits() -> None:
    schedule = Settings().webhook_retry_schedule
    assert sum(schedule) >= 24 * 3600
    assert all(a < b for a, b in zip(schedule, schedule[1:], strict=False))
    assert next_attempt_at(1, schedule, 0) == schedule[0] * 1000
    assert next_attempt_at(len(schedule), schedule, 0) == schedule[-1] * 1000
    assert next_attempt_at(len(schedule) + 1, schedule, 0) is None


def test_the_schedule_setting_is_read_and_checked() -> None:
    assert Settings.from_env({"WEBHOOK_RETRY_SCHEDULE": "0.5, 1,2"}).webhook_retry_schedule == (0.5, 1.0, 2.0)
    for wrong in ("soon", "0", "-1,2"):
        with pytest.raises(ConfigError, match="WEBHOOK_RETRY_SCHEDULE"):
            Settings.from_env({"WEBHOOK_RETRY_SCHEDULE": wrong})


def test_an_endpoint_is_disabled_once_it_has_failed_for_the_whole_period() -> None:
    assert disable_reason(None, 10**9, 86_400, "HTTP 500") is None
    assert disable_reason(0, 86_399_999, 86_400, "HTTP 500") is None
    reason = disable_reason(0, 86_400_000, 86_400, "HTTP 500")
    assert reason is not None and "24.0 h" in reason and "HTTP 500" in reason


@pytest.mark.parametrize(
    "url",
    ["http://example.com/", "https://", "https://u:p@example.com/", "https://example.com/#x", "ftp://x/", 5, ""],
)
def test_urls_other_than_plain_https_are_refused(url: object) -> None:
    with pytest.raises(Invalid):
        check_url(url)


def test_https_urls_give_host_and_port() -> None:
    assert check_url("https://hooks.example.com/a?b=c") == ("hooks.example.com", 443)
    assert check_url("https://[2001:db8::1]:8443/") == ("2001:db8::1", 8443)


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.0.0.1",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "::1",
        "fe80::1",
        "fc00::1",
        "::ffff:10.0.0.1",
        "224.0.0.1",
    ],
)
def test_private_loopback_and_link_local_addresses_are_private(address: str) -> None:
    assert private_address(address)


def test_a_name_with_any_private_address_is_refused_unless_allowed() -> None:
    assert not private_address("93.184.216.34")
    with pytest.raises(Invalid, match="private"):
        check_addresses("mixed.example", ["93.184.216.34", "10.0.0.1"], allow_private=False)
    assert check_addresses("mixed.example", ["93.184.216.34", "10.0.0.1"], allow_private=True)
    with pytest.raises(Invalid, match="resolve"):
        check_addresses("nowhere.example", [], allow_private=True)


def test_deliveries_are_signed_as_standard_webhooks_verify_them() -> None:
    secret = new_secret()
    body = '{"type":"customer.created"}'
    headers = sign(secret, delivery_id("endpoint", "event"), datetime.now(UTC), body)
    assert Webhook(secret).verify(body, headers) == {"type": "customer.created"}
    assert delivery_id("endpoint", "event") == headers["webhook-id"] != delivery_id("endpoint", "other")


def test_the_payload_is_the_audit_event_and_numbers_only_grow() -> None:
    shown = payload({**event("customer", "create"), "date": "2024-05-01T09:30:00.000Z", "tenant_id": "t"}, "x")
    assert shown["type"] == "x" and shown["timestamp"] == "2024-05-01T09:30:00.000Z"
    assert "tenant_id" not in shown["data"] and shown["data"]["item_id"] == "i"
    numbers = [SEQUENCE.next() for _ in range(1000)]
    assert numbers == sorted(set(numbers)) and numbers[-1] < 2**53
