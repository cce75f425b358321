"""Personal access tokens: their shape, their digest at rest, their rules (pure functions).

A token reads `ttp_<tenant>.<token id>.<secret>`: `ttp_` makes it recognisable (secret
scanners, logs), the tenant (base64url) and the id let the store find it with one point read
in the tenant's partition, and the secret (32 random bytes) is kept only as a SHA-256 digest.
A fast digest is enough for a random 256-bit secret (nothing to brute-force, unlike a
password); the digest also covers tenant and id, so a stored digest can not be moved to
another token.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

from commons.domain.errors import Invalid

PREFIX = "ttp_"
MAX_NAME = 100
#: Tokens one user may hold (live ones: not revoked, not expired).
MAX_TOKENS_PER_USER = 50
#: Last use is written at most this often per token (a write per request would be one per call).
LAST_USE_RESOLUTION_MS = 60_000
_ID = re.compile(r"^[0-9a-f]{32}$")
_SECRET = re.compile(r"^[A-Za-z0-9_-]{43}$")


@dataclass(frozen=True)
class ParsedToken:
    tenant_id: str
    token_id: str
    secret: str


def looks_like_token(raw: str) -> bool:
    """A personal access token (not a JWT): it starts with the prefix."""
    return raw.startswith(PREFIX)


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def new_token(tenant_id: str) -> tuple[str, ParsedToken]:
    """A fresh token (shown once) and its parts."""
    parsed = ParsedToken(tenant_id, uuid.uuid4().hex, secrets.token_urlsafe(32))
    return f"{PREFIX}{_b64(tenant_id)}.{parsed.token_id}.{parsed.secret}", parsed


def parse_token(raw: str) -> ParsedToken | None:
    """The parts of a well-formed token; None for anything else (the caller answers 401)."""
    if not looks_like_token(raw) or len(raw) > 300:
        return None
    parts = raw[len(PREFIX) :].split(".")
    if len(parts) != 3:
        return None
    encoded, token_id, secret = parts
    try:
        tenant = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None
    if not tenant or not _ID.match(token_id) or not _SECRET.match(secret):
        return None
    return ParsedToken(tenant, token_id, secret)


def digest(parsed: ParsedToken) -> str:
    """What the store keeps instead of the secret."""
    return hashlib.sha256(f"{parsed.tenant_id}.{parsed.token_id}.{parsed.secret}".encode()).hexdigest()


def matches(parsed: ParsedToken, stored_digest: str) -> bool:
    return hmac.compare_digest(digest(parsed), stored_digest)


def hint(token: str) -> str:
    """How lists show a token: the prefix and the last four characters."""
    return f"{PREFIX}…{token[-4:]}"


def usable(record: dict[str, Any], now: int) -> str | None:
    """Why a stored token can not be used now (None: it can)."""
    if record.get("revoked_at") is not None:
        return "This personal access token has been revoked"
    expires = record.get("expires_at")
    if expires is not None and expires <= now:
        return "This personal access token has expired"
    return None


def clean_name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise Invalid("name is required: say what the token is for", "name")
    value = value.strip()
    if len(value) > MAX_NAME:
        raise Invalid(f"name is too long (at most {MAX_NAME} characters)", "name")
    return str(value)
