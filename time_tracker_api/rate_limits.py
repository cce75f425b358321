"""Rate limits (the `limits` library): per user and per tenant over every endpoint, and a
stricter budget per user for reports. Limits come from the settings (RATELIMIT_*); counters
live in memory per process by default, or in Redis when RATELIMIT_STORAGE_URI names one (then
every worker and instance shares them).

Callers are told where they stand with the `RateLimit-Limit`, `RateLimit-Remaining` and
`RateLimit-Reset` (seconds) headers of the IETF draft, on the limit closest to running out;
past it the answer is 429 `{"message": ...}` with `Retry-After`. Health checks, the Swagger
page and CORS preflights are not counted.

One `before_request` hook hits the limits that apply; Flask-Limiter, which wraps the same
library, cost a third of the CPU of a small request (TT-17: ~1,000 Python calls a request
for its per-request limit resolution) for two application-wide limits.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from flask import Flask, request
from limits import RateLimitItem, parse_many, storage, strategies
from limits.storage import MemoryStorage
from werkzeug.exceptions import TooManyRequests

from commons.config import Settings
from time_tracker_api.headers import EXTRA, EXTRA_ON_429
from time_tracker_api.security import verified_caller

REPORT_RULES = frozenset({"/time-entries/report"})
#: Paths never counted (the contract documents 429 on every other operation).
EXEMPT_PREFIXES = ("/health", "/swagger", "/swaggerui")


@dataclass(frozen=True)
class _Standing:
    """Where the caller stands on the limit closest to running out."""

    limit: RateLimitItem
    remaining: int
    reset_at: float


#: How often the in-memory counters are swept for expired keys (`counters`).
SWEEP_SECONDS = 1.0


def counters() -> MemoryStorage:
    """The `limits` in-memory storage, swept for expired counters at most once a second.

    MemoryStorage starts a timer thread 10 ms after any hit whenever none is running, so a
    busy worker started a thread every few requests: 8 % of `GET /time-entries/running` under
    gunicorn (py-spy, TT-17). Expired counters are still dropped whenever they are read
    (MemoryStorage.get); the sweep only frees the memory of keys nobody reads any more.

    The private hooks (limits==5.8.0) are replaced on the instance, not in a subclass: `limits`
    wraps a storage class's methods again for each subclass, and the second layer of
    wrappers was a fifth of the rate limits' time.
    """
    storage = MemoryStorage()
    schedule = storage._MemoryStorage__schedule_expiry  # type: ignore[attr-defined]
    sweep = storage._MemoryStorage__expire_events  # type: ignore[attr-defined]

    def sweep_beside_readers() -> None:
        # The sweep indexes `expirations` by the keys it listed, while a request thread's read
        # of an expired counter drops that key: KeyError, and the sweep's thread died with a
        # traceback (threaded workers). The key was going anyway; the next sweep goes on.
        try:
            sweep()
        except KeyError:
            pass

    storage._MemoryStorage__expire_events = sweep_beside_readers  # type: ignore[attr-defined]
    storage.timer.cancel()  # the first sweep, set going by __init__ with the unguarded one (of nothing)
    next_sweep = 0.0

    def throttled() -> None:
        nonlocal next_sweep
        now = time.monotonic()
        if now >= next_sweep:
            next_sweep = now + SWEEP_SECONDS
            schedule()

    storage._MemoryStorage__schedule_expiry = throttled  # type: ignore[attr-defined]
    return storage


def _caller() -> tuple[str, str] | None:
    """(tenant, user) of a valid token; None for anonymous or bad tokens (counted by address).
    The caller is kept for the request, so the resource does not work it out again."""
    try:
        identity = verified_caller()  # a JWT or a personal access token
    except Exception:  # noqa: BLE001 - any refusal is the resource's to answer; here it is just anonymous
        return None
    return identity.tenant_id, identity.user_id


def _exempt() -> bool:
    return request.method == "OPTIONS" or request.path == "/" or request.path.startswith(EXEMPT_PREFIXES)


def _is_report() -> bool:
    rule = request.url_rule.rule if request.url_rule is not None else ""
    return rule.rstrip("/") in REPORT_RULES


class RateLimits:
    """The limits of one app and the counters they are kept in."""

    def __init__(self, settings: Settings) -> None:
        uri = settings.ratelimit_storage_uri
        kept = counters() if uri.rstrip("/") == "memory:" else storage.storage_from_string(uri)
        # Two fixed windows weighted: O(1) per request whatever the limit (a moving window
        # keeps a timestamp per request), and no burst of twice the limit at a window's edge.
        self.strategy = strategies.SlidingWindowCounterRateLimiter(kept)
        self.per_user = parse_many(settings.ratelimit_per_user)
        self.per_tenant = parse_many(settings.ratelimit_per_tenant)
        self.reports = parse_many(settings.ratelimit_reports)

    def check(self) -> None:
        """Count this request against every limit that applies; 429 past any of them."""
        if _exempt():
            return
        caller = _caller()
        if caller is None:
            user = tenant = f"ip:{request.remote_addr or 'unknown'}"
        else:
            user, tenant = f"user:{caller[0]}:{caller[1]}", f"tenant:{caller[0]}"
        applying = [(limit, "user", user) for limit in self.per_user]
        applying += [(limit, "tenant", tenant) for limit in self.per_tenant]
        if _is_report():
            applying += [(limit, "reports", user) for limit in self.reports]
        closest: _Standing | None = None
        breached: _Standing | None = None
        for limit, scope, key in applying:
            allowed = self.strategy.hit(limit, scope, key)
            stats = self.strategy.get_window_stats(limit, scope, key)
            standing = _Standing(limit, 0 if not allowed else max(0, stats.remaining), stats.reset_time)
            if not allowed and breached is None:
                breached = standing
            if closest is None or standing.remaining < closest.remaining:
                closest = standing
        answer = breached or closest
        if answer is not None:
            # Left for the answer's headers (time_tracker_api.headers), so that even the 429
            # an error handler makes carries them.
            reset = max(0, math.ceil(answer.reset_at - time.time()))
            request.environ[EXTRA] = [
                ("RateLimit-Limit", str(answer.limit.amount)),
                ("RateLimit-Remaining", str(answer.remaining)),
                ("RateLimit-Reset", str(reset)),
            ]
            request.environ[EXTRA_ON_429] = [("Retry-After", str(max(1, reset)))]
        if breached is not None:
            raise TooManyRequests(description=str(breached.limit))


def install(app: Flask, settings: Settings) -> RateLimits | None:
    if not settings.ratelimit_enabled:
        return None
    limits = RateLimits(settings)
    app.before_request(limits.check)
    return limits
