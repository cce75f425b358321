"""The signing keys of a JWKS URL, trusted only while the URL lists them.

The set is fetched again every `refresh` seconds (JWKS_REFRESH_SECONDS), and at once (at most
every few seconds) when a token names a key id it does not hold. A key removed from the JWKS
is refused from the next refresh on. When the JWKS cannot be fetched (down, slow, an error
page) within JWKS_TIMEOUT_SECONDS, callers get a quick 503: one request waits for the fetch,
the others are answered at once while a failed fetch is recent, none waits in a queue.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from typing import Any

import jwt
import orjson
import requests

from commons.domain.errors import Unauthorized, Unavailable

log = logging.getLogger(__name__)

#: A failed fetch is not tried again for this long (callers get 503 meanwhile).
FAILURE_BACKOFF_S = 2.0
#: The largest JWKS document read.
MAX_JWKS_BYTES = 1_000_000
UNREACHABLE = "The token signing keys cannot be fetched now; try again shortly"


def fetch_jwks(url: str, timeout_s: float) -> dict[str, Any]:
    response = requests.get(url, timeout=(timeout_s, timeout_s), stream=True)
    try:
        response.raise_for_status()
        raw = response.raw.read(MAX_JWKS_BYTES + 1, decode_content=True)
        if len(raw) > MAX_JWKS_BYTES:
            raise ValueError("the JWKS document is too large")
    finally:
        response.close()
    document = orjson.loads(raw)
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError("not a JWKS document")
    return document


def _signing_keys(entries: list[Any]) -> dict[str, Any]:
    keys = {}
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("kid"), str) or entry.get("use", "sig") != "sig":
            continue
        try:
            keys[entry["kid"]] = jwt.PyJWK(entry).key
        except jwt.PyJWTError:
            continue  # a key type we do not use
    return keys


class SigningKeys:
    def __init__(
        self,
        url: str,
        refresh_s: float,
        timeout_s: float,
        fetch: Callable[[str, float], dict[str, Any]] = fetch_jwks,
    ) -> None:
        self.url = url
        self.refresh_s = refresh_s
        self.timeout_s = timeout_s
        #: An unknown key id makes a fetch only when the last one is at least this old.
        self.min_refetch_s = min(refresh_s / 2, 10.0)
        self._fetch = fetch
        self._keys: dict[str, Any] = {}
        self._fetched_at = -math.inf
        self._failed_at = -math.inf
        self._lock = threading.Lock()

    def key(self, kid: Any) -> Any:
        """The verification key of `kid`, as the JWKS lists it now."""
        if time.monotonic() - self._fetched_at >= self.refresh_s:
            self._refresh(lambda: time.monotonic() - self._fetched_at < self.refresh_s)
        found = self._keys.get(kid) if isinstance(kid, str) else None
        if found is None and time.monotonic() - self._fetched_at >= self.min_refetch_s:
            asked = time.monotonic()
            self._refresh(lambda: self._fetched_at >= asked)
            found = self._keys.get(kid) if isinstance(kid, str) else None
        if found is None:
            raise Unauthorized("Token signing key is unknown")
        return found

    def _refresh(self, done: Callable[[], bool]) -> None:
        if not self._lock.acquire(timeout=self.timeout_s * 2 + 1):
            raise Unavailable(UNREACHABLE)
        try:
            if done():
                return  # another request fetched meanwhile
            if time.monotonic() - self._failed_at < FAILURE_BACKOFF_S:
                raise Unavailable(UNREACHABLE)
            try:
                document = self._fetch(self.url, self.timeout_s)
                keys = {}
                for entry in document["keys"]:
                    if (
                        isinstance(entry, dict)
                        and isinstance(entry.get("kid"), str)
                        and entry.get("use", "sig") == "sig"
                    ):
                        try:
                            keys[entry["kid"]] = jwt.PyJWK(entry).key
                        except jwt.PyJWTError:
                            continue  # a key type we do not use
            except (requests.RequestException, ValueError, KeyError, TypeError) as error:
                self._failed_at = time.monotonic()
                log.warning("JWKS fetch from %s failed: %s", self.url, error)
                raise Unavailable(UNREACHABLE) from None
            self._keys = keys
            self._fetched_at = time.monotonic()
        finally:
            self._lock.release()
