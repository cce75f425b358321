"""What a time entry's body may say, cleaned into typed values before any rule looks at it:
`new_entry(body)` for a POST, `entry_changes(body)` for a PUT. Unknown keys are ignored; each
error names its field, checked in the order the fields are listed here."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from commons.domain import cleaning
from commons.domain.cleaning import UNSET, Unset
from commons.domain.clock import MAX_OFFSET_MINUTES, parse_instant
from commons.domain.errors import Invalid

MAX_DESCRIPTION = 1500
MAX_URI = 2000
MAX_TECHNOLOGIES = 10


#: The stored fields, in the order they are checked and written.
STORED = (
    "project_id",
    "activity_id",
    "description",
    "uri",
    "technologies",
    "timezone_offset",
    "billable",
    "start_at",
    "end_at",
)


@dataclass(frozen=True, kw_only=True)
class _EntryFields:
    description: str | None | Unset = UNSET
    uri: str | None | Unset = UNSET
    technologies: tuple[str, ...] | Unset = UNSET
    timezone_offset: int | None | Unset = UNSET
    #: Null in the body is left out: the entry is billable as its project says.
    billable: bool | Unset = UNSET
    start_at: int | Unset = UNSET
    end_at: int | None | Unset = UNSET

    def values(self) -> dict[str, Any]:
        """The fields the body set, as the store keeps them."""
        found = {name: getattr(self, name) for name in STORED}
        if isinstance(found["technologies"], tuple):
            found["technologies"] = list(found["technologies"])
        return {name: value for name, value in found.items() if value is not UNSET}


@dataclass(frozen=True, kw_only=True)
class NewEntry(_EntryFields):
    """A new entry (clock in, or a past interval): its project and activity, and whatever else
    the body set (no start: now; no end: it runs)."""

    project_id: str
    activity_id: str


@dataclass(frozen=True, kw_only=True)
class EntryChanges(_EntryFields):
    """An edit: the fields the body set; with `shorten_previous`, a new start inside the
    owner's previous entry ends that entry there."""

    project_id: str | Unset = UNSET
    activity_id: str | Unset = UNSET
    shorten_previous: bool = False


def _reference(body: Mapping[str, Any], field: str) -> str:
    return cleaning.required_text(
        body.get(field), field, empty=f"{field.split('_')[0].capitalize()} id can not be empty"
    )


def _offset(value: Any) -> int | None:
    if value is None:
        return None
    bound = MAX_OFFSET_MINUTES
    if isinstance(value, bool) or not isinstance(value, int) or not -bound <= value <= bound:
        raise Invalid(f"timezone_offset must be an integer number of minutes between {-bound} and {bound}")
    return value


def _details(body: Mapping[str, Any], *, partial: bool) -> dict[str, Any]:
    """The optional fields present in `body`, cleaned."""
    values: dict[str, Any] = {}
    if "description" in body:
        values["description"] = cleaning.text(body["description"], "description", limit=MAX_DESCRIPTION)
    if "uri" in body:
        values["uri"] = cleaning.text(body["uri"], "uri", limit=MAX_URI)
    if "technologies" in body:
        values["technologies"] = tuple(cleaning.technologies(body["technologies"], at_most=MAX_TECHNOLOGIES))
    if "timezone_offset" in body:
        values["timezone_offset"] = _offset(body["timezone_offset"])
    if body.get("billable") is not None:
        if not isinstance(body["billable"], bool):
            raise Invalid("billable must be true or false (null: as the project)", "billable")
        values["billable"] = body["billable"]
    if body.get("start_date") is not None:
        values["start_at"] = parse_instant(body["start_date"], "start_date")
    elif "start_date" in body and partial:
        raise Invalid("start_date can not be empty", "start_date")
    if "end_date" in body:
        values["end_at"] = None if body["end_date"] is None else parse_instant(body["end_date"], "end_date")
    return values


def new_entry(body: Mapping[str, Any]) -> NewEntry:
    """A POST's body: project_id and activity_id are required."""
    references: dict[str, Any] = {}
    for field in ("project_id", "activity_id"):
        if field not in body:
            raise Invalid(f"{field} is a required property", field)
        references[field] = _reference(body, field)
    return NewEntry(**references, **_details(body, partial=False))


def entry_changes(body: Mapping[str, Any]) -> EntryChanges:
    """A PUT's body: every field is optional, but start_date can not be emptied."""
    references: dict[str, Any] = {f: _reference(body, f) for f in ("project_id", "activity_id") if f in body}
    details = _details(body, partial=True)
    flag = body.get("update_last_entry_if_overlap", False)
    if not isinstance(flag, bool):
        raise Invalid("update_last_entry_if_overlap must be true or false")
    return EntryChanges(**references, **details, shorten_previous=flag)
