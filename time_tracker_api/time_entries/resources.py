"""The `/time-entries` namespace: thin resources over `service`."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import tzinfo
from typing import Any

from flask import Response, current_app, request, stream_with_context
from flask_restx import Namespace, fields, inputs, reqparse

from commons.data_access_layer.repository import Record
from commons.domain.clock import MAX_OFFSET_MINUTES, format_instant, from_ms, zone_from
from commons.domain.errors import Invalid
from commons.domain.money import format_minor
from time_tracker_api import sync
from time_tracker_api.inputs import NOT_BLANK, body, query_parser
from time_tracker_api.resources import ERROR, Base, NullableBoolean, NullableInteger, NullableString, if_match, store
from time_tracker_api.security import current_identity
from time_tracker_api.time_entries import service, spreadsheet

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

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
        "description": NullableString(max_length=1500, description="What was done", example="Reviewed the release"),
        "start_date": NullableString(
            description=f"When it started (default: now). {_DATE_HELP}", example="2024-05-01T09:30:00.000Z"
        ),
        "end_date": NullableString(
            description=f"When it ended; omit or null to clock in. {_DATE_HELP}", example="2024-05-01T11:00:00.000Z"
        ),
        "uri": NullableString(max_length=service.MAX_URI, description="A ticket id or link", example="TT-54"),
        "technologies": fields.List(fields.String, max_items=10, description="Technologies used", example=["python"]),
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
        "group_by": fields.String(enum=list(service.REPORT_GROUPS)),
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
        parser.add_argument(
            "limit", type=inputs.int_range(1, service.MAX_LIST), location="args", help="At most this many"
        )
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
report_args.add_argument(
    "group_by", choices=service.REPORT_GROUPS, default="project", location="args", help="How to total"
)
report_args.add_argument(
    "then_by", choices=service.REPORT_GROUPS, location="args", help="A second level of totals in each group"
)
report_args.add_argument(
    "format", choices=("json", "csv", "xlsx"), location="args", help="csv or xlsx, or send the Accept type"
)


def _now() -> int:
    return current_app.extensions["time_tracker"].clock()  # type: ignore[no-any-return]


def _rules() -> service.Rules:
    return service.Rules(skew_ms=current_app.extensions["time_tracker"].settings.clock_skew_seconds * 1000)


OVERRIDE_HELP = (
    "Admins: true to write an entry of a locked period (recorded in the audit trail); "
    "anyone else asking for it gets 403"
)
LOCKED = "The entry is in a locked period (override_lock=true, admins only)"


def _override() -> bool:
    """`override_lock`: an admin's explicit choice to write an entry of a locked period."""
    raw = request.args.get("override_lock")
    if raw is None:
        return False
    try:
        return bool(inputs.boolean(raw))
    except ValueError:
        raise Invalid("override_lock must be true or false", "override_lock") from None


def _zone(args: dict[str, Any], offset_name: str = "timezone_offset") -> tzinfo:
    offset = args.get(offset_name)
    if offset is None and offset_name != "timezone_offset":
        offset = args.get("timezone_offset")
    return zone_from(offset, args.get("timezone"))


def _filters(args: dict[str, Any]) -> service.Filters:
    limit = args.get("limit")
    if "length" in args:
        limit = args["length"] or service.MAX_LIST
    return service.Filters(
        user_ids=tuple(args.get("user_id") or ()),
        start_date=args.get("start_date"),
        end_date=args.get("end_date"),
        month=args.get("month"),
        year=args.get("year"),
        project_id=args.get("project_id"),
        activity_id=args.get("activity_id"),
        customer_id=args.get("customer_id"),
        uri=args.get("uri"),
        limit=limit if limit is not None else service.MAX_LIST,
        offset=args.get("start") or 0,
    )


def _owner_emails(entries: list[Record]) -> list[Record]:
    """With an external directory (Graph), owners' e-mails come from it: one batched, cached
    lookup for the whole page. (The store's own directory is joined by the query.)"""
    directory = current_app.extensions["time_tracker"].directory
    if directory.external and entries:
        emails = directory.emails(current_identity(), {e["owner_id"] for e in entries})
        for entry in entries:
            entry["owner_email"] = emails.get(entry["owner_id"], entry.get("owner_email"))
    return entries


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


def report_entry_json(record: Record) -> dict[str, Any]:
    figures = ("seconds", "rounded_seconds", "hourly_rate", "amount", "cost_rate", "cost")
    return {**entry_json(record), **{k: record[k] for k in figures}}


def _entity(record: Record, status: int = 200) -> tuple[dict[str, Any], int, dict[str, str]]:
    return entry_json(record), status, {"ETag": f'"{record["_etag"]}"'}


@ns.route("")
@ns.response(401, "Missing or invalid token", ERROR)
class TimeEntries(Base):
    @ns.expect(list_args)
    @ns.response(
        200,
        "Your entries (admins: anyone's with user_id), newest start first; with updated_since a sync page",
        [time_entry],
        headers={sync.HEADER: "With updated_since: pass it back as updated_since for what follows"},
    )
    @ns.response(400, "Malformed filter", ERROR)
    @ns.response(403, "You don't have enough permissions.", ERROR)
    @ns.doc(id="list_time_entries")
    def get(self) -> Any:
        """List time entries of a month (default: the current one) or of a date range

        Without start_date/end_date: the month and year given (default: the current month in your
        zone). Admins may pass user_id (* for everyone). Newest start first; a running entry has
        end_date null. With updated_since (sync): every entry of those users changed since then, oldest
        change first, a page of limit (max 1000), deleted ones as tombstones with include_deleted=true;
        the Sync-Cursor header is the next updated_since. Example: GET
        /time-entries?updated_since=2024-05-01T00:00:00Z&include_deleted=true&limit=500
        """
        args = list_args.parse_args()
        wanted = sync.requested(args, WINDOW_FILTERS)
        if wanted is not None:
            query = sync.query(wanted, _now())
            changed = service.list_changes(store(), current_identity(), tuple(args.get("user_id") or ()), query)
            return sync.answer(wanted, _owner_emails(changed), entry_json)
        entries = service.list_entries(store(), current_identity(), _filters(args), _zone(args), _now())
        return [entry_json(e) for e in _owner_emails(entries)]

    # Documented by the model, validated by the service (one pass, clearer messages).
    @ns.expect(time_entry_input, validate=False)
    @ns.response(201, "Created", time_entry, headers={"Location": "The new entry's path", "ETag": "Its version"})
    @ns.response(400, "Invalid input, unknown project or activity, dates in the future or reversed", ERROR)
    @ns.response(409, "You already have a running time entry; stop it first", ERROR)
    @ns.response(422, service.OVERLAP, ERROR)
    @ns.doc(id="clock_in", params={"override_lock": {"description": OVERRIDE_HELP, "type": "boolean", "in": "query"}})
    @ns.response(423, LOCKED, ERROR)
    def post(self) -> Any:
        """Clock in (without end_date) or record a past interval

        Without end_date the entry runs (at most one per user, 409 otherwise). Entries of one user
        never overlap (422); intervals are half-open, so one may start where another ends. The
        project and its customer, and the activity, must be active.
        """
        created = service.create(store(), current_identity(), body(), _now(), _rules(), _override())
        payload, status, headers = _entity(created, 201)
        headers["Location"] = f"{request.root_path}{ns.path}/{created['id']}"
        return payload, status, headers


@ns.route("/running")
@ns.response(401, "Missing or invalid token", ERROR)
class Running(Base):
    @ns.response(200, "Your running entry", time_entry)
    @ns.response(204, "Nothing is running")
    @ns.doc(id="get_running_time_entry")
    def get(self) -> Any:
        """Your running time entry (204 when none)

        The entry with end_date null, or 204 with an empty body when nothing runs.
        """
        entry = service.running(store(), current_identity())
        return (None, 204) if entry is None else _entity(entry)


@ns.route("/stop")
@ns.response(401, "Missing or invalid token", ERROR)
class StopRunning(Base):
    @ns.response(200, "Stopped", time_entry)
    @ns.response(404, "You have no running time entry", ERROR)
    @ns.doc(
        id="stop_running_time_entry",
        params={"override_lock": {"description": OVERRIDE_HELP, "type": "boolean", "in": "query"}},
    )
    @ns.response(423, LOCKED, ERROR)
    def put(self) -> Any:
        """Stop your running time entry now

        Sets end_date to now on your running entry, whichever it is.
        """
        return _entity(service.stop(store(), current_identity(), None, if_match(), _now(), _override()))


@ns.route("/summary")
@ns.response(401, "Missing or invalid token", ERROR)
class Summary(Base):
    @ns.expect(summary_args)
    @ns.response(200, "Worked time", summary_model)
    @ns.response(400, "Malformed zone", ERROR)
    @ns.doc(id="get_worked_time_summary")
    def get(self) -> Any:
        """Your worked time today, this week (from Monday) and this month; running time counts

        Each window is computed in your zone (time_offset or timezone), clipping entries to it;
        every duration is whole hours, minutes and seconds.
        """
        args = summary_args.parse_args()
        return service.summary(store(), current_identity(), _zone(args, "time_offset"), _now())


@ns.route("/latest")
@ns.response(401, "Missing or invalid token", ERROR)
class Latest(Base):
    @ns.expect(latest_args)
    @ns.response(200, "One entry per project", [time_entry])
    @ns.doc(id="list_latest_time_entries")
    def get(self) -> Any:
        """Your most recent entry of each project this month

        One entry per project you worked on this month, newest first (for quick restarts).
        """
        args = latest_args.parse_args()
        return [entry_json(e) for e in service.latest(store(), current_identity(), _zone(args), _now())]


@ns.route("/paginated")
@ns.response(401, "Missing or invalid token", ERROR)
class Paginated(Base):
    @ns.expect(paged_args)
    @ns.response(200, "A page and the total count", paginated_model)
    @ns.response(400, "Malformed filter", ERROR)
    @ns.response(403, "You don't have enough permissions.", ERROR)
    @ns.doc(id="list_time_entries_page")
    def get(self) -> Any:
        """A page of time entries (start and length, or continuation) with the total count

        The filters of the list, plus start/length (or the continuation of the previous page);
        records_total counts every match.
        """
        args = paged_args.parse_args()
        filters, token = _filters(args), args.get("continuation")
        page = service.paginated(store(), current_identity(), filters, _zone(args), _now(), token)
        data = [entry_json(e) for e in _owner_emails(page["data"])]
        return {"records_total": page["records_total"], "data": data, "continuation": page["continuation"]}


CSV_COLUMNS = (
    "id",
    "owner_email",
    "date",
    "start_date",
    "end_date",
    "duration_hours",
    "project_name",
    "project_id",
    "customer_name",
    "customer_id",
    "activity_name",
    "uri",
    "description",
    "technologies",
    "billable",
    "seconds",
    "rounded_seconds",
    "hourly_rate",
    "amount",
    "cost_rate",
    "cost",
)
#: Money columns: major units, exact decimals of the integer minor units.
_MONEY = ("hourly_rate", "amount", "cost_rate", "cost")
TOTAL_COLUMNS = (
    "group_by",
    "key",
    "name",
    "parent_key",
    "seconds",
    "rounded_seconds",
    "billable_seconds",
    "amount",
    "cost",
    "count",
    "hours",
)


#: A cell starting with one of these is a formula to a spreadsheet (CSV injection).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> str:
    """A cell as text that no spreadsheet evaluates: a leading formula character gets a quote
    before it (OWASP's advice for CSV injection)."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def _csv_rows(report: dict[str, Any], zone: tzinfo, now: int) -> Iterator[str]:
    """The entries, then a blank line and the totals of `group_by` (each group followed by
    its `then_by` sub-groups, whose `parent_key` is the group's; the grand total last), with
    the figures of the JSON report: seconds as integers, money in major units (exact)."""
    digits = report["currency_digits"]
    yield from _csv_entries(report["entries"], zone, now, digits)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([])
    writer.writerow(TOTAL_COLUMNS)

    def figures(total: dict[str, Any]) -> list[Any]:
        money = (format_minor(total["amount"], digits), format_minor(total["cost"], digits))
        seconds = (total["seconds"], total["rounded_seconds"], total["billable_seconds"])
        return [*seconds, *money, total["count"], f"{total['hours']:.2f}"]

    for total in report["totals"]:
        writer.writerow([csv_cell(v) for v in (report["group_by"], total["key"], total["name"], "", *figures(total))])
        for sub in total.get("groups", ()):
            row = (report["then_by"], sub["key"], sub["name"], total["key"], *figures(sub))
            writer.writerow([csv_cell(v) for v in row])
    writer.writerow(["total", "", "", "", *figures(report["total"])])
    yield buffer.getvalue()


def _csv_entries(entries: list[Record], zone: tzinfo, now: int, digits: int) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def flush() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    writer.writerow(CSV_COLUMNS)
    yield flush()
    for entry in entries:
        row = entry_json(entry)
        end = entry["end_at"] if entry["end_at"] is not None else now
        row["date"] = from_ms(entry["start_at"], zone).date().isoformat()
        row["duration_hours"] = f"{(end - entry['start_at']) / 3_600_000:.2f}"
        row["technologies"] = ";".join(row["technologies"])
        row["billable"] = "true" if entry["billable"] else "false"
        row["seconds"], row["rounded_seconds"] = entry["seconds"], entry["rounded_seconds"]
        for column in _MONEY:
            row[column] = None if entry[column] is None else format_minor(entry[column], digits)
        writer.writerow([csv_cell(row.get(c)) for c in CSV_COLUMNS])
        yield flush()


@ns.route("/report")
@ns.response(401, "Missing or invalid token", ERROR)
class Report(Base):
    @ns.expect(report_args)
    @ns.response(200, "Entries and totals (JSON, CSV or XLSX)", report_model)
    @ns.response(400, "Malformed filter or too large a report", ERROR)
    @ns.response(403, "You don't have enough permissions.", ERROR)
    @ns.produces(["application/json", "text/csv", XLSX])
    @ns.doc(id="get_time_entries_report")
    def get(self) -> Any:
        """Admin report over users, projects, activities and a date range, with totals and amounts

        Each entry's duration inside the range (whole seconds), rounded by the tenant's rule, its
        billable amount and cost (minor units, from the rate valid at its start), with totals grouped
        by project, activity, customer, owner (user), day, week, month or billable, and a second level
        with then_by. Every total is the sum of its rows. JSON, CSV (format=csv or Accept: text/csv)
        or XLSX (format=xlsx or its Accept type) with the same figures.
        """
        args = report_args.parse_args()
        zone, now = _zone(args), _now()
        filters = _filters(args)
        result = service.report(store(), current_identity(), filters, args["group_by"], zone, now, args.get("then_by"))
        _owner_emails(result["entries"])
        wanted = args.get("format") or {"text/csv": "csv", XLSX: "xlsx"}.get(
            request.accept_mimetypes.best_match(["application/json", "text/csv", XLSX]) or "", "json"
        )
        if wanted == "csv":
            response = Response(stream_with_context(_csv_rows(result, zone, now)), mimetype="text/csv")
            response.headers["Content-Disposition"] = 'attachment; filename="time-entries-report.csv"'
            return response
        if wanted == "xlsx":
            response = Response(spreadsheet.workbook(result, zone, now), mimetype=XLSX)
            response.headers["Content-Disposition"] = 'attachment; filename="time-entries-report.xlsx"'
            return response
        result["entries"] = [report_entry_json(e) for e in result["entries"]]
        result["start_date"] = format_instant(result["start_date"]) if result["start_date"] > -(2**61) else None
        result["end_date"] = format_instant(result["end_date"]) if result["end_date"] < 2**61 else None
        return result


@ns.route("/<string:id>")
@ns.param("id", "The time entry identifier")
@ns.response(401, "Missing or invalid token", ERROR)
@ns.response(403, service.NOT_OWNER, ERROR)
@ns.response(404, "Time entry not found", ERROR)
class TimeEntry(Base):
    @ns.response(200, "Success", time_entry)
    @ns.doc(id="get_time_entry")
    def get(self, id: str) -> Any:
        """Get one of your time entries

        The entry with its joined names and its ETag.
        """
        return _entity(service.get(store(), current_identity(), id))

    @ns.expect(time_entry_update, validate=False)
    @ns.response(200, "Updated", time_entry)
    @ns.response(400, "Invalid input", ERROR)
    @ns.response(409, "It would be your second running entry", ERROR)
    @ns.response(412, "If-Match does not match the current ETag", ERROR)
    @ns.response(422, service.OVERLAP, ERROR)
    @ns.doc(
        id="update_time_entry",
        params={"override_lock": {"description": OVERRIDE_HELP, "type": "boolean", "in": "query"}},
    )
    @ns.response(423, LOCKED, ERROR)
    def put(self, id: str) -> Any:
        """Edit one of your time entries; every field is optional

        The same rules as on create. With update_last_entry_if_overlap, a new start_date inside your
        previous entry ends that entry there, in the same step. Send If-Match to refuse a lost
        update (412).
        """
        return _entity(
            service.update(store(), current_identity(), id, body(), if_match(), _now(), _rules(), _override())
        )

    @ns.response(204, "Deleted")
    @ns.response(412, "If-Match does not match the current ETag", ERROR)
    @ns.doc(
        id="delete_time_entry",
        params={"override_lock": {"description": OVERRIDE_HELP, "type": "boolean", "in": "query"}},
    )
    @ns.response(423, LOCKED, ERROR)
    def delete(self, id: str) -> Any:
        """Delete one of your time entries

        The entry disappears from every list and summary.
        """
        service.delete(store(), current_identity(), id, if_match(), _now(), _override())
        return None, 204


@ns.route("/<string:id>/stop")
@ns.param("id", "The time entry identifier")
@ns.response(401, "Missing or invalid token", ERROR)
@ns.response(403, service.NOT_OWNER, ERROR)
@ns.response(404, "Time entry not found", ERROR)
class Stop(Base):
    @ns.response(200, "Stopped now", time_entry)
    @ns.response(412, "If-Match does not match the current ETag", ERROR)
    @ns.response(422, "The specified time entry is already stopped", ERROR)
    @ns.doc(id="clock_out", params={"override_lock": {"description": OVERRIDE_HELP, "type": "boolean", "in": "query"}})
    @ns.response(423, LOCKED, ERROR)
    def post(self, id: str) -> Any:
        """Stop a running time entry now (clock out)

        Sets end_date to now; 422 when it is already stopped.
        """
        return _entity(service.stop(store(), current_identity(), id, if_match(), _now(), _override()))


@ns.route("/<string:id>/restart")
@ns.param("id", "The time entry identifier")
@ns.response(401, "Missing or invalid token", ERROR)
@ns.response(403, service.NOT_OWNER, ERROR)
@ns.response(404, "Time entry not found", ERROR)
class Restart(Base):
    @ns.response(200, "Running again", time_entry)
    @ns.response(409, "Another entry is running", ERROR)
    @ns.response(412, "If-Match does not match the current ETag", ERROR)
    @ns.response(422, "Already running, or a later entry exists", ERROR)
    @ns.doc(
        id="restart_time_entry",
        params={"override_lock": {"description": OVERRIDE_HELP, "type": "boolean", "in": "query"}},
    )
    @ns.response(423, LOCKED, ERROR)
    def post(self, id: str) -> Any:
        """Reopen a stopped time entry

        end_date becomes null again; refused while another entry runs (409) or when a later entry
        exists (422).
        """
        return _entity(service.restart(store(), current_identity(), id, if_match(), _now(), _override()))
