"""The report as an XLSX workbook (XlsxWriter): real numbers, not text.

Two sheets: `Entries` (one row per entry, then a totals row) and `Totals` (the groups, their
sub-groups, the grand total). Durations are Excel durations (days, shown `[h]:mm:ss`), money
is in major units with the currency's format, dates are real dates. Totals rows are SUM
formulas whose cached values are the report's own totals, so a reader without a formula
engine (openpyxl with `data_only=True`) finds the same figures as the JSON.
"""

from __future__ import annotations

import io
from datetime import datetime, tzinfo
from typing import Any

import xlsxwriter
from xlsxwriter.utility import xl_rowcol_to_cell

from commons.domain.clock import from_ms

#: No spreadsheet formula may start a text cell (the same defence as the CSV's).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

ENTRY_COLUMNS = (
    ("Date", "date"),
    ("Start", "datetime"),
    ("End", "datetime"),
    ("User", "text"),
    ("Customer", "text"),
    ("Project", "text"),
    ("Activity", "text"),
    ("Description", "text"),
    ("Billable", "bool"),
    ("Duration", "duration"),
    ("Rounded", "duration"),
    ("Hourly rate", "money"),
    ("Amount", "money"),
    ("Cost rate", "money"),
    ("Cost", "money"),
    ("Id", "text"),
)
TOTAL_COLUMNS = (
    ("Group", "text"),
    ("Key", "text"),
    ("Sub-group", "text"),
    ("Sub-key", "text"),
    ("Duration", "duration"),
    ("Rounded", "duration"),
    ("Billable", "duration"),
    ("Amount", "money"),
    ("Cost", "money"),
    ("Entries", "int"),
)


def _local(ms: int | None, zone: tzinfo) -> datetime | None:
    return None if ms is None else from_ms(ms, zone).replace(tzinfo=None)


def _text(value: Any) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def workbook(report: dict[str, Any], zone: tzinfo, now: int) -> bytes:
    """The report (as `service.report` answers it, entries with their figures) as XLSX."""
    digits = int(report["currency_digits"])
    unit = 10**digits
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True, "strings_to_formulas": False, "strings_to_urls": False})
    bold = book.add_format({"bold": True})
    decimals = "0" * digits
    formats = {
        "date": book.add_format({"num_format": "yyyy-mm-dd"}),
        "datetime": book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"}),
        "duration": book.add_format({"num_format": "[h]:mm:ss"}),
        "money": book.add_format({"num_format": f'#,##0{"." + decimals if digits else ""} "{report["currency"]}"'}),
        "int": book.add_format({"num_format": "0"}),
    }
    bold_formats = {k: book.add_format({"bold": True, "num_format": f.num_format}) for k, f in formats.items()}

    def cell(sheet: Any, row: int, col: int, kind: str, value: Any, strong: bool = False) -> None:
        fmt = (bold_formats if strong else formats).get(kind)
        if value is None:
            sheet.write_blank(row, col, None, fmt)
        elif kind in ("date", "datetime"):
            sheet.write_datetime(row, col, value, fmt)
        elif kind == "duration":
            sheet.write_number(row, col, value / 86_400, fmt)
        elif kind == "money":
            sheet.write_number(row, col, value / unit, fmt)
        elif kind == "int":
            sheet.write_number(row, col, value, fmt)
        elif kind == "bool":
            sheet.write_boolean(row, col, bool(value))
        else:
            sheet.write_string(row, col, _text(value), bold if strong else None)

    def entries_total(sheet: Any, row: int, total: dict[str, Any]) -> None:
        sheet.write_string(row, 0, "Total", bold)
        cached = {
            "Duration": total["seconds"] / 86_400,
            "Rounded": total["rounded_seconds"] / 86_400,
            "Amount": total["amount"] / unit,
            "Cost": total["cost"] / unit,
        }
        for col, (header, kind) in enumerate(ENTRY_COLUMNS):
            if header in cached:
                span = f"{xl_rowcol_to_cell(1, col)}:{xl_rowcol_to_cell(row - 1, col)}"
                formula = f"=SUM({span})" if row > 1 else "=0"
                sheet.write_formula(row, col, formula, bold_formats[kind], cached[header])

    entries_sheet = book.add_worksheet("Entries")
    for col, (header, _kind) in enumerate(ENTRY_COLUMNS):
        entries_sheet.write_string(0, col, header, bold)
    row = 1
    for entry in report["entries"]:
        start = _local(entry["start_at"], zone)
        values = (
            start.date() if start else None,
            start,
            _local(entry["end_at"], zone),
            entry.get("owner_email"),
            entry.get("customer_name"),
            entry.get("project_name"),
            entry.get("activity_name"),
            entry.get("description"),
            entry["billable"],
            entry["seconds"],
            entry["rounded_seconds"],
            entry.get("hourly_rate"),
            entry["amount"],
            entry.get("cost_rate"),
            entry["cost"],
            entry["id"],
        )
        for col, ((_header, kind), value) in enumerate(zip(ENTRY_COLUMNS, values, strict=True)):
            if kind == "date" and value is not None:
                value = datetime(value.year, value.month, value.day)
            cell(entries_sheet, row, col, kind, value)
        row += 1
    entries_total(entries_sheet, row, report["total"])
    entries_sheet.freeze_panes(1, 0)
    entries_sheet.set_column(0, 2, 19)
    entries_sheet.set_column(3, 7, 22)
    entries_sheet.set_column(9, 14, 13)

    totals_sheet = book.add_worksheet("Totals")
    for col, (header, _kind) in enumerate(TOTAL_COLUMNS):
        totals_sheet.write_string(0, col, header, bold)
    row = 1
    # Only the first level is summed by the totals row (the rows without a sub-group):
    # sub-groups repeat their group's time.
    for group in report["totals"]:
        figures = (group["seconds"], group["rounded_seconds"], group["billable_seconds"], group["amount"])
        cells = (group["name"], group["key"], None, None, *figures, group["cost"], group["count"])
        for col, ((_header, kind), value) in enumerate(zip(TOTAL_COLUMNS, cells, strict=True)):
            cell(totals_sheet, row, col, kind, value)
        row += 1
        for sub in group.get("groups", ()):
            figures = (sub["seconds"], sub["rounded_seconds"], sub["billable_seconds"], sub["amount"])
            cells = (group["name"], group["key"], sub["name"], sub["key"], *figures, sub["cost"], sub["count"])
            for col, ((_header, kind), value) in enumerate(zip(TOTAL_COLUMNS, cells, strict=True)):
                cell(totals_sheet, row, col, kind, value)
            row += 1
    totals_sheet.write_string(row, 0, "Total", bold)
    total = report["total"]
    cached = (
        total["seconds"],
        total["rounded_seconds"],
        total["billable_seconds"],
        total["amount"],
        total["cost"],
        total["count"],
    )
    last = max(row - 1, 1)
    subgroups = f"{xl_rowcol_to_cell(1, 2)}:{xl_rowcol_to_cell(last, 2)}"
    for offset, value in enumerate(cached):
        col = 4 + offset
        kind = TOTAL_COLUMNS[col][1]
        span = f"{xl_rowcol_to_cell(1, col)}:{xl_rowcol_to_cell(last, col)}"
        number = value / 86_400 if kind == "duration" else value / unit if kind == "money" else value
        formula = f'=SUMIFS({span},{subgroups},"")' if row > 1 else "=0"
        totals_sheet.write_formula(row, col, formula, bold_formats[kind], number)
    totals_sheet.freeze_panes(1, 0)
    totals_sheet.set_column(0, 3, 24)
    totals_sheet.set_column(4, 9, 13)
    book.close()
    return buffer.getvalue()
