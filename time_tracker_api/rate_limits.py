"""Rate limits (Flask-Limiter): per user and per tenant over every endpoint, and a stricter
budget per user for reports. Limits come from the settings (RATELIMIT_*); counters live in
memory per process by default, or in Redis when RATELIMIT_STORAGE_URI names one (then every
worker and instance shares them).

Callers are told where they stand with the `RateLimit-Limit`, `RateLimit-Remaining` and
`RateLimit-Reset` (seconds) headers of the IETF draft, on the limit closest to running out;
past it the answer is 429 `{"message": ...}` with `Retry-After`. Health checks, the Swagger
page and CORS preflights are not counted.
"""

from __future__ import annotations

import math
import time

from flask import Flask, Response, current_app, g, request
from flask_limiter import ApplicationLimit, Limit, Limiter

from commons.config import Settings
from time_tracker_api.security import bearer_token, identity_from

REPORT_RULES = frozenset({"/time-entries/report"})
#: Paths never counted (the contract documents 429 on every other operation).
EXEMPT_PREFIXES = ("/health", "/swagger", "/swaggerui")


def _caller() -> tuple[str, str] | None:
    """(tenant, user) of a valid token; None for anonymous or bad tokens (counted by address).
    Worked out once per request (every limit asks)."""
    if "rate_limit_caller" not in g:
        services = current_app.extensions["time_tracker"]
        try:
            claims = services.verifier.claims(bearer_token(request.headers))
            identity = identity_from(claims, services.settings.jwt_issuer)
            g.rate_limit_caller = (identity.tenant_id, identity.user_id)
        except Exception:  # noqa: BLE001 - any refusal is the resource's to answer; here it is just anonymous
            g.rate_limit_caller = None
    caller: tuple[str, str] | None = g.rate_limit_caller
    return caller


def _address() -> str:
    return f"ip:{request.remote_addr or 'unknown'}"


def user_key() -> str:
    caller = _caller()
    return f"user:{caller[0]}:{caller[1]}" if caller else _address()


def tenant_key() -> str:
    caller = _caller()
    return f"tenant:{caller[0]}" if caller else _address()


def _exempt() -> bool:
    return request.method == "OPTIONS" or request.path == "/" or request.path.startswith(EXEMPT_PREFIXES)


def _not_a_report() -> bool:
    rule = request.url_rule.rule if request.url_rule is not None else ""
    return _exempt() or rule.rstrip("/") not in REPORT_RULES


def install(app: Flask, settings: Settings) -> Limiter | None:
    if not settings.ratelimit_enabled:
        return None
    limiter = Limiter(
        user_key,
        # Each limit says when it does not apply (Flask-Limiter's limiter-wide *_exempt_when
        # options are not applied to limits given as objects).
        application_limits=[
            ApplicationLimit(settings.ratelimit_per_user, key_function=user_key, scope="user", exempt_when=_exempt),
            ApplicationLimit(
                settings.ratelimit_per_tenant, key_function=tenant_key, scope="tenant", exempt_when=_exempt
            ),
        ],
        default_limits=[
            Limit(settings.ratelimit_reports, key_function=user_key, scope="reports", exempt_when=_not_a_report)
        ],
        storage_uri=settings.ratelimit_storage_uri,
        # Two fixed windows weighted: O(1) per request whatever the limit (a moving window
        # keeps a timestamp per request), and no burst of twice the limit at a window's edge.
        strategy="sliding-window-counter",
        headers_enabled=False,
    )
    limiter.init_app(app)

    @app.after_request
    def _rate_limit_headers(response: Response) -> Response:
        limits = limiter.current_limits
        if not limits:
            return response
        closest = min(limits, key=lambda lim: (not lim.breached, lim.remaining))
        reset = max(0, math.ceil(closest.window[0] - time.time()))
        response.headers["RateLimit-Limit"] = str(closest.limit.amount)
        response.headers["RateLimit-Remaining"] = str(max(0, closest.remaining))
        response.headers["RateLimit-Reset"] = str(reset)
        if response.status_code == 429:
            response.headers["Retry-After"] = str(max(1, reset))
        return response

    return limiter
