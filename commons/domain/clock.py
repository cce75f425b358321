"""Instants, zones, windows, intervals and summaries: pure functions, `now` passed in.

Instants are integers: milliseconds since the Unix epoch, UTC. Every engine stores them as
such, so comparisons are numeric (never string comparisons of dates) and the wire format is
produced in one place (`format_instant`).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from commons.domain.errors import Invalid

UTC = UTC
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: How long the running entry's end is assumed to be when intervals are compared: forever.
#: Nothing may end in the future, so treating "running" as open-ended is the same as [start, now).
OPEN_END = 2**62
MIN_INSTANT = -(2**62)
#: The longest a stopped entry may last (the 999 hours that Clockify, Toggl and Harvest allow).
MAX_ENTRY_HOURS = 999
MAX_ENTRY_MS = MAX_ENTRY_HOURS * 3_600_000
#: Instants the API accepts: years 1 to 9998 in UTC (local dates near the ends stay valid).
MIN_DATE_MS = -62_135_596_800_000 + 86_400_000  # 0001-01-02T00:00:00Z
MAX_DATE_MS = 253_370_764_800_000 - 1  # 9998-12-31T23:59:59.999Z

# A query-string "+05:00" arrives as " 05:00" when the client did not encode it.
_SPACE_OFFSET = re.compile(r"^(.*\d)\s(\d{2}:?\d{2})$")


def now_ms() -> int:
    """The clock, read once at the edge (a request, a runner's pass) and passed in from there."""
    return time.time_ns() // 1_000_000


def to_ms(moment: datetime) -> int:
    """An aware datetime as epoch milliseconds (naive values are taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def from_ms(ms: int, zone: tzinfo = UTC) -> datetime:
    return (EPOCH + timedelta(milliseconds=ms)).astimezone(zone)


_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_MAX_ORDINAL = date.max.toordinal()
# The pieces of a formatted instant, made once: a list of 200 entries formats 400 instants, and
# building each with gmtime and an f-string was a sixth of the request (TT-17).
_HOUR_MINUTE = [f"{h:02d}:{m:02d}:" for h in range(24) for m in range(60)]
_SECOND = [f"{s:02d}." for s in range(60)]
_MILLI = [f"{m:03d}Z" for m in range(1000)]


@lru_cache(maxsize=4096)
def _day_prefix(day: int) -> str:
    ordinal = _EPOCH_ORDINAL + day
    if 1 <= ordinal <= _MAX_ORDINAL:
        return date.fromordinal(ordinal).isoformat() + "T"
    # Outside datetime's years (a window's edge in a zone east of UTC on 0001-01-01 is in the
    # year 0 in UTC): the C library's proleptic calendar, as before.
    y, mo, d = time.gmtime(day * 86_400)[:3]
    return f"{y:04d}-{mo:02d}-{d:02d}T"


def format_instant(ms: int | None) -> str | None:
    """`YYYY-MM-DDTHH:MM:SS.mmmZ`, the one date format the API answers with."""
    if ms is None:
        return None
    day, rest = divmod(ms, 86_400_000)
    minute, rest = divmod(rest, 60_000)
    second, milli = divmod(rest, 1000)
    return _day_prefix(day) + _HOUR_MINUTE[minute] + _SECOND[second] + _MILLI[milli]


def parse_instant(text: object, field: str = "date", naive_zone: tzinfo = UTC) -> int:
    """Parse ISO 8601 with `Z`, with an offset, or naive (in `naive_zone`, UTC by default)."""
    if not isinstance(text, str) or not text.strip():
        raise Invalid(f"{field} must be an ISO 8601 date, e.g. 2024-05-01T09:30:00Z")
    value = text.strip()
    spaced = _SPACE_OFFSET.match(value)
    if spaced and ":" in spaced.group(1):
        value = f"{spaced.group(1)}+{spaced.group(2)}"
    if value.endswith(("z", "Z")):
        value = value[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise Invalid(f"{field} must be an ISO 8601 date, e.g. 2024-05-01T09:30:00Z; got {text!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=naive_zone)
    ms = to_ms(moment)
    if not MIN_DATE_MS <= ms <= MAX_DATE_MS:
        raise Invalid(f"{field} is out of range (years 1 to 9998): {text!r}")
    return ms


_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def parse_query_bound(text: str, field: str, zone: tzinfo, *, end: bool = False) -> int:
    """A date-range bound from a query string: naive values are local to `zone`; a bare date
    means that day's local midnight, or for an end bound the midnight after it (whole day)."""
    value = text.strip()
    if _DATE_ONLY.match(value):
        try:
            day = date.fromisoformat(value)
            ms = _local_midnight(day + timedelta(days=1) if end else day, zone)
        except (ValueError, OverflowError):
            raise Invalid(f"{field} is not a valid date in range: {text!r}") from None
        if not MIN_DATE_MS <= ms <= MAX_DATE_MS + 86_400_000:
            raise Invalid(f"{field} is out of range (years 1 to 9998): {text!r}")
        return ms
    return parse_instant(value, field, naive_zone=zone)


#: A UTC offset, in minutes either way (the widest real zones are +-14 h; ISO 8601 allows 18).
MAX_OFFSET_MINUTES = 18 * 60


def zone_from(offset_minutes: int | None = None, name: str | None = None, default: tzinfo = UTC) -> tzinfo:
    """The caller's zone: an IANA name wins over a JavaScript offset (minutes, west positive)."""
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            raise Invalid(f"timezone {name!r} is not a known IANA time zone") from None
    if offset_minutes is None:
        return default
    if not -MAX_OFFSET_MINUTES <= offset_minutes <= MAX_OFFSET_MINUTES:
        raise Invalid(f"timezone_offset must be between {-MAX_OFFSET_MINUTES} and {MAX_OFFSET_MINUTES} minutes")
    return timezone(timedelta(minutes=-offset_minutes))


def _local_midnight(day: date, zone: tzinfo) -> int:
    return to_ms(datetime(day.year, day.month, day.day, tzinfo=zone))


@dataclass(frozen=True)
class Window:
    """A half-open interval [start, end) of epoch milliseconds."""

    start: int
    end: int


def month_window(year: int, month: int, zone: tzinfo) -> Window:
    """The calendar month in `zone`, from local midnight of day 1 to that of the next month."""
    if not 1 <= month <= 12:
        raise Invalid("month must be between 1 and 12")
    if not 1 <= year <= 9998:
        raise Invalid("year is out of range")
    following = date(year + (month == 12), month % 12 + 1, 1)
    return Window(_local_midnight(date(year, month, 1), zone), _local_midnight(following, zone))


def day_window(now: int, zone: tzinfo) -> Window:
    today = from_ms(now, zone).date()
    return Window(_local_midnight(today, zone), _local_midnight(today + timedelta(days=1), zone))


def week_window(now: int, zone: tzinfo) -> Window:
    """The ISO week (Monday to Monday) that contains `now`, in `zone`."""
    today = from_ms(now, zone).date()
    monday = today - timedelta(days=today.weekday())
    return Window(_local_midnight(monday, zone), _local_midnight(monday + timedelta(days=7), zone))


def current_month_window(now: int, zone: tzinfo) -> Window:
    today = from_ms(now, zone).date()
    return month_window(today.year, today.month, zone)


def overlaps(a_start: int, a_end: int | None, b_start: int, b_end: int | None) -> bool:
    """Half-open intervals; `None` is a running entry (open-ended). Touching is not overlap."""
    return a_start < (OPEN_END if b_end is None else b_end) and b_start < (OPEN_END if a_end is None else a_end)


def clipped_ms(start: int, end: int | None, window: Window, now: int) -> int:
    """Milliseconds of [start, end or now) inside `window`, never negative."""
    stop = now if end is None else end
    return max(0, min(stop, window.end, now) - max(start, window.start))


def duration_parts(total_ms: int) -> dict[str, int]:
    """`{hours, minutes, seconds}` as whole numbers (the predecessor's keys; a partial second
    is not counted until it is whole)."""
    seconds = max(0, total_ms) // 1000
    return {"hours": seconds // 3600, "minutes": seconds % 3600 // 60, "seconds": seconds % 60}


def summarize(intervals: Iterable[tuple[int, int | None]], now: int, zone: tzinfo) -> dict[str, dict[str, int]]:
    """Worked time today, this ISO week and this month in `zone`, running entries up to `now`."""
    windows = {
        "day": day_window(now, zone),
        "week": week_window(now, zone),
        "month": current_month_window(now, zone),
    }
    # clipped_ms inlined: a month of entries is three windows times hundreds of spans, and
    # the calls were most of the endpoint's Python (TT-17).
    stops = [(start, now if end is None else min(end, now)) for start, end in intervals]
    totals = {}
    for name, window in windows.items():
        low, high = window.start, min(window.end, now)
        totals[name] = sum(
            (stop if stop < high else high) - (start if start > low else low)
            for start, stop in stops
            if start < high and stop > low
        )
    return {name: duration_parts(total) for name, total in totals.items()}


def split_by_day(start: int, end: int, zone: tzinfo) -> Iterator[tuple[date, int]]:
    """Milliseconds of [start, end) on each local calendar day of `zone` (DST-correct)."""
    while start < end:
        day = from_ms(start, zone).date()
        boundary = min(_local_midnight(day + timedelta(days=1), zone), end)
        yield day, boundary - start
        start = boundary


def summary_span(now: int, zone: tzinfo) -> Window:
    """The smallest window that covers the day, the week and the month of `now`."""
    week = week_window(now, zone)
    month = current_month_window(now, zone)
    return Window(min(week.start, month.start), now)
