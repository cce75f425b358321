"""Domain errors -> HTTP, in one place. Every error is JSON: `{"message": ...}`."""

from __future__ import annotations

import logging
import re
from typing import Any

from flask import current_app
from flask_restx import Api
from werkzeug.exceptions import HTTPException, MethodNotAllowed, RequestEntityTooLarge

from commons.domain.errors import (
    BadGateway,
    Conflict,
    DomainError,
    Forbidden,
    Invalid,
    Locked,
    NotFound,
    PreconditionFailed,
    Unauthorized,
    Unavailable,
    Unprocessable,
)
from time_tracker_api.inputs import NOT_BLANK

log = logging.getLogger(__name__)


#: jsonschema's message for a blank text (the models' NOT_BLANK pattern).
_BLANK = f" does not match {NOT_BLANK!r}"
#: jsonschema's message for a missing required key.
_REQUIRED = re.compile(r"^'(?P<name>[^']+)' is a required property$")


#: Every domain error's HTTP status; a subclass answers its nearest listed ancestor's.
STATUS: dict[type[DomainError], int] = {
    DomainError: 400,
    Invalid: 400,
    Unauthorized: 401,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    PreconditionFailed: 412,
    Unprocessable: 422,
    Locked: 423,
    BadGateway: 502,
    Unavailable: 503,
}


def status_of(error: DomainError) -> int:
    """The HTTP status of a domain error (`Contended` is an `Unavailable`: 503)."""
    return next(STATUS[kind] for kind in type(error).__mro__ if kind in STATUS)


def readable(field: str, message: str) -> str:
    """A validation message a person understands (jsonschema's patterns and quotes are not):
    the same words as the service's own checks."""
    if message.endswith(_BLANK):
        return f"{field} can not be empty"
    required = _REQUIRED.match(message)
    if required:
        return f"{required['name']} is a required property"
    return message


def register_error_handlers(api: Api) -> None:
    @api.errorhandler(DomainError)
    def _domain_error(error: DomainError) -> tuple[dict[str, Any], int]:
        if error.field is not None:
            return {"message": error.message, "errors": {error.field: error.message}}, status_of(error)
        return {"message": error.message}, status_of(error)

    @api.errorhandler(HTTPException)
    def _http_error(error: HTTPException) -> tuple[dict[str, Any], int, dict[str, str]]:
        body: dict[str, Any] = {"message": error.description or error.name}
        if isinstance(error, RequestEntityTooLarge):
            limit = current_app.config["MAX_CONTENT_LENGTH"]
            body["message"] = f"The request body is too large (at most {limit} bytes)"
        if error.code == 429:
            body["message"] = f"Too many requests (at most {error.description}); retry after the Retry-After seconds"
        data = getattr(error, "data", None)
        if isinstance(data, dict):
            if isinstance(data.get("errors"), dict):
                # flask-restx answers with `error.data` itself when it has one: rewrite it there.
                data["errors"] = {k: readable(k, str(v)) for k, v in data["errors"].items()}
            body.update(data)
        headers = {}
        if isinstance(error, MethodNotAllowed) and error.valid_methods:
            headers["Allow"] = ", ".join(sorted(error.valid_methods))
        return body, error.code or 500, headers

    @api.errorhandler(Exception)
    def _unexpected(error: Exception) -> tuple[dict[str, Any], int]:
        log.exception("Unhandled error", exc_info=error)
        return {"message": "An unexpected error occurred; it has been logged"}, 500
