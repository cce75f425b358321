"""Input cleaning, in one place: what a request may carry before any rule looks at it.

- JSON bodies are parsed strictly (orjson): a lone surrogate, a malformed or truncated body,
  and nesting deeper than 1024 levels are 400s; so is a NUL character anywhere in the
  document (no store keeps it: PostgreSQL refuses NUL in text).
- A body that a resource reads must be a JSON object; a form body, an array or nothing at
  all is a 400, never an empty change.
- A NUL character in the path or the query string is a 400.
- A chunked body longer than MAX_BODY_BYTES is a 413, like a declared one.
"""

from __future__ import annotations

from typing import Any

import orjson
from flask import Flask, Request, request
from flask.json.provider import DefaultJSONProvider
from flask_restx import reqparse
from werkzeug.exceptions import BadRequest, RequestEntityTooLarge

from commons.domain.errors import Invalid

#: orjson's own limit; deeper documents are refused, never recursed into.
MAX_DEPTH = 1024

#: The contract's pattern for "not blank": a character that `str.strip()` keeps. Python's
#: whitespace is listed rather than written `\S`, which means another set in the server's
#: validator (Python `re`: also \x1c-\x1f and \x85) than in JSON Schema (ECMA-262: also \ufeff,
#: not \x1c-\x1f), so a client's validator and ours agree with the service's strip.
NOT_BLANK = "[^\\t\\n\\v\\f\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]"


def is_clean_text(value: str) -> bool:
    """Text every store can keep: no NUL, no lone surrogate."""
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _check(value: Any) -> None:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                raise ValueError("text must not contain NUL characters")
        elif isinstance(item, dict):
            for key, inner in item.items():
                if "\x00" in key:
                    raise ValueError("text must not contain NUL characters")
                stack.append(inner)
        elif isinstance(item, list):
            stack.extend(item)


class StrictJsonProvider(DefaultJSONProvider):
    """`request.get_json()` everywhere (our resources and flask-restx's validation) parses with
    orjson and refuses what a store cannot keep."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        try:
            value = orjson.loads(s)
        except orjson.JSONDecodeError as error:
            raise ValueError(str(error)) from None
        _check(value)
        return value


class JsonRequest(Request):
    def on_json_loading_failed(self, e: ValueError | None) -> Any:
        if e is None:
            raise BadRequest("The body must be JSON (Content-Type: application/json)")
        raise BadRequest(f"Malformed JSON body: {e}")

    def get_data(self, *args: Any, **kwargs: Any) -> Any:
        data = super().get_data(*args, **kwargs)
        limit = self.max_content_length
        if limit is not None and self.content_length is None and len(data) >= limit:
            # A chunked body (no Content-Length): werkzeug stops reading at the limit and
            # hands over what it read, which would then be "malformed"; it is too large.
            raise RequestEntityTooLarge()
        return data


def body() -> dict[str, Any]:
    """The request's JSON object (400 for anything else)."""
    payload = request.get_json(silent=False)
    if not isinstance(payload, dict):
        raise Invalid("The body must be a JSON object")
    return payload


def _reject_nul_in_url() -> None:
    if "\x00" in request.path or any("\x00" in k or "\x00" in v for k, v in request.args.items(multi=True)):
        raise Invalid("The path and the query string must not contain NUL characters")


def install(app: Flask) -> None:
    app.request_class = JsonRequest
    app.json = StrictJsonProvider(app)
    app.before_request(_reject_nul_in_url)


class QueryArgument(reqparse.Argument):
    """A query parameter whose `help` documents it in Swagger but never runs into the error:
    `{"message": "Invalid query parameter month: ...", "errors": {"month": "..."}}`."""

    def parse(self, request: Any, bundle_errors: bool = False) -> Any:
        # Most parameters are absent from most requests: their default at once. flask-restx
        # looks each up through its source and operators first (a list's 14 parameters were
        # a twentieth of its CPU, TT-17).
        if self.location == "args" and not self.required and self.name not in request.args:
            return (self.default() if callable(self.default) else self.default), False
        return super().parse(request, bundle_errors)

    def handle_validation_error(self, error: Exception, bundle_errors: bool) -> Any:
        message = str(error)
        if bundle_errors:
            return ValueError(error), {self.name: message}
        raise_invalid_query(self.name, message)


def raise_invalid_query(name: str, message: str) -> None:
    error = BadRequest(f"Invalid query parameter {name}: {message}")
    error.data = {"message": error.description, "errors": {name: message}}  # type: ignore[attr-defined]
    raise error


def query_parser() -> reqparse.RequestParser:
    """A parser of query parameters with clean messages (see `QueryArgument`)."""
    return reqparse.RequestParser(argument_class=QueryArgument)
