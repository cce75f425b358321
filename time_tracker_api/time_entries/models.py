"""The `/time-entries` namespace's contract: its Swagger models, its query parameters and the
wire shape of an entry (`entry_json`)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from flask_restx import Namespace, fields, inputs, reqparse

from commons.data_access_layer.repository import Record
from commons.domain.clock import MAX_OFFSET_MINUTES, format_instant
from time_tracker_api import sync
from time_tracker_api.inputs import NOT_BLANK, query_parser
from time_tracker_api.resources import ERROR, NullableBoolean, NullableInteger, NullableString
from time_tracker_api.time_entries.inputs import MAX_DESCRIPTION, MAX_TECHNOLOGIES, MAX_URI
from time_tracker_api.time_entries.queries import MAX_LIST
from time_tracker_api.time_entries.reports import REPORT_GROUPS

#: Deeper pages are asked with `continuation`.
MAX_OFFSET = 1_000_000

ns = Namespace("time-entries", description="Time entries: clock in/out, edits, lists, summaries, reports")
ns.add_model(ERROR.name, ERROR)

_DATE_HELP = "ISO 8601: 2024-05-01T09:30:00.000Z, with an offset, or naive (UTC)"

#: What the service accepts, declared: an id is not blank (NOT_BLANK), an offset is within a day's bounds.
OFFSET = {"min": -MAX_OFFSET_MINUTES, "max": MAX_OFFSET_MINUTES}

time_entry_input = ns.model(
    "TimeEntryInput",
    {
        "project_id": fields.String(
            required=True, pattern=NOT_BLANK, description="The project", example="5a1e0c2e-3b9e-4d7e-9a55-4f1f2b6a9c11"
        ),
        "activity_id": fields.String(
            required=True,
            pattern=NOT_BLANK,
            description="The activity",
            example="c1d8e0b2-6a4f-4c3e-8d2a-1b2c3d4e5f60",
        ),
        "description": NullableString(
            max_length=MAX_DESCRIPTION, description="What was done", example="Reviewed the release"
        ),
        "start_date": NullableString(
            description=f"When it started (default: now). {_DATE_HELP}", example="2024-05-01T09:30:00.000Z"
        ),
        "end_date": NullableString(
            description=f"When it ended; omit or null to clock in. {_DATE_HELP}", example="2024-05-01T11:00:00.000Z"
        ),
        "uri": NullableString(max_length=MAX_URI, description="A ticket id or link", example="TT-54"),
        "technologies": fields.List(
            fields.String, max_items=MAX_TECHNOLOGIES, description="Technologies used", example=["python"]
        ),
        "timezone_offset": NullableInteger(
            description="The client's UTC offset in minutes, JavaScript sign (300 = UTC-5)", example=300, **OFFSET
        ),
        "billable": NullableBoolean(
            description="Billable time (default: as the project, which defaults as its customer)", example=True
        ),
    },
)
time_entry_update = ns.model(
    "TimeEntryUpdate",
    {
        **{k: v for k, v in time_entry_input.items() if k not in ("project_id", "activity_id")},
        "project_id": fields.String(pattern=NOT_BLANK, description="The project"),
        "activity_id": fields.String(pattern=NOT_BLANK, description="The activity"),
        # On an edit, start_date may be left out but not emptied: an entry always has a start.
        "start_date": fields.String(description=f"When it started. {_DATE_HELP}", example="2024-05-01T09:30:00.000Z"),
        "update_last_entry_if_overlap": fields.Boolean(
            description="When the new start_date falls inside your previous entry, end that entry there"
        ),
    },
)
time_entry = ns.inherit(
    "TimeEntry",
    time_entry_input,
    {
        "id": fields.String(readonly=True),
        "tenant_id": fields.String(readonly=True),
        "owner_id": fields.String(readonly=True),
        "deleted": NullableString(readonly=True, description="Always null"),
        "running": fields.Boolean(readonly=True, description="True while end_date is null"),
        "project_name": NullableString(readonly=True),
        "customer_id": NullableString(readonly=True),
        "customer_name": NullableString(readonly=True),
        "activity_name": NullableString(readonly=True),
        "owner_email": NullableString(readonly=True),
    },
)
paginated_model = ns.model(
    "TimeEntryPaginated",
    {
        "records_total": fields.Integer,
        "data": fields.List(fields.Nested(time_entry)),
        "continuation": NullableString(description="Pass it back as `continuation` for the next page"),
    },
)
duration = ns.model(
    "Duration",
    {
        "hours": fields.Integer(description="Whole hours", example=3),
        "minutes": fields.Integer(description="Whole minutes past the hours (0-59)", example=30),
        "seconds": fields.Integer(description="Whole seconds past the minutes (0-59)", example=12),
    },
)
summary_model = ns.model(
    "WorkedTimeSummary",
    {"day": fields.Nested(duration), "week": fields.Nested(duration), "month": fields.Nested(duration)},
)
_figures = {
    "seconds": fields.Integer(description="Raw duration inside the range, whole seconds per entry, summed"),
    "rounded_seconds": fields.Integer(description="Rounded per entry by the tenant's rule, summed"),
    "billable_seconds": fields.Integer(description="Rounded seconds of billable entries"),
    "amount": fields.Integer(description="Billable amount, minor units of the currency (cents)"),
    "cost": fields.Integer(description="Internal cost, minor units"),
    "count": fields.Integer(description="Entries"),
    "hours": fields.Float(description="seconds / 3600 to two decimals, for people (not additive)"),
}
sub_total = ns.model("ReportSubGroup", {"key": NullableString, "name": NullableString, **_figures})
group_total = ns.model(
    "ReportGroup",
    {
        "key": NullableString,
        "name": NullableString,
        **_figures,
        "groups": fields.List(fields.Nested(sub_total), description="With then_by: the second level"),
    },
)
report_entry = ns.inherit(
    "ReportEntry",
    time_entry,
    {
        "seconds": fields.Integer,
        "rounded_seconds": fields.Integer,
        "hourly_rate": NullableInteger(description="Minor units per hour"),
        "amount": fields.Integer,
        "cost_rate": NullableInteger(description="Minor units per hour"),
        "cost": fields.Integer,
    },
)
report_model = ns.model(
    "Report",
    {
        "group_by": fields.String(enum=list(REPORT_GROUPS)),
        "then_by": NullableString(description="The second level of totals, if any"),
        "start_date": NullableString,
        "end_date": NullableString,
        "currency": fields.String(example="EUR"),
        "currency_digits": fields.Integer(example=2),
        "rounding": fields.Raw(example={"mode": "up", "minutes": 15}),
        "entries": fields.List(fields.Nested(report_entry)),
        "totals": fields.List(fields.Nested(group_total)),
        "total": fields.Nested(ns.model("ReportTotal", _figures)),
    },
)


ZONE_HELP = (
    "Your zone, for month and day boundaries: timezone (IANA name, DST-aware) wins over "
    "timezone_offset (minutes, JavaScript sign: 300 = UTC-5). Default: UTC; 0 means UTC."
)


def _zone_args(parser: reqparse.RequestParser, offset_name: str = "timezone_offset") -> reqparse.RequestParser:
    offsets = inputs.int_range(-MAX_OFFSET_MINUTES, MAX_OFFSET_MINUTES)
    parser.add_argument(offset_name, type=offsets, location="args", help=ZONE_HELP)
    parser.add_argument("timezone", location="args", help="IANA zone, e.g. America/New_York (wins over the offset)")
    return parser


def _list_args(paged: bool = False) -> reqparse.RequestParser:
    parser = _zone_args(query_parser())
    parser.add_argument(
        "user_id", action="append", location="args", help="Admins: * or ids (comma separated or repeated)"
    )
    parser.add_argument("start_date", location="args", help=f"Range start. {_DATE_HELP}; naive dates are in your zone")
    parser.add_argument("end_date", location="args", help="Range end (a bare date includes that whole day)")
    parser.add_argument("month", type=inputs.int_range(1, 12), location="args", help="Month 1-12 (default: current)")
    parser.add_argument("year", type=inputs.int_range(1, 9998), location="args", help="Year (default: current)")
    parser.add_argument("project_id", location="args", help="Only the entries of this project")
    parser.add_argument("activity_id", location="args", help="Only the entries of this activity")
    parser.add_argument("customer_id", location="args", help="Only the entries of this customer's projects")
    parser.add_argument("uri", location="args", help="Only the entries with this uri (ticket id or link)")
    if paged:
        parser.add_argument(
            "start", type=inputs.int_range(0, MAX_OFFSET), default=0, location="args", help="Offset of the first row"
        )
        parser.add_argument(
            "length", type=inputs.int_range(0, 1000), default=50, location="args", help="Rows (max 1000)"
        )
        parser.add_argument("continuation", location="args", help="The token of the previous page (instead of start)")
    else:
        parser.add_argument("limit", type=inputs.int_range(1, MAX_LIST), location="args", help="At most this many")
    return parser


list_args = sync.add_arguments(_list_args(), limit=False)
#: What a sync list (updated_since) does not combine with: it lists every change of the owners.
WINDOW_FILTERS = ("start_date", "end_date", "month", "year", "project_id", "activity_id", "customer_id", "uri")
paged_args = _list_args(paged=True)
summary_args = _zone_args(query_parser(), "time_offset")
summary_args.add_argument(
    "timezone_offset",
    type=inputs.int_range(-MAX_OFFSET_MINUTES, MAX_OFFSET_MINUTES),
    location="args",
    help="Same as time_offset",
)
latest_args = _zone_args(query_parser())
report_args = _list_args()
report_args.add_argument("group_by", choices=REPORT_GROUPS, default="project", location="args", help="How to total")
report_args.add_argument(
    "then_by", choices=REPORT_GROUPS, location="args", help="A second level of totals in each group"
)
report_args.add_argument(
    "format", choices=("json", "csv", "xlsx"), location="args", help="csv or xlsx, or send the Accept type"
)


def entry_json(record: Record) -> dict[str, Any]:
    """The wire shape of a time entry (dates as `YYYY-MM-DDTHH:MM:SS.mmmZ`, `end_date` null while running)."""
    get = record.get  # a list makes 200 of these: one attribute lookup, not ten
    end = record["end_at"]
    return {
        "id": record["id"],
        "tenant_id": record["tenant_id"],
        "owner_id": record["owner_id"],
        "project_id": record["project_id"],
        "activity_id": record["activity_id"],
        "description": get("description"),
        "start_date": format_instant(record["start_at"]),
        "end_date": None if end is None else format_instant(end),
        "uri": get("uri"),
        "technologies": get("technologies") or [],
        "timezone_offset": get("timezone_offset"),
        "billable": get("billable"),
        "running": end is None,
        "deleted": get("deleted"),
        "project_name": get("project_name"),
        "customer_id": get("customer_id"),
        "customer_name": get("customer_name"),
        "activity_name": get("activity_name"),
        "owner_email": get("owner_email"),
    }


#: The keys of an entry record as the stores list them: those `entry_json` copies under the
#: same name (all of its answer but the three it computes), the two instants and the version.
_COMPUTED = {"start_date", "end_date", "running"}
_LISTED = frozenset(entry_json(defaultdict(lambda: None, start_at=0))) - _COMPUTED | {"start_at", "end_at", "_etag"}


def entries_json(records: list[Record]) -> list[dict[str, Any]]:
    """The wire shape of a list of entries (as `entry_json`), made in the records themselves,
    which the caller gives up: copying each into a new dict was a fifth of the Python work of a
    200-entry list (TT-17). A record with other keys than the stores' usual ones is copied by
    `entry_json`, so nothing else ever reaches the wire."""
    answer = []
    for record in records:
        if record.keys() != _LISTED:
            answer.append(entry_json(record))
            continue
        del record["_etag"]
        start, end = record.pop("start_at"), record.pop("end_at")
        record["start_date"] = format_instant(start)
        record["end_date"] = None if end is None else format_instant(end)
        record["running"] = end is None
        if not record["technologies"]:
            record["technologies"] = []
        answer.append(record)
    return answer


def report_entry_json(record: Record) -> dict[str, Any]:
    figures = ("seconds", "rounded_seconds", "hourly_rate", "amount", "cost_rate", "cost")
    return {**entry_json(record), **{k: record[k] for k in figures}}
