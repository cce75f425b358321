"""The audit log (`/events`, admin): who created, changed or deleted what, and when."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask_restx import Namespace, fields, inputs

from commons.data_access_layer.repository import EventQuery, Record, Store
from commons.domain.clock import MAX_OFFSET_MINUTES, parse_query_bound, zone_from
from commons.domain.errors import Invalid
from commons.domain.identity import Identity, require_admin
from time_tracker_api.inputs import query_parser
from time_tracker_api.resources import ERROR, Base, NullableString, store
from time_tracker_api.security import current_identity

ns = Namespace("events", description="Audit events of your tenant (admin)")
ns.add_model(ERROR.name, ERROR)

event = ns.model(
    "Event",
    {
        "id": fields.String(description="Derived from the write's own id: one event per write"),
        "tenant_id": fields.String,
        "user_id": NullableString(description="Who wrote"),
        "action": fields.String(enum=["create", "update", "delete"]),
        "description": NullableString(example="Stop time entry"),
        "item_id": fields.String,
        "container_id": fields.String(example="time_entry"),
        "session_id": NullableString,
        "date": fields.String(example="2024-05-01T09:30:00.000Z"),
    },
)
page = ns.model(
    "EventPage",
    {
        "data": fields.List(fields.Nested(event)),
        "continuation": NullableString(description="Pass it back for the next page; null at the end"),
    },
)

args = query_parser()
args.add_argument("item_id", location="args", help="Only the events of this item")
args.add_argument("container_id", location="args", help="Only the events of this container (customer, time_entry...)")
args.add_argument("user_id", location="args", help="Only the events written by this user")
args.add_argument("action", choices=("create", "update", "delete"), location="args", help="Only this kind of write")
args.add_argument("start_date", location="args", help="From this instant (naive and bare dates in your zone)")
args.add_argument("end_date", location="args", help="Until this instant (a bare date includes that day)")
args.add_argument(
    "timezone_offset",
    type=inputs.int_range(-MAX_OFFSET_MINUTES, MAX_OFFSET_MINUTES),
    location="args",
    help="Your UTC offset in minutes, JavaScript sign (300 = UTC-5)",
)
args.add_argument("timezone", location="args", help="IANA zone, e.g. America/New_York (wins over the offset)")
args.add_argument("limit", type=inputs.int_range(1, 500), default=50, location="args", help="Page size (max 500)")
args.add_argument("continuation", location="args", help="The token of the previous page")


def list_events(store: Store, identity: Identity, a: Mapping[str, Any]) -> tuple[list[Record], str | None]:
    """A page of the tenant's audit events (admins only)."""
    require_admin(identity)
    zone = zone_from(a.get("timezone_offset"), a.get("timezone"))
    start = parse_query_bound(a["start_date"], "start_date", zone) if a.get("start_date") else None
    end = parse_query_bound(a["end_date"], "end_date", zone, end=True) if a.get("end_date") else None
    if start is not None and end is not None and end < start:
        raise Invalid("end_date must not be before start_date")
    query = EventQuery(
        item_id=a.get("item_id"),
        container_id=a.get("container_id"),
        user_id=a.get("user_id"),
        action=a.get("action"),
        start=start,
        end=end,
        limit=a.get("limit") or 50,
        continuation=a.get("continuation"),
    )
    with store.unit_of_work(identity) as uow:
        return uow.events.list(query)


@ns.route("")
@ns.response(401, "Missing or invalid token", ERROR)
@ns.response(403, "You don't have enough permissions.", ERROR)
class Events(Base):
    @ns.expect(args)
    @ns.response(200, "A page of events, newest first", page)
    @ns.response(400, "Malformed filter or token", ERROR)
    @ns.doc(id="list_events")
    def get(self) -> Any:
        """Audit events of your tenant, newest first, filtered and paginated (admin)

        One event per write (create, update, delete) with who, when and what; pass continuation for
        the next page.
        """
        data, token = list_events(store(), current_identity(), args.parse_args())
        return {"data": data, "continuation": token}
