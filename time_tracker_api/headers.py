"""The headers every answer of the app carries, added by WSGI middleware as the answer starts
(gunicorn's own error pages are JSON too: see time_tracker_api.workers).

Middleware, not an `after_request` hook: appending to the header list that goes to the server
costs a few list operations, while werkzeug's `Headers` lowercases and validates on every set
(nine sets a request were a tenth of `GET /time-entries/running`'s CPU beyond a bare Flask
route, TT-17); and it covers every answer, including those no hook sees.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

ALWAYS = (
    ("X-Content-Type-Options", "nosniff"),
    # The Swagger page must not be framed (clickjacking); nothing else is meant to be either.
    ("X-Frame-Options", "DENY"),
    ("Content-Security-Policy", "frame-ancestors 'none'"),
    ("Referrer-Policy", "no-referrer"),
)
_ALWAYS_NAMES = frozenset(name.lower() for name, _ in ALWAYS)
#: Where a hook leaves headers of its own for this answer (a list of (name, value) pairs).
EXTRA = "time_tracker.headers"
#: Headers the answer carries only when it is a 429, from the same hooks.
EXTRA_ON_429 = "time_tracker.headers_429"

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class AnswerHeaders:
    """WSGI middleware: the security headers (unless the app set its own), `Cache-Control:
    no-store` on answers to a request that carried credentials (an answer for one caller: no
    shared or browser cache keeps it), and the headers hooks left in the environ (`EXTRA`).
    It also serves `/customers/` as `/customers` (the newer UI adds trailing slashes)."""

    def __init__(self, app: WsgiApp) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if len(path) > 1 and path[-1] == "/" and not path.startswith("/swaggerui"):
            environ["PATH_INFO"] = path.rstrip("/") or "/"
        personal = "HTTP_AUTHORIZATION" in environ or "HTTP_TOKEN" in environ

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            present = {name.lower() for name, _ in headers}
            if not present.isdisjoint(_ALWAYS_NAMES):
                headers.extend(h for h in ALWAYS if h[0].lower() not in present)
            else:
                headers.extend(ALWAYS)
            if personal:
                if "cache-control" in present:
                    headers[:] = [h for h in headers if h[0].lower() != "cache-control"]
                headers.append(("Cache-Control", "no-store"))
            headers.extend(environ.get(EXTRA, ()))
            if status.startswith("429"):
                headers.extend(environ.get(EXTRA_ON_429, ()))
            return start_response(status, headers, exc_info)

        return self.app(environ, start)
