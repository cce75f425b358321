"""Money, rates, rounding and locked periods: pure functions, no fixtures."""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from commons.domain.clock import UTC, parse_instant
from commons.domain.errors import Invalid
from commons.domain.money import (
    LEVELS,
    Rate,
    RateBook,
    Rounding,
    aggregate,
    amount_for,
    currency_digits,
    format_minor,
    level_of,
    round_seconds,
    row_for,
)
from commons.domain.periods import describe, is_locked, lock_boundary, parse_lock_date, parse_rolling_days


def test_rounding_up_down_and_nearest_to_n_minutes() -> None:
    quarter = 15 * 60
    assert [round_seconds(s, Rounding("up", 15)) for s in (0, 1, quarter, quarter + 1)] == [0, quarter, quarter, 1800]
    assert [round_seconds(s, Rounding("down", 15)) for s in (quarter - 1, quarter, 1799)] == [0, quarter, quarter]
    # nearest: a tie goes up
    assert [round_seconds(s, Rounding("nearest", 15)) for s in (449, 450, 451)] == [0, quarter, quarter]
    assert round_seconds(1234, Rounding("none", 15)) == 1234


def test_rounding_rules_are_validated() -> None:
    for mode, minutes in (("sideways", 5), ("up", 0), ("up", 1441), ("up", True)):
        with pytest.raises(Invalid):
            Rounding(mode, minutes)  # type: ignore[arg-type]


def test_amounts_round_half_even_to_the_minor_unit() -> None:
    # 1 second at 1800 per hour is half a cent: to the even neighbour, 0; 3 seconds: 1.5 -> 2
    assert amount_for(1, 1800) == 0 and amount_for(3, 1800) == 2 and amount_for(5, 1800) == 2
    assert amount_for(3600, 9500) == 9500 and amount_for(5400, 9999) == 14998  # 14998.5 -> even
    assert amount_for(0, 9500) == 0


def test_currencies_have_their_minor_units_and_amounts_format_exactly() -> None:
    assert (currency_digits("EUR"), currency_digits("JPY"), currency_digits("KWD")) == (2, 0, 3)
    with pytest.raises(Invalid):
        currency_digits("euro")
    assert format_minor(12345, 2) == "123.45" and format_minor(5, 2) == "0.05" and format_minor(-5, 3) == "-0.005"
    assert format_minor(700, 0) == "700"


def _rate(kind: str, amount: int, valid_from: str = "2000-01-01", **keys: str) -> Rate:
    return Rate(f"{kind}-{amount}", kind, amount, parse_instant(valid_from + "T00:00:00Z"), **keys)


def test_the_most_specific_rate_wins() -> None:
    book = RateBook(
        [
            _rate("hourly", 1),
            _rate("hourly", 2, user_id="u"),
            _rate("hourly", 3, customer_id="c"),
            _rate("hourly", 4, project_id="p"),
            _rate("hourly", 5, project_id="p", user_id="u"),
        ]
    )
    at = parse_instant("2024-05-01T00:00:00Z")

    def amount(project: str, customer: str, user: str) -> int | None:
        found = book.find("hourly", at, project, customer, user)
        return found.amount if found else None

    assert amount("p", "c", "u") == 5  # project member
    assert amount("p", "c", "other") == 4  # project
    assert amount("q", "c", "u") == 3  # customer
    assert amount("q", "d", "u") == 2  # user
    assert amount("q", "d", "other") == 1  # tenant
    assert book.find("cost", at, "p", "c", "u") is None
    assert level_of(None, "p", "u") == "project_member" and LEVELS[0] == "project_member"
    with pytest.raises(Invalid):
        level_of("c", "p", None)


def test_rates_apply_from_their_date_so_old_reports_keep_their_figures() -> None:
    book = RateBook([_rate("hourly", 100, "2023-01-01"), _rate("hourly", 200, "2024-01-01", project_id="p")])
    before = book.find("hourly", parse_instant("2023-06-01T00:00:00Z"), "p", None, "u")
    after = book.find("hourly", parse_instant("2024-01-01T00:00:00Z"), "p", None, "u")
    assert before is not None and before.amount == 100  # the project rate did not exist yet
    assert after is not None and after.amount == 200
    assert book.find("hourly", parse_instant("2022-12-31T23:59:59Z"), "p", None, "u") is None
    raised = RateBook([*book.rates, _rate("hourly", 300, "2024-06-01", project_id="p")])
    again = raised.find("hourly", parse_instant("2024-03-01T00:00:00Z"), "p", None, "u")
    assert again is not None and again.amount == 200


def test_only_billable_time_earns_and_cost_counts_all_time() -> None:
    rule = Rounding("up", 15)
    billed = row_for(600, rule, True, 10000, 4000, {})
    unbilled = row_for(600, rule, False, 10000, 4000, {})
    assert (billed.rounded_seconds, billed.amount, billed.cost) == (900, 2500, 1000)
    assert (unbilled.amount, unbilled.cost, unbilled.figures()["billable_seconds"]) == (0, 1000, 0)


def test_lock_boundary_is_the_later_of_the_date_and_the_rolling_rule() -> None:
    now = parse_instant("2024-06-20T12:00:00Z")
    assert lock_boundary(None, None, UTC, now) is None
    fixed = lock_boundary(date(2024, 5, 31), None, UTC, now)
    assert fixed == parse_instant("2024-06-01T00:00:00Z")
    rolling = lock_boundary(None, 10, UTC, now)
    assert rolling == parse_instant("2024-06-10T00:00:00Z")
    assert lock_boundary(date(2024, 5, 31), 10, UTC, now) == rolling
    madrid = lock_boundary(date(2024, 5, 31), None, ZoneInfo("Europe/Madrid"), now)
    assert (
        madrid == parse_instant("2024-05-31T22:00:00Z") and describe(madrid, ZoneInfo("Europe/Madrid")) == "2024-05-31"
    )
    assert is_locked(parse_instant("2024-05-31T21:59:59Z"), madrid) and not is_locked(madrid, madrid)
    assert not is_locked(0, None)
    for bad in ("31/05/2024", 20240531, "2024-13-01"):
        with pytest.raises(Invalid):
            parse_lock_date(bad)
    for bad_days in (0, -1, 1.5, True):
        with pytest.raises(Invalid):
            parse_rolling_days(bad_days)


# ---------------------------------------------------------------- property: totals add up

GROUPS = ("project", "customer", "owner", "billable", "day")

rows = st.lists(
    st.builds(
        lambda seconds, billable, hourly, cost, keys, rule: row_for(seconds, rule, billable, hourly, cost, keys),
        st.integers(0, 999 * 3600),
        st.booleans(),
        st.one_of(st.none(), st.integers(0, 10**7)),
        st.one_of(st.none(), st.integers(0, 10**7)),
        st.fixed_dictionaries({g: st.sampled_from([("a", "A"), ("b", "B"), (None, None)]) for g in GROUPS}),
        st.builds(Rounding, st.sampled_from(("none", "up", "down", "nearest")), st.integers(1, 60)),
    ),
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(rows, st.sampled_from(GROUPS), st.one_of(st.none(), st.sampled_from(GROUPS)))
def test_every_total_is_the_sum_of_its_rows_and_of_its_groups(found: list, group_by: str, then_by: str | None) -> None:
    if then_by == group_by:
        then_by = None
    groups, total = aggregate(found, group_by, then_by)
    for figure in ("seconds", "rounded_seconds", "billable_seconds", "amount", "cost", "count"):
        assert total[figure] == sum(r.figures()[figure] for r in found)
        assert total[figure] == sum(g[figure] for g in groups)
        for group in groups:
            if then_by is not None:
                assert group[figure] == sum(s[figure] for s in group["groups"])
