"""Continuation tokens: one codec for every paged answer (events, lists, sync, deliveries).

A token is URL-safe base64 of JSON, without padding (padded tokens are read too); its content
is the engine's business and is checked on the way back, so a token the API did not give is a
400, never a 500.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import orjson

from commons.domain.errors import Invalid

NOT_OURS = "continuation is not a token this API gave"


def encode(value: Any) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(value)).decode().rstrip("=")


def decode(token: str, message: str = NOT_OURS, field: str | None = None) -> Any:
    try:
        return orjson.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (ValueError, TypeError, binascii.Error, UnicodeError):
        raise Invalid(message, field) from None


def decode_position(token: str, id_length: int, message: str = NOT_OURS, field: str | None = None) -> tuple[int, str]:
    """An `[instant or sequence, id]` position, as `encode((n, id))` wrote it."""
    value = decode(token, message, field)
    if not (
        isinstance(value, list)
        and len(value) == 2
        and type(value[0]) is int
        and abs(value[0]) < 2**62
        and isinstance(value[1], str)
        and len(value[1]) <= id_length
    ):
        raise Invalid(message, field)
    return value[0], value[1]
