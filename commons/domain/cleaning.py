"""Cleaning of request values, one function per kind of field, so that a kind is cleaned the
same way wherever it is written (the API's input modules call these before any rule runs):

- `text`: surrounding blanks stripped; blank is None, or refused when the field is required;
  at most `limit` characters. Ids in a body are text too (`required_text` when they must be
  there).
- `id_list`: ids of a query string, comma separated or repeated.
- `technologies`: a list of strings, stripped, blanks and repeats dropped, at most `at_most`.
- `name_key`: what makes two catalogue names the same name (live names are unique by it).

Each answers the clean value or raises `Invalid` (naming the field where the API always did).
A field a body left out is `UNSET` in the typed values the input modules build (null is a value:
it clears the field).
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import Enum
from typing import Any

from commons.domain.errors import Invalid


class Unset(Enum):
    """A field the body left out (unlike null, which it may send to clear a field)."""

    UNSET = "unset"


UNSET = Unset.UNSET


def text(
    value: Any, field: str, *, limit: int | None = None, required: bool = False, empty: str | None = None
) -> str | None:
    """`value` stripped; None when absent or blank (refused with `empty`, by default "<field>
    can not be empty", when `required`); a string of at most `limit` characters."""
    if value is None:
        if required:
            raise Invalid(empty or f"{field} can not be empty", field)
        return None
    if not isinstance(value, str):
        raise Invalid(f"{field} must be a string", field)
    stripped: str = value.strip()
    if not stripped:
        if required:
            raise Invalid(empty or f"{field} can not be empty", field)
        return None
    if limit is not None and len(stripped) > limit:
        raise Invalid(f"{field} is too long (at most {limit} characters)", field)
    return stripped


def required_text(value: Any, field: str, *, limit: int | None = None, empty: str | None = None) -> str:
    """`text` that must be there and not blank."""
    cleaned = text(value, field, limit=limit, required=True, empty=empty)
    assert cleaned is not None
    return cleaned


def id_list(values: Iterable[str]) -> tuple[str, ...]:
    """Ids given comma separated or repeated (`?user_id=a,b&user_id=c`): stripped, blanks and
    repeats dropped, in the order given."""
    return tuple(dict.fromkeys(v.strip() for raw in values for v in raw.split(",") if v.strip()))


def technologies(value: Any, *, at_most: int, item_length: int | None = None) -> list[str]:
    """A list of technology names: null is none; each stripped, blanks and repeats dropped.
    More than `at_most` is refused (never cut: a write keeps all it was sent or nothing); with
    `item_length`, a name longer than that (as sent) is refused."""
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise Invalid("technologies must be an array of strings", "technologies")
    if item_length is not None and any(len(v) > item_length for v in value):
        raise Invalid(f"technologies are at most {item_length} characters each")
    unique = list(dict.fromkeys(v.strip() for v in value if v.strip()))
    if len(unique) > at_most:
        raise Invalid(f"technologies can hold at most {at_most} items", "technologies")
    return unique


def name_key(name: str) -> str:
    """A catalogue name's uniqueness key, the same on every engine: stripped, and lowercased
    by Python (every letter with a case, not ASCII only as SQL's `lower()` folds). `.lower()`,
    not `.casefold()`: Cosmos name guards already stored are digests of `.lower()` keys."""
    return name.strip().lower()
