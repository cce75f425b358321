"""Sending one webhook delivery (TT-15): signing (Standard Webhooks), the target's checks and
the HTTP POST.

https only; the host is resolved and every address checked (private, loopback and link-local
refused unless `WEBHOOK_ALLOW_PRIVATE_TARGETS`), then the checked address itself is connected
to (so a DNS answer that changes between check and connect cannot redirect us inward), with the
host's name for TLS; redirects are not followed; the timeout is `WEBHOOK_TIMEOUT_SECONDS`; only
`EXCERPT_BYTES` of the answer are read and kept.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import orjson
import urllib3
from standardwebhooks.webhooks import Webhook

from commons.config import Settings
from commons.domain.errors import DomainError
from commons.domain.webhooks import EXCERPT_BYTES, check_addresses, check_url

USER_AGENT = "TimeTracker-Webhooks/1"


@dataclass(frozen=True)
class Outcome:
    """What one attempt got."""

    ok: bool
    status_code: int | None
    latency_ms: int
    error: str | None
    excerpt: str | None


def sign(secret: str, message_id: str, timestamp: datetime, body: str) -> dict[str, str]:
    """The Standard Webhooks headers of one attempt."""
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": Webhook(secret).sign(message_id, timestamp, body),
    }


def resolve(host: str, port: int) -> list[str]:
    """The addresses of `host` (a literal address answers itself)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        return []
    return [str(info[4][0]) for info in infos]


def checked_target(url: str, allow_private: bool) -> tuple[str, int, list[str]]:
    """Host, port and addresses of a target that passes the rules (else Invalid)."""
    host, port = check_url(url)
    return host, port, check_addresses(host, resolve(host, port), allow_private)


class Sender:
    """Sends signed deliveries; one per process (connection pools per checked address)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._pools: dict[tuple[str, int, str], urllib3.HTTPSConnectionPool] = {}
        self._lock = threading.Lock()
        self._context = ssl.create_default_context()
        if settings.webhook_ca_bundle:
            self._context.load_verify_locations(settings.webhook_ca_bundle)

    def _pool(self, address: str, port: int, host: str) -> urllib3.HTTPSConnectionPool:
        key = (address, port, host)
        with self._lock:
            pool = self._pools.get(key)
            if pool is None:
                if len(self._pools) > 256:
                    self._pools.clear()
                timeout = self.settings.webhook_timeout_seconds
                pool = self._pools[key] = urllib3.HTTPSConnectionPool(
                    address,
                    port,
                    maxsize=8,  # the dispatcher's parallel sends
                    block=False,
                    timeout=urllib3.Timeout(connect=timeout, read=timeout, total=timeout),
                    retries=False,
                    ssl_context=self._context,
                    server_hostname=host,
                    assert_hostname=host,
                )
            return pool

    def send(self, url: str, secret: str, message_id: str, body: str) -> Outcome:
        """One attempt: checks, signs and posts `body`; never raises for the target's faults."""
        started = time.perf_counter()

        def outcome(status: int | None, error: str | None, excerpt: str | None = None) -> Outcome:
            latency = int((time.perf_counter() - started) * 1000)
            return Outcome(status is not None and 200 <= status < 300, status, latency, error, excerpt)

        try:
            host, port, addresses = checked_target(url, self.settings.webhook_allow_private_targets)
        except DomainError as error:
            return outcome(None, error.message)
        parts = urlsplit(url)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        headers = {
            **sign(secret, message_id, datetime.now(UTC), body),
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            "host": _host_header(host, port),
        }
        try:
            response = self._pool(addresses[0], port, host).urlopen(
                "POST",
                path,
                body=body.encode(),
                headers=headers,
                redirect=False,
                retries=False,
                preload_content=False,
                assert_same_host=False,
            )
        except urllib3.exceptions.HTTPError as error:
            return outcome(None, f"{type(error).__name__}: {error}")
        try:
            excerpt = response.read(EXCERPT_BYTES, decode_content=False).decode("utf-8", "replace")
        except (urllib3.exceptions.HTTPError, OSError) as error:
            excerpt = f"(answer unreadable: {type(error).__name__})"
        finally:
            response.release_conn() if response.length_remaining == 0 else response.close()
        status = response.status
        if 300 <= status < 400:
            return outcome(status, f"Redirect to {response.headers.get('location', '?')} not followed", excerpt)
        return outcome(status, None if 200 <= status < 300 else f"HTTP {status}", excerpt)


def _host_header(host: str, port: int) -> str:
    name = f"[{host}]" if ":" in host else host
    return name if port == 443 else f"{name}:{port}"


_SENDERS: dict[int, Sender] = {}


def sender_for(settings: Settings) -> Sender:
    """One sender per settings object (its pools are reused)."""
    found = _SENDERS.get(id(settings))
    if found is None or found.settings is not settings:
        found = _SENDERS[id(settings)] = Sender(settings)
    return found


def body_of(delivery: Mapping[str, Any]) -> str:
    return orjson.dumps(delivery["payload"]).decode()
