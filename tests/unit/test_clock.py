"""Pure time arithmetic: parsing, zones, windows, overlaps, summaries."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from commons.domain.clock import (
    MAX_DATE_MS,
    MIN_DATE_MS,
    OPEN_END,
    Window,
    clipped_ms,
    day_window,
    duration_parts,
    format_instant,
    from_ms,
    month_window,
    overlaps,
    parse_instant,
    parse_query_bound,
    split_by_day,
    summarize,
    to_ms,
    week_window,
    zone_from,
)
from commons.domain.errors import Invalid

NY = ZoneInfo("America/New_York")
H = 3_600_000


def at(text: str) -> int:
    return parse_instant(text)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2022-04-11T14:05:00.000Z", "2022-04-11T14:05:00.000Z"),
        ("2022-04-11T14:05:00Z", "2022-04-11T14:05:00.000Z"),
        ("2022-04-11T14:05:00.123456+00:00", "2022-04-11T14:05:00.123Z"),
        ("2022-04-11T09:05:00-05:00", "2022-04-11T14:05:00.000Z"),
        ("2022-04-11T15:05:00+01:00", "2022-04-11T14:05:00.000Z"),
        ("2022-04-11T15:05:00 01:00", "2022-04-11T14:05:00.000Z"),
        ("2022-04-11T14:05:00", "2022-04-11T14:05:00.000Z"),
        ("2022-04-11 14:05:00", "2022-04-11T14:05:00.000Z"),
        ("2022-04-11", "2022-04-11T00:00:00.000Z"),
    ],
)
def test_every_accepted_date_form_parses_to_the_same_utc_instant(text: str, expected: str) -> None:
    assert format_instant(parse_instant(text)) == expected


@pytest.mark.parametrize(
    "text", ["", "yesterday", "2022-13-01T00:00:00Z", "2022-04-11T25:00:00", 5, None, "0000-01-01"]
)
def test_malformed_dates_are_invalid(text: object) -> None:
    with pytest.raises(Invalid):
        parse_instant(text, "start_date")


def test_naive_values_take_the_given_zone() -> None:
    assert format_instant(parse_instant("2024-01-10T00:00:00", naive_zone=NY)) == "2024-01-10T05:00:00.000Z"


def test_query_bounds_cover_whole_local_days() -> None:
    assert format_instant(parse_query_bound("2024-03-10", "s", NY)) == "2024-03-10T05:00:00.000Z"
    # 2024-03-10 is 23 hours long in New York: the end bound is the next local midnight (EDT).
    assert format_instant(parse_query_bound("2024-03-10", "e", NY, end=True)) == "2024-03-11T04:00:00.000Z"


def test_javascript_offset_sign_is_west_positive_and_zero_is_utc() -> None:
    assert zone_from(300).utcoffset(None).total_seconds() == -5 * 3600  # type: ignore[union-attr]
    assert zone_from(-60).utcoffset(None).total_seconds() == 3600  # type: ignore[union-attr]
    assert zone_from(0).utcoffset(None).total_seconds() == 0  # type: ignore[union-attr]
    assert zone_from(None) is UTC


def test_iana_zone_wins_and_unknown_zones_or_offsets_are_invalid() -> None:
    assert zone_from(300, "Europe/Madrid") == ZoneInfo("Europe/Madrid")
    with pytest.raises(Invalid):
        zone_from(None, "Mars/Olympus")
    with pytest.raises(Invalid):
        zone_from(5000)


def test_touching_intervals_do_not_overlap() -> None:
    assert not overlaps(
        at("2024-01-01T09:00:00Z"), at("2024-01-01T10:00:00Z"), at("2024-01-01T10:00:00Z"), at("2024-01-01T11:00:00Z")
    )
    assert overlaps(
        at("2024-01-01T09:00:00Z"), at("2024-01-01T10:00:01Z"), at("2024-01-01T10:00:00Z"), at("2024-01-01T11:00:00Z")
    )


def test_a_running_entry_overlaps_everything_after_its_start() -> None:
    start = at("2024-01-01T09:00:00Z")
    assert overlaps(start, None, start + 5 * H, start + 6 * H)
    assert not overlaps(start, None, start - 2 * H, start)


def test_fixed_offset_month_window() -> None:
    window = month_window(2020, 4, zone_from(300))
    assert (format_instant(window.start), format_instant(window.end)) == (
        "2020-04-01T05:00:00.000Z",
        "2020-05-01T05:00:00.000Z",
    )
    window = month_window(2020, 4, zone_from(-120))
    assert format_instant(window.start) == "2020-03-31T22:00:00.000Z"


def test_month_window_across_dst_in_new_york() -> None:
    window = month_window(2024, 3, NY)
    assert format_instant(window.start) == "2024-03-01T05:00:00.000Z"  # EST
    assert format_instant(window.end) == "2024-04-01T04:00:00.000Z"  # EDT
    assert format_instant(month_window(2024, 12, NY).end) == "2025-01-01T05:00:00.000Z"


def test_day_and_week_windows_in_a_zone() -> None:
    now = at("2024-03-13T03:00:00Z")  # Tuesday 12 March, 23:00 in New York (EDT)
    assert format_instant(day_window(now, NY).start) == "2024-03-12T04:00:00.000Z"
    week = week_window(now, NY)
    assert format_instant(week.start) == "2024-03-11T04:00:00.000Z"  # Monday 11 March, EDT
    assert format_instant(week.end) == "2024-03-18T04:00:00.000Z"


def test_week_containing_the_dst_change_starts_on_the_monday_before_it() -> None:
    week = week_window(at("2024-03-10T18:00:00Z"), NY)  # Sunday 10 March
    assert format_instant(week.start) == "2024-03-04T05:00:00.000Z"
    assert (week.end - week.start) == 7 * 24 * H - H  # the week loses the DST hour


def test_clipping_keeps_only_the_part_inside_the_window() -> None:
    window = Window(at("2024-01-02T00:00:00Z"), at("2024-01-03T00:00:00Z"))
    now = at("2024-01-10T00:00:00Z")
    assert clipped_ms(at("2024-01-01T22:00:00Z"), at("2024-01-02T02:00:00Z"), window, now) == 2 * H
    assert clipped_ms(at("2024-01-03T01:00:00Z"), at("2024-01-03T02:00:00Z"), window, now) == 0


def test_summary_clips_entries_and_counts_a_running_one_up_to_now() -> None:
    now = at("2024-05-15T15:00:00Z")  # Wednesday
    entries = [
        (at("2024-05-15T13:30:00Z"), None),  # running: 1h30 today
        (at("2024-05-14T23:00:00Z"), at("2024-05-15T01:00:00Z")),  # 1h yesterday, 1h today
        (at("2024-05-13T09:00:00Z"), at("2024-05-13T10:00:00Z")),  # Monday: this week
        (at("2024-05-01T09:00:00Z"), at("2024-05-01T10:15:30Z")),  # this month only
        (at("2024-04-30T23:00:00Z"), at("2024-05-01T00:30:00Z")),  # 30 min in May
    ]
    result = summarize(entries, now, UTC)
    assert result["day"] == {"hours": 2.0, "minutes": 30.0, "seconds": 0.0}
    assert result["week"] == {"hours": 4.0, "minutes": 30.0, "seconds": 0.0}
    assert result["month"] == {"hours": 6.0, "minutes": 15.0, "seconds": 30.0}


def test_summary_windows_follow_the_zone() -> None:
    now = at("2024-05-15T03:00:00Z")  # 14 May 22:00 in UTC-5
    entries = [(at("2024-05-14T20:00:00Z"), at("2024-05-14T21:00:00Z"))]
    assert summarize(entries, now, zone_from(300))["day"]["hours"] == 1.0
    assert summarize(entries, now, UTC)["day"]["hours"] == 0.0


def test_empty_summary_is_zero() -> None:
    result = summarize([], at("2024-05-15T03:00:00Z"), UTC)
    assert result == {k: {"hours": 0.0, "minutes": 0.0, "seconds": 0.0} for k in ("day", "week", "month")}


_SPANS = st.lists(
    st.tuples(st.integers(0, 60 * 86_400_000), st.one_of(st.none(), st.integers(0, 2 * 86_400_000))).map(
        lambda t: (t[0], None if t[1] is None else t[0] + t[1])
    ),
    max_size=40,
)


@given(_SPANS, st.integers(0, 60 * 86_400_000), st.sampled_from([UTC, NY]))
def test_summary_totals_are_each_windows_clipped_time_up_to_now(
    spans: list[tuple[int, int | None]], now: int, zone: Any
) -> None:
    windows = {
        "day": day_window(now, zone),
        "week": week_window(now, zone),
        "month": month_window(from_ms(now, zone).year, from_ms(now, zone).month, zone),
    }
    result = summarize(spans, now, zone)
    for name, window in windows.items():
        expected = sum(clipped_ms(start, end, window, now) for start, end in spans)
        assert result[name] == duration_parts(expected)


def test_split_by_day_is_dst_correct() -> None:
    start = to_ms(datetime(2024, 3, 9, 12, tzinfo=NY))
    end = to_ms(datetime(2024, 3, 11, 12, tzinfo=NY))
    parts = dict(split_by_day(start, end, NY))
    assert parts == {date(2024, 3, 9): 12 * H, date(2024, 3, 10): 23 * H, date(2024, 3, 11): 12 * H}


def test_open_end_is_beyond_any_real_instant() -> None:
    assert at("9998-12-31T23:59:59Z") < OPEN_END


@pytest.mark.parametrize("name", ["US", "Etc", "America", "x" * 300])
def test_zone_names_that_are_folders_or_too_long_are_invalid(name: str) -> None:
    with pytest.raises(Invalid):
        zone_from(None, name)


@pytest.mark.parametrize("text", ["9999-12-31", "0001-01-01"])
def test_bare_dates_at_the_ends_of_the_calendar_are_invalid_not_crashes(text: str) -> None:
    with pytest.raises(Invalid):
        parse_query_bound(text, "end_date", zone_from(-600), end=True)


def test_the_range_is_checked_in_utc() -> None:
    with pytest.raises(Invalid):
        parse_instant("0001-01-01T00:00:00+05:00")


def test_summary_durations_are_whole_numbers() -> None:
    parts = duration_parts(3 * 3_600_000 + 30 * 60_000 + 3_280)
    assert parts == {"hours": 3, "minutes": 30, "seconds": 3}
    assert all(type(v) is int for v in parts.values())


@given(st.integers(min_value=MIN_DATE_MS - 86_400_000, max_value=MAX_DATE_MS))
def test_every_instant_is_formatted_as_the_calendar_says_to_the_millisecond(ms: int) -> None:
    moment = datetime(1970, 1, 1) + timedelta(milliseconds=ms)
    assert format_instant(ms) == moment.isoformat(timespec="milliseconds") + "Z"


@given(st.integers(min_value=-62_200_000_000_000, max_value=-62_135_596_800_001))
def test_instants_before_the_year_1_are_formatted_by_the_proleptic_calendar_not_refused(ms: int) -> None:
    # A month window of 0001-01 in a zone east of UTC starts in the year 0 (UTC): a report
    # over it once answered 500.
    seconds, milli = divmod(ms, 1000)
    y, mo, d, h, mi, s = time.gmtime(seconds)[:6]
    assert format_instant(ms) == f"{y:04d}-{mo:02d}-{d:02d}T{h:02d}:{mi:02d}:{s:02d}.{milli:03d}Z"
