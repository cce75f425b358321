"""Locked periods: up to which instant a tenant's time entries are closed (pure, `now` passed in).

An admin locks the tenant up to a date (that whole day, in the tenant's zone, is locked), and
may add a rolling rule: days more than N days before today are locked (today and the N days
before it stay open). The boundary is the later of the two. An entry is locked when it starts
before the boundary: it then holds time of the locked period.

A running timer that started before the boundary may still be stopped (its end falls after
the boundary, so the locked days keep the time they had); any other change of it, and
restarting or deleting it, is refused like for every locked entry.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, tzinfo

from commons.domain.clock import _local_midnight, from_ms
from commons.domain.errors import Invalid

MAX_ROLLING_DAYS = 3660


def parse_lock_date(value: object) -> date | None:
    """`locked_until` as a date (YYYY-MM-DD), or None for no fixed lock."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise Invalid("locked_until must be a date, YYYY-MM-DD, or null", "locked_until")
    try:
        day = date.fromisoformat(value.strip())
    except ValueError:
        raise Invalid("locked_until must be a date, YYYY-MM-DD, or null", "locked_until") from None
    if not 1900 <= day.year <= 9998:
        raise Invalid("locked_until is out of range (years 1900 to 9998)", "locked_until")
    return day


def parse_rolling_days(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_ROLLING_DAYS:
        raise Invalid(
            f"older_than_days must be a whole number from 1 to {MAX_ROLLING_DAYS}, or null", "older_than_days"
        )
    return value


def lock_boundary(locked_until: date | None, older_than_days: int | None, zone: tzinfo, now: int) -> int | None:
    """The instant before which entries are locked, or None when nothing is."""
    bounds = []
    if locked_until is not None:
        bounds.append(_local_midnight(locked_until + timedelta(days=1), zone))
    if older_than_days is not None:
        today = from_ms(now, zone).date()
        bounds.append(_local_midnight(today - timedelta(days=older_than_days), zone))
    return max(bounds) if bounds else None


def is_locked(start_at: int, boundary: int | None) -> bool:
    return boundary is not None and start_at < boundary


def describe(boundary: int, zone: tzinfo) -> str:
    """The last locked day, as people read it: `2024-05-31`."""
    last: datetime = from_ms(boundary - 1, zone)
    return last.date().isoformat()
