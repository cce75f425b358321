"""What a catalogue item's body may say (customers, project types, projects, activities,
technologies), cleaned into an `ItemChanges` before any rule looks at it. Only the fields the
item's spec lets a client write are read; unknown and server-owned keys are ignored."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from commons.data_access_layer.repository import CatalogueSpec
from commons.domain import cleaning
from commons.domain.cleaning import UNSET, Unset
from commons.domain.errors import Invalid

STATUSES = {"active": "active", "inactive": "inactive", 1: "active", 0: "inactive"}
#: At most this many technologies on a project (more is refused, never cut).
MAX_TECHNOLOGIES = 50
#: The longest value each text field keeps (the stores' column sizes); ids are 36 characters.
#: The Swagger models may declare less (a name is at most 50 characters there).
MAX_LENGTHS = {"name": 255, "description": 5000, "creation_date": 40, "technologies": 255}
MAX_ID = 36


def max_length(field: str) -> int:
    """The longest text `field` may hold (ids, then the named limits, else 5000)."""
    return MAX_ID if field.endswith("_id") else MAX_LENGTHS.get(field, 5000)


@dataclass(frozen=True, kw_only=True)
class ItemChanges:
    """The writable fields a body set, cleaned (UNSET: left out). Which fields an item has is
    its spec's business (`CatalogueSpec.fields`)."""

    name: str | Unset = UNSET
    description: str | None | Unset = UNSET
    customer_id: str | None | Unset = UNSET
    project_type_id: str | None | Unset = UNSET
    parent_id: str | None | Unset = UNSET
    technologies: tuple[str, ...] | Unset = UNSET
    status: str | Unset = UNSET
    #: None: as the level above (a project as its customer; a customer: billable).
    billable: bool | None | Unset = UNSET
    first_use_time_entry_id: str | None | Unset = UNSET
    creation_date: str | None | Unset = UNSET

    def values(self) -> dict[str, Any]:
        """The fields the body set, as the store keeps them."""
        found = {f.name: getattr(self, f.name) for f in fields(self)}
        if isinstance(found["technologies"], tuple):
            found["technologies"] = list(found["technologies"])
        return {name: value for name, value in found.items() if value is not UNSET}


def _status(value: Any) -> str:
    if value not in STATUSES or isinstance(value, float):
        raise Invalid("status must be 'active' or 'inactive'", "status")
    return STATUSES[value]


def _billable(value: Any) -> bool | None:
    if value is not None and not isinstance(value, bool):
        raise Invalid("billable must be true, false or null", "billable")
    return value


def item_changes(spec: CatalogueSpec, body: Mapping[str, Any], *, partial: bool) -> ItemChanges:
    """The fields of `spec` present in `body`, cleaned in the spec's order; without `partial`
    (a create) the name is required."""
    values: dict[str, Any] = {}
    for field in spec.fields:
        if field not in body:
            continue
        value = body[field]
        if field == "name":
            values[field] = cleaning.required_text(value, "name", limit=max_length("name"))
        elif field == "status":
            values[field] = _status(value)
        elif field == "billable":
            values[field] = _billable(value)
        elif field == "technologies":
            kept = cleaning.technologies(value, at_most=MAX_TECHNOLOGIES, item_length=max_length("technologies"))
            values[field] = tuple(kept)
        else:
            values[field] = cleaning.text(value, field, limit=max_length(field))
    if not partial and "name" not in values:
        raise Invalid("name is a required property", "name")
    return ItemChanges(**values)
