"""The report as CSV: the entries, then the totals, with the JSON report's figures; no cell
is a formula to a spreadsheet."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import tzinfo
from typing import Any

from commons.data_access_layer.repository import Record
from commons.domain.clock import from_ms
from commons.domain.money import format_minor
from time_tracker_api.time_entries.models import entry_json

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


def csv_rows(report: dict[str, Any], zone: tzinfo, now: int) -> Iterator[str]:
    """The entries, then a blank line and the totals of `group_by` (each group followed by
    its `then_by` sub-groups, whose `parent_key` is the group's; the grand total last), with
    the figures of the JSON report: seconds as integers, money in major units (exact)."""
    digits = report["currency_digits"]
    yield from csv_entries(report["entries"], zone, now, digits)
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


def csv_entries(entries: list[Record], zone: tzinfo, now: int, digits: int) -> Iterator[str]:
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
