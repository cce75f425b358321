"""What a personal access token's body may say (`POST /users/me/tokens`), cleaned into a
`TokenInput` before any rule looks at it. Unknown keys are ignored."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from commons.domain import tokens
from commons.domain.clock import parse_instant
from commons.domain.errors import Invalid


@dataclass(frozen=True)
class TokenInput:
    """A new token: what it is for, whether it only reads, and when it expires (None: never)."""

    name: str
    read_only: bool
    expires_at: int | None


def token_input(body: Mapping[str, Any]) -> TokenInput:
    name = tokens.clean_name(body.get("name"))
    read_only = body.get("read_only", False)
    if not isinstance(read_only, bool):
        raise Invalid("read_only must be true or false", "read_only")
    expires_at = None
    if body.get("expires_at") is not None:
        expires_at = parse_instant(body["expires_at"], "expires_at")
    return TokenInput(name, read_only, expires_at)
