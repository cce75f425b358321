"""Sync lists (TT-15): `updated_since` and `include_deleted` on the lists, so that a client
can mirror a tenant with one cursor per list.

`GET /customers?updated_since=2024-05-01T00:00:00Z&include_deleted=true` answers the items
changed at or after that instant, oldest change first (then by id), at most `limit` (500,
at most 1,000), soft-deleted ones as tombstones (`deleted` set), each with its `updated_at`;
the `Sync-Cursor` header is the position after the page. Pass it back as `updated_since` to
get the next page, and later the next changes: a page shorter than `limit` means caught up.

Changes are listed once they are SYNC_SETTLE_SECONDS old: a write takes its change instant
before it commits, so a younger change could still be joined by an older one committing
late (or by a host whose clock is a little behind), which a cursor past it would never list.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from flask import current_app
from flask_restx import inputs, reqparse

from commons.data_access_layer.repository import ChangeQuery, Record
from commons.domain import cursors
from commons.domain.clock import format_instant, parse_instant
from commons.domain.errors import Invalid

HEADER = "Sync-Cursor"
_CURSOR = "sync_"
DEFAULT_LIMIT, MAX_LIMIT = 500, 1000
EXAMPLE = (
    "Example: GET /customers?updated_since=2024-05-01T00:00:00Z&include_deleted=true, then "
    f"GET /customers?updated_since=<the {HEADER} header>&include_deleted=true until a page is shorter than limit"
)


@dataclass(frozen=True)
class Sync:
    """A sync request: where from, tombstones or not, how many."""

    after: tuple[int, str]
    include_deleted: bool
    limit: int


def add_arguments(parser: reqparse.RequestParser, *, limit: bool = True) -> reqparse.RequestParser:
    parser.add_argument(
        "updated_since",
        location="args",
        help="Sync: only items changed since this instant (ISO 8601), or the Sync-Cursor header of the "
        "previous answer; oldest change first, each item with updated_at. " + EXAMPLE,
    )
    parser.add_argument(
        "include_deleted",
        type=_boolean,
        default=False,
        location="args",
        help="Sync (with updated_since): also deleted items, as tombstones with deleted set",
    )
    if limit:
        parser.add_argument(
            "limit",
            type=inputs.int_range(1, MAX_LIMIT),
            location="args",
            help=f"Sync (with updated_since): page size (default {DEFAULT_LIMIT}, max {MAX_LIMIT})",
        )
    return parser


def encode_cursor(after: tuple[int, str]) -> str:
    return _CURSOR + cursors.encode(after)


def _decode_cursor(token: str) -> tuple[int, str]:
    message = "updated_since is not an instant nor a Sync-Cursor this API gave"
    return cursors.decode_position(token[len(_CURSOR) :], 64, message, "updated_since")


def _boolean(value: Any) -> bool:
    """`true`/`false` (and 1/0, yes/no); an empty value is refused, not read as false."""
    if value == "":
        raise ValueError("include_deleted must be true or false")
    return bool(inputs.boolean(value))


_boolean.__schema__ = {"type": "boolean"}  # type: ignore[attr-defined]  # what flask-restx documents


def requested(args: Mapping[str, Any], other_filters: tuple[str, ...] = ()) -> Sync | None:
    """The sync request of a list's query arguments (None: a plain list)."""
    since = args.get("updated_since")
    if since is None or since == "":
        if args.get("include_deleted"):
            raise Invalid("include_deleted needs updated_since", "include_deleted")
        return None
    combined = [name for name in other_filters if args.get(name) not in (None, "", [], ())]
    if combined:
        raise Invalid(f"updated_since lists every change; it does not combine with {', '.join(combined)}", combined[0])
    if since.startswith(_CURSOR):
        after = _decode_cursor(since)
    else:
        # Inclusive: an item changed at exactly that instant is listed.
        after = (parse_instant(since.replace(" ", "+"), "updated_since") - 1, "\uffff")
    limit = int(args.get("limit") or DEFAULT_LIMIT)
    if limit > MAX_LIMIT:
        raise Invalid(f"limit is at most {MAX_LIMIT} with updated_since", "limit")
    return Sync(after, bool(args.get("include_deleted")), limit)


def query(sync: Sync, now: int, owners: tuple[str, ...] | None = None) -> ChangeQuery:
    """The store's query: up to the settle horizon (strictly before it, so a write in the same
    millisecond as the answer is never passed)."""
    settle_ms = int(current_app.extensions["time_tracker"].settings.sync_settle_seconds * 1000)
    return ChangeQuery(sync.after, now - settle_ms - 1, sync.limit, sync.include_deleted, owners)


def answer(sync: Sync, records: list[Record], shape: Callable[[Record], dict[str, Any]]) -> Any:
    """The page (each item with `updated_at`) and the cursor after it."""
    after = (records[-1]["updated_at"], records[-1]["id"]) if records else sync.after
    items = [{**shape(r), "updated_at": format_instant(r["updated_at"])} for r in records]
    return items, 200, {HEADER: encode_cursor(after)}
