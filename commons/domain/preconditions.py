"""`If-Match` (RFC 9110 13.1.1): a list of entity tags, compared strongly.

- absent or `*`: no condition;
- `"a"` or a list `"a", "b"`: the current version must be one of them;
- weak tags (`W/"a"`) never match under the strong comparison, so a header holding only weak
  tags fails (412).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from commons.domain.errors import PreconditionFailed

_TAG = re.compile(r'\s*(W/)?"([^"]*)"\s*(?:,|$)')


def stale(label: str) -> str:
    """The one message of a write that found another version than the one it was meant for."""
    return f"{label}: changed by someone else (ETag mismatch); reload it and retry"


@dataclass(frozen=True)
class IfMatch:
    """The strong entity tags an `If-Match` header lists (unquoted)."""

    tags: tuple[str, ...]

    def matches(self, current: str) -> bool:
        return current in self.tags

    def check(self, current: str, label: str = "Item") -> None:
        if not self.matches(current):
            raise PreconditionFailed(stale(label))

    def expected(self, current: Callable[[], str], label: str = "Item") -> str:
        """The version a conditional write must find: the one tag listed (the store compares
        it atomically), or, for a list, the current version when the list names it."""
        if len(self.tags) == 1:
            return self.tags[0]
        version = current()
        self.check(version, label)
        return version


def parse_if_match(raw: str | None) -> IfMatch | None:
    """The condition of an `If-Match` header; None when there is none."""
    if raw is None or not raw.strip() or raw.strip() == "*":
        return None
    value = raw.strip()
    if '"' not in value:
        return IfMatch((value,))  # a bare token from a lenient client: one strong tag
    found = _TAG.findall(value)
    if not found or "".join(f'{w}"{t}"' for w, t in found) != re.sub(r"[\s,]", "", value):
        raise PreconditionFailed("If-Match must be * or a list of quoted entity tags")
    return IfMatch(tuple(tag for weak, tag in found if not weak))
