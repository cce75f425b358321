"""Security headers on every response the app makes (gunicorn's own error pages are JSON too:
see time_tracker_api.workers)."""

from __future__ import annotations

from flask import Flask, Response, request

ALWAYS = {
    "X-Content-Type-Options": "nosniff",
    # The Swagger page must not be framed (clickjacking); nothing else is meant to be either.
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
}


def _secure(response: Response) -> Response:
    for name, value in ALWAYS.items():
        response.headers.setdefault(name, value)
    if "Authorization" in request.headers or "token" in request.headers:
        # An answer for one caller: no shared or browser cache keeps it.
        response.headers["Cache-Control"] = "no-store"
    return response


def install(app: Flask) -> None:
    app.after_request(_secure)
