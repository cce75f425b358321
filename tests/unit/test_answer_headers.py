"""The headers middleware: what every answer carries, whatever the app under it did."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from werkzeug.test import Client

from time_tracker_api.headers import EXTRA, EXTRA_ON_429, AnswerHeaders


def app_answering(status: str, headers: list[tuple[str, str]], extra: bool = False) -> Any:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if extra:
            environ[EXTRA] = [("RateLimit-Remaining", "0")]
            environ[EXTRA_ON_429] = [("Retry-After", "7")]
        start_response(status, list(headers))
        return [environ["PATH_INFO"].encode()]

    return AnswerHeaders(app)


def test_security_headers_are_added_but_an_apps_own_choice_is_kept() -> None:
    plain = Client(app_answering("200 OK", [])).get("/x")
    assert plain.headers["X-Frame-Options"] == "DENY" and plain.headers["Referrer-Policy"] == "no-referrer"
    own = Client(app_answering("200 OK", [("x-frame-options", "SAMEORIGIN")])).get("/x")
    assert own.headers.getlist("X-Frame-Options") == ["SAMEORIGIN"]
    assert own.headers["X-Content-Type-Options"] == "nosniff"


def test_answers_to_requests_with_credentials_are_never_cached_even_if_the_app_said_so() -> None:
    app = app_answering("200 OK", [("Cache-Control", "max-age=600")])
    assert Client(app).get("/x").headers["Cache-Control"] == "max-age=600"
    for header in ({"Authorization": "Bearer t"}, {"token": "t"}):
        assert Client(app).get("/x", headers=header).headers.getlist("Cache-Control") == ["no-store"]


def test_hook_headers_are_added_and_retry_after_only_to_a_429() -> None:
    ok = Client(app_answering("200 OK", [], extra=True)).get("/x")
    assert ok.headers["RateLimit-Remaining"] == "0" and "Retry-After" not in ok.headers
    refused = Client(app_answering("429 TOO MANY REQUESTS", [], extra=True)).get("/x")
    assert refused.headers["Retry-After"] == "7"


def test_a_trailing_slash_is_served_as_the_path_without_it_except_for_the_swagger_assets() -> None:
    app = app_answering("200 OK", [])
    assert Client(app).get("/customers/").get_data() == b"/customers"
    assert Client(app).get("/").get_data() == b"/"
    assert Client(app).get("/swaggerui/").get_data() == b"/swaggerui/"
