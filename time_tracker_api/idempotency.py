"""`Idempotency-Key` on POST (IETF httpapi draft "The Idempotency-Key HTTP Header Field").

The first request with a key claims it in the store, atomically and before doing any work
(an INSERT on the primary key in SQL, a create that fails with 409 on Cosmos), then stores its
response. A retry with the same key and the same request gets that response again for
IDEMPOTENCY_TTL_SECONDS (with `Idempotent-Replayed: true`); with another body or path it is a
422. A retry that meets the first request still in flight waits for it up to
IDEMPOTENCY_WAIT_SECONDS and answers the same response, or a 409 when it is still running
then. Keys are per tenant and user. A response of 500 or more is not kept: the key is
released, so a retry does the work again.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import orjson
from flask import Response, current_app, request
from werkzeug.exceptions import HTTPException

from commons.data_access_layer.idempotency import IdempotencyClaim
from commons.domain.errors import Conflict, DomainError, Invalid, Unavailable, Unprocessable
from time_tracker_api.security import current_identity

HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"
MAX_KEY = 255
#: Response headers a replay repeats (the rest are per response: rate limits, dates).
KEPT_HEADERS = ("ETag", "Location", "Content-Type")


def key_from_header(raw: str | None) -> str | None:
    """The key (the draft's sf-string, quotes optional); 400 when it is not one."""
    if raw is None:
        return None
    value = raw.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
    if not value or len(value) > MAX_KEY or not all(" " <= ch <= "~" for ch in value):
        raise Invalid(f"{HEADER} must be 1 to {MAX_KEY} printable ASCII characters", HEADER)
    return value


def fingerprint(method: str, path: str, query: bytes, body: bytes) -> str:
    """What makes two requests "the same": method, path, query and the body (JSON compared
    as data, so spacing and key order do not matter)."""
    try:
        canonical = orjson.dumps(orjson.loads(body), option=orjson.OPT_SORT_KEYS) if body else b""
    except orjson.JSONDecodeError:
        canonical = body
    digest = hashlib.sha256()
    for part in (method.encode(), path.encode(), query, canonical):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def _replay(claim: IdempotencyClaim) -> Response:
    stored = claim.response or {}
    response = Response(stored.get("body", ""), status=claim.status or 200)
    for name, value in (stored.get("headers") or {}).items():
        response.headers[name] = value
    response.headers[REPLAYED] = "true"
    return response


def run(dispatch: Callable[[], Response], render_error: Callable[[Exception], Response]) -> Response:
    """Serve a POST through its Idempotency-Key (or directly when it has none)."""
    key = key_from_header(request.headers.get(HEADER))
    if key is None:
        return dispatch()
    identity = current_identity()
    services = current_app.extensions["time_tracker"]
    settings, keys = services.settings, services.store.idempotency
    wanted_print = fingerprint(request.method, request.path, request.query_string, request.get_data(cache=True))
    now = services.clock()
    claim = IdempotencyClaim(
        fingerprint=wanted_print,
        owner=uuid.uuid4().hex,
        state="in_flight",
        created_at=now,
        locked_until=now + settings.idempotency_lock_seconds * 1000,
        expires_at=now + settings.idempotency_ttl_seconds * 1000,
    )
    deadline = time.monotonic() + settings.idempotency_wait_seconds
    pause = 0.02
    while True:
        try:
            held = keys.claim(identity.tenant_id, identity.user_id, key, claim)
        except Unavailable:
            # A store hiccup while claiming or waiting: try again until the deadline (a claim
            # whose answer was lost is found again below as our own).
            if time.monotonic() >= deadline:
                raise
            time.sleep(pause)
            continue
        if held is None or held.owner == claim.owner:
            break
        if held.fingerprint != wanted_print:
            raise Unprocessable(f"This {HEADER} was used for another request (a different body or path)")
        if held.state == "done":
            return _replay(held)
        if time.monotonic() >= deadline:
            raise Conflict(f"A request with this {HEADER} is still being processed; retry later")
        time.sleep(pause)
        pause = min(pause * 2, 0.2)
        now = services.clock()
        claim = replace(claim, created_at=now)
    try:
        try:
            response = dispatch()
        except (DomainError, HTTPException) as error:
            response = render_error(error)
    except BaseException:
        keys.release(identity.tenant_id, identity.user_id, key, claim.owner)
        raise
    if response.status_code >= 500:
        keys.release(identity.tenant_id, identity.user_id, key, claim.owner)
        return response
    headers = {name: response.headers[name] for name in KEPT_HEADERS if name in response.headers}
    body = response.get_data(as_text=True)
    keys.complete(
        identity.tenant_id, identity.user_id, key, claim.owner, response.status_code, {"body": body, "headers": headers}
    )
    return response


#: Operations whose answer is never replayed (it holds a secret shown once).
NOT_REPLAYED = frozenset({"create_access_token"})
_DESCRIPTION = (
    "Optional. A unique value per intended action (a UUID): a retry with the same key and the same "
    "request answers the first response again for 24 hours (with Idempotent-Replayed: true) instead of "
    "acting twice; the same key with another body is 422; while the first request with the key is "
    "still running a retry waits for it, then answers its response (409 when it takes too long). "
    "Keys are per user. Example: Idempotency-Key: 8e03978e-40d5-43e8-bc93-6894a57f9324"
)
_ERRORS = {
    "409": f"A request with this {HEADER} is still being processed; retry later",
    "422": f"This {HEADER} was used for another request (a different body or path)",
}


def document(schema: dict[str, Any]) -> dict[str, Any]:
    """Add the `Idempotency-Key` header, and its 409 and 422, to every POST of the spec."""
    for operations in schema.get("paths", {}).values():
        operation = operations.get("post")
        if not isinstance(operation, dict) or operation.get("operationId") in NOT_REPLAYED:
            continue
        operation.setdefault("parameters", []).append(
            {
                "name": HEADER,
                "in": "header",
                "type": "string",
                "minLength": 1,
                "maxLength": MAX_KEY,
                "pattern": "^[ -~]+$",  # printable ASCII, as the service checks
                "description": _DESCRIPTION,
            }
        )
        responses = operation.setdefault("responses", {})
        for code, message in _ERRORS.items():
            responses.setdefault(
                code,
                {
                    "description": message,
                    "schema": {"$ref": "#/definitions/Error"},
                    "examples": {"application/json": {"message": message}},
                },
            )
    return schema
