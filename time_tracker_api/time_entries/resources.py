"""The `/time-entries` namespace: thin resources over the services (`service`, `queries`,
`reports`); the models are in `models`, the CSV export in `csv_report`."""

from __future__ import annotations

from datetime import tzinfo
from typing import Any

from flask import Response, current_app, request, stream_with_context
from flask_restx import inputs as restx_inputs

from commons.data_access_layer.repository import Record
from commons.directory import Directory
from commons.domain import cleaning
from commons.domain.clock import format_instant, zone_from
from commons.domain.errors import Invalid
from time_tracker_api import sync
from time_tracker_api.inputs import body
from time_tracker_api.resources import ERROR, Base, if_match, store
from time_tracker_api.security import current_identity
from time_tracker_api.time_entries import inputs, queries, reports, service, spreadsheet
from time_tracker_api.time_entries.csv_report import csv_rows
from time_tracker_api.time_entries.models import (
    WINDOW_FILTERS,
    entries_json,
    entry_json,
    latest_args,
    list_args,
    ns,
    paged_args,
    paginated_model,
    report_args,
    report_entry_json,
    report_model,
    summary_args,
    summary_model,
    time_entry,
    time_entry_input,
    time_entry_update,
)

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


#: What the package exports: the namespace, with the routes this module adds to it.
__all__ = ["ns"]


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
        return bool(restx_inputs.boolean(raw))
    except ValueError:
        raise Invalid("override_lock must be true or false", "override_lock") from None


def _zone(args: dict[str, Any], offset_name: str = "timezone_offset") -> tzinfo:
    offset = args.get(offset_name)
    if offset is None and offset_name != "timezone_offset":
        offset = args.get("timezone_offset")
    return zone_from(offset, args.get("timezone"))


def _user_ids(args: dict[str, Any]) -> tuple[str, ...] | None:
    """`user_id`, comma separated or repeated; None when not given."""
    return None if args.get("user_id") is None else cleaning.id_list(args["user_id"])


def _filters(args: dict[str, Any]) -> queries.Filters:
    limit = args.get("limit")
    if "length" in args:
        limit = args["length"] or queries.MAX_LIST
    return queries.Filters(
        user_ids=_user_ids(args),
        start_date=args.get("start_date"),
        end_date=args.get("end_date"),
        month=args.get("month"),
        year=args.get("year"),
        project_id=args.get("project_id"),
        activity_id=args.get("activity_id"),
        customer_id=args.get("customer_id"),
        uri=args.get("uri"),
        limit=limit if limit is not None else queries.MAX_LIST,
        offset=args.get("start") or 0,
    )


def _directory() -> Directory:
    return current_app.extensions["time_tracker"].directory  # type: ignore[no-any-return]


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
            changed = queries.list_changes(store(), current_identity(), _user_ids(args), query, _directory())
            return sync.answer(wanted, changed, entry_json)
        filters, zone = _filters(args), _zone(args)
        entries = queries.list_entries(store(), current_identity(), filters, zone, _now(), _directory())
        return entries_json(entries)

    # Documented by the model, validated by `inputs` (one pass, clearer messages).
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
        identity, payload, override = current_identity(), body(), _override()
        service.check_override(identity, override)  # 403 before the body's fields are judged
        entry = inputs.new_entry(payload)
        created = service.create(store(), identity, entry, _now(), _rules(), override)
        answer, status, headers = _entity(created, 201)
        headers["Location"] = f"{request.root_path}{ns.path}/{created['id']}"
        return answer, status, headers


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
        entry = queries.running(store(), current_identity())
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
        return queries.summary(store(), current_identity(), _zone(args, "time_offset"), _now())


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
        return entries_json(queries.latest(store(), current_identity(), _zone(args), _now()))


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
        page = queries.paginated(store(), current_identity(), filters, _zone(args), _now(), token, _directory())
        data = entries_json(page["data"])
        return {"records_total": page["records_total"], "data": data, "continuation": page["continuation"]}


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
        identity, group_by, then_by = current_identity(), args["group_by"], args.get("then_by")
        result = reports.report(store(), identity, filters, group_by, zone, now, then_by, _directory())
        wanted = args.get("format") or {"text/csv": "csv", XLSX: "xlsx"}.get(
            request.accept_mimetypes.best_match(["application/json", "text/csv", XLSX]) or "", "json"
        )
        if wanted == "csv":
            response = Response(stream_with_context(csv_rows(result, zone, now)), mimetype="text/csv")
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
        return _entity(queries.get(store(), current_identity(), id))

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
        identity, payload, condition, override = current_identity(), body(), if_match(), _override()
        service.check_override(identity, override)  # 403 before the body's fields are judged
        edit = inputs.entry_changes(payload)
        return _entity(service.update(store(), identity, id, edit, condition, _now(), _rules(), override))

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
