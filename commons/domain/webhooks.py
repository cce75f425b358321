"""Webhooks (TT-15), the pure part: event types, subscriptions, retry schedule, target rules,
payloads. No I/O here; `now` is an argument (epoch milliseconds).

Deliveries follow the Standard Webhooks specification (https://www.standardwebhooks.com/):
one message per audit event and endpoint, whose `webhook-id` stays the same across retries
and redeliveries (receivers de-duplicate by it), signed with HMAC-SHA256 over
`{webhook-id}.{webhook-timestamp}.{body}` with the endpoint's `whsec_` secret.
"""

from __future__ import annotations

import base64
import ipaddress
import secrets
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from commons.domain.errors import Invalid

#: Entities whose writes can be subscribed to (the audit trail's containers).
ENTITIES = ("customer", "project_type", "project", "activity", "technology", "time_entry")
_PAST = {"create": "created", "update": "updated", "delete": "deleted"}
#: Every event type an endpoint may ask for; `*` and `<entity>.*` are wildcards.
EVENT_TYPES = tuple(f"{e}.{verb}" for e in ENTITIES for verb in _PAST.values()) + (
    "time_entry.started",
    "time_entry.stopped",
)
PING = "webhook.ping"
#: The audit descriptions the time-entry service gives a stop and a restart.
_STOP, _RESTART = "Stop time entry", "Restart time entry"

MAX_URL = 2000
MAX_DESCRIPTION = 500
#: What a delivery log keeps of a response body (the rest is read and dropped, never stored).
EXCERPT_BYTES = 256
#: A delivery log keeps this many attempts of one delivery (the latest).
MAX_ATTEMPTS_KEPT = 20
PENDING, DELIVERED, FAILED, CANCELLED = "pending", "delivered", "failed", "cancelled"


def event_types(event: Mapping[str, Any], running: bool | None = None) -> tuple[str, ...]:
    """The types of one audit event, the specific one first: a clock-in (a create of a running
    entry, or a restart) is `time_entry.started`, a stop `time_entry.stopped`; each also
    counts as the plain `created`/`updated` for endpoints that asked for those. `running`:
    whether the written entry is running (None when unknown)."""
    entity, action = event.get("container_id"), event.get("action")
    if entity not in ENTITIES or action not in _PAST:
        return ()
    plain = f"{entity}.{_PAST[action]}"
    if entity == "time_entry":
        if action == "create" and running:
            return ("time_entry.started", plain)
        if action == "update" and event.get("description") == _STOP:
            return ("time_entry.stopped", plain)
        if action == "update" and event.get("description") == _RESTART:
            return ("time_entry.started", plain)
    return (plain,)


#: What an endpoint may subscribe to: the event types and the wildcards.
SUBSCRIPTIONS = (*EVENT_TYPES, *(f"{e}.*" for e in ENTITIES), "*")


def validate_subscriptions(wanted: object) -> list[str]:
    """The `events` of an endpoint: a non-empty list of known types or wildcards."""
    if not isinstance(wanted, list) or not wanted or not all(isinstance(w, str) for w in wanted):
        raise Invalid("events must be a non-empty list of event types", "events")
    allowed = set(SUBSCRIPTIONS)
    unknown = sorted({w for w in wanted if w not in allowed})
    if unknown:
        raise Invalid(f"Unknown event types: {', '.join(unknown)} (see GET /webhooks/event-types)", "events")
    return sorted(set(wanted))


def subscribed(wanted: Iterable[str], types: Sequence[str]) -> bool:
    """Whether an endpoint that asked for `wanted` gets an event of these types."""
    wanted = set(wanted)
    return "*" in wanted or any(t in wanted or f"{t.split('.')[0]}.*" in wanted for t in types)


def delivery_id(endpoint_id: str, event_id: str) -> str:
    """The `webhook-id` of one event sent to one endpoint: the same on every attempt, every
    redelivery and every replay of the feed."""
    return "msg_" + uuid.uuid5(uuid.NAMESPACE_URL, f"{endpoint_id}/{event_id}").hex


def new_secret() -> str:
    """A Standard Webhooks secret: `whsec_` and 32 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def payload(event: Mapping[str, Any], event_type: str) -> dict[str, Any]:
    """The body of a delivery: `{type, timestamp, data}` (Standard Webhooks). `data` is the
    audit event (what was written, by whom, when); the item itself is read through the API, so
    a payload never carries more than the audit log shows."""
    data = {k: event.get(k) for k in ("id", "item_id", "container_id", "action", "user_id", "description", "date")}
    return {"type": event_type, "timestamp": event.get("date"), "data": data}


def next_attempt_at(attempts: int, schedule: Sequence[float], now: int) -> int | None:
    """When to try again after `attempts` failed ones (epoch ms), or None when the schedule is
    used up: the n-th retry waits `schedule[n-1]` seconds."""
    if attempts < 1 or attempts > len(schedule):
        return None
    return now + int(schedule[attempts - 1] * 1000)


def disable_reason(failing_since: int | None, now: int, after_seconds: float, last_error: str) -> str | None:
    """Why an endpoint that has failed without a success since `failing_since` is disabled now,
    or None while it may keep trying."""
    if failing_since is None or now - failing_since < after_seconds * 1000:
        return None
    hours = (now - failing_since) / 3_600_000
    return f"Disabled automatically: every delivery failed for {hours:.1f} h; last error: {last_error}"[:500]


def check_url(url: object) -> tuple[str, int]:
    """The host and port of a webhook target, or Invalid: https only, a host, no credentials
    in the URL, no fragment."""
    if not isinstance(url, str) or not url.strip() or len(url) > MAX_URL:
        raise Invalid(f"url must be an https URL of at most {MAX_URL} characters", "url")
    try:
        parts = urlsplit(url.strip())
        port = parts.port or 443
    except ValueError:
        raise Invalid("url is not a valid URL", "url") from None
    if parts.scheme.lower() != "https":
        raise Invalid("url must use https", "url")
    if not parts.hostname:
        raise Invalid("url must name a host", "url")
    if parts.username or parts.password:
        raise Invalid("url must not carry credentials (the signature authenticates us)", "url")
    if parts.fragment:
        raise Invalid("url must not have a fragment", "url")
    return parts.hostname, port


def private_address(address: str) -> bool:
    """Loopback, private (RFC 1918, unique local), link-local, CGNAT, multicast, reserved or
    unspecified: anything that is not a global unicast address."""
    ip = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


def check_addresses(host: str, addresses: Iterable[str], allow_private: bool) -> list[str]:
    """The addresses a target may be reached at: every one must be public unless private
    targets are allowed (a name that resolves to any private address is refused whole)."""
    found = list(dict.fromkeys(addresses))
    if not found:
        raise Invalid(f"The host {host} does not resolve", "url")
    if not allow_private:
        private = [a for a in found if private_address(a)]
        if private:
            raise Invalid(
                f"The host {host} resolves to a private, loopback or link-local address ({private[0]}); "
                "such targets are refused (WEBHOOK_ALLOW_PRIVATE_TARGETS)",
                "url",
            )
    return found


def attempt_record(
    now: int, status_code: int | None, latency_ms: int, error: str | None, excerpt: str | None
) -> dict[str, Any]:
    """One line of a delivery log."""
    return {
        "at": now,
        "status_code": status_code,
        "latency_ms": latency_ms,
        "error": error[:300] if error else None,
        "response_excerpt": excerpt[:EXCERPT_BYTES] if excerpt else None,
    }
