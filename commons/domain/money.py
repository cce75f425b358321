"""Money, rates and rounding: pure functions over integers, so that totals add up exactly.

- Money is an integer number of minor units of the tenant's one currency (cents for EUR,
  yen for JPY), never a float.
- Durations in reports are whole seconds per entry (the milliseconds under a second are
  dropped, per entry), then rounded per entry by the tenant's rule (none, up, down, nearest
  to N minutes; nearest rounds a tie up). Every total is the sum of its rows' rounded figures,
  so a report's total is exactly the sum of its rows and of its groups.
- An amount is `seconds x hourly rate / 3600` rounded half-even (banker's rounding: a tie
  goes to the even minor unit), computed once per entry; totals add those amounts.
- Rates are hourly, valid from an instant on; the most specific level with a rate valid at
  the entry's start wins: project member (project + user) > project > customer > user >
  tenant. A rate that changes today therefore never moves last year's report.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from commons.domain.errors import Invalid

ROUNDING_MODES = ("none", "up", "down", "nearest")
RATE_KINDS = ("hourly", "cost")
#: From the most specific to the least: the first level with a valid rate wins.
LEVELS = ("project_member", "project", "customer", "user", "tenant")
#: ISO 4217 currencies whose minor unit is not the hundredth (the rest have 2 digits).
_DIGITS = {
    **dict.fromkeys(("BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF"), 0),
    **dict.fromkeys(("UGX", "UYI", "VND", "VUV", "XAF", "XOF", "XPF"), 0),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
}
_CURRENCY = re.compile(r"^[A-Z]{3}$")
#: A rate above this (minor units per hour) is surely a typo; it also keeps products small.
MAX_RATE = 10**12
MAX_ROUNDING_MINUTES = 1440


def currency_digits(code: str) -> int:
    """How many decimals the currency's minor unit has (ISO 4217)."""
    if not isinstance(code, str) or not _CURRENCY.match(code):
        raise Invalid("currency must be an ISO 4217 code of three capital letters, e.g. EUR", "currency")
    return _DIGITS.get(code, 2)


def format_minor(amount: int, digits: int) -> str:
    """Minor units as a decimal string in major units, exactly: 12345, 2 -> "123.45"."""
    if digits == 0:
        return str(amount)
    sign = "-" if amount < 0 else ""
    whole, part = divmod(abs(amount), 10**digits)
    return f"{sign}{whole}.{part:0{digits}d}"


# ---------------------------------------------------------------- rounding


@dataclass(frozen=True)
class Rounding:
    """A tenant's rule for report durations, applied to each entry."""

    mode: str = "none"
    minutes: int = 1

    def __post_init__(self) -> None:
        if self.mode not in ROUNDING_MODES:
            raise Invalid(f"rounding mode must be one of {', '.join(ROUNDING_MODES)}", "rounding")
        if isinstance(self.minutes, bool) or not isinstance(self.minutes, int):
            raise Invalid("rounding minutes must be a whole number", "rounding")
        if not 1 <= self.minutes <= MAX_ROUNDING_MINUTES:
            raise Invalid(f"rounding minutes must be between 1 and {MAX_ROUNDING_MINUTES}", "rounding")


def round_seconds(seconds: int, rule: Rounding) -> int:
    """One entry's duration rounded by `rule` (to a multiple of `minutes`)."""
    if rule.mode == "none" or seconds <= 0:
        return max(seconds, 0)
    step = rule.minutes * 60
    whole, rest = divmod(seconds, step)
    if rest == 0 or rule.mode == "down":
        return whole * step
    if rule.mode == "up" or 2 * rest >= step:
        return (whole + 1) * step
    return whole * step


def amount_for(seconds: int, hourly: int) -> int:
    """`seconds` at `hourly` minor units per hour, rounded half-even to a minor unit."""
    quotient, rest = divmod(seconds * hourly, 3600)
    if 2 * rest > 3600 or (2 * rest == 3600 and quotient % 2 == 1):
        quotient += 1
    return quotient


# ---------------------------------------------------------------- rates


@dataclass(frozen=True)
class Rate:
    """An hourly (billable) or cost rate of one level, valid from `valid_from` (epoch ms)."""

    id: str
    kind: str
    amount: int
    valid_from: int
    customer_id: str | None = None
    project_id: str | None = None
    user_id: str | None = None

    @property
    def level(self) -> str:
        return level_of(self.customer_id, self.project_id, self.user_id)


def level_of(customer_id: str | None, project_id: str | None, user_id: str | None) -> str:
    """The level a rate's keys make; a customer with a project or user is not one."""
    if customer_id and (project_id or user_id):
        raise Invalid("A rate is for a customer, a project, a user or a project member (project and user), not more")
    if project_id:
        return "project_member" if user_id else "project"
    if customer_id:
        return "customer"
    return "user" if user_id else "tenant"


def _key(level: str, customer_id: str | None, project_id: str | None, user_id: str | None) -> tuple[str, ...]:
    if level == "project_member":
        return (str(project_id), str(user_id))
    if level == "project":
        return (str(project_id),)
    if level == "customer":
        return (str(customer_id),)
    if level == "user":
        return (str(user_id),)
    return ()


@dataclass
class RateBook:
    """Rates indexed for lookups: per kind, level and key, the valid-from instants sorted."""

    rates: Sequence[Rate] = ()
    _index: dict[tuple[str, str, tuple[str, ...]], tuple[list[int], list[Rate]]] = field(default_factory=dict)
    #: Per kind and entry keys, the levels' slots that apply, most specific first (a report
    #: asks for the same few combinations thousands of times).
    _slots: dict[tuple[str, str | None, str | None, str | None], list[tuple[list[int], list[Rate]]]] = field(
        default_factory=dict
    )

    def __post_init__(self) -> None:
        grouped: dict[tuple[str, str, tuple[str, ...]], list[Rate]] = {}
        for rate in self.rates:
            key = (rate.kind, rate.level, _key(rate.level, rate.customer_id, rate.project_id, rate.user_id))
            grouped.setdefault(key, []).append(rate)
        for key, found in grouped.items():
            found.sort(key=lambda r: (r.valid_from, r.id))
            self._index[key] = ([r.valid_from for r in found], found)

    def find(
        self, kind: str, at: int, project_id: str | None, customer_id: str | None, user_id: str | None
    ) -> Rate | None:
        """The rate of `kind` for an entry starting at `at`: the most specific level that has
        one valid then, and of that level the one valid from the latest instant."""
        if not self._index:
            return None
        memo = (kind, project_id, customer_id, user_id)
        slots = self._slots.get(memo)
        if slots is None:
            slots = self._slots[memo] = []
            for level in LEVELS:
                if (level in ("project_member", "project") and not project_id) or (
                    level == "customer" and not customer_id
                ):
                    continue
                if level in ("project_member", "user") and not user_id:
                    continue
                slot = self._index.get((kind, level, _key(level, customer_id, project_id, user_id)))
                if slot is not None:
                    slots.append(slot)
        for starts, found in slots:
            position = bisect.bisect_right(starts, at)
            if position:
                return found[position - 1]
        return None


# ---------------------------------------------------------------- report figures

FIGURES = ("seconds", "rounded_seconds", "billable_seconds", "amount", "cost", "count")


@dataclass(frozen=True, slots=True)
class Row:
    """One entry of a report: its figures and the (key, name) it has for each grouping."""

    seconds: int
    rounded_seconds: int
    billable: bool
    amount: int
    cost: int
    keys: Mapping[str, tuple[str | None, str | None]]

    def figures(self) -> dict[str, int]:
        return {
            "seconds": self.seconds,
            "rounded_seconds": self.rounded_seconds,
            "billable_seconds": self.rounded_seconds if self.billable else 0,
            "amount": self.amount,
            "cost": self.cost,
            "count": 1,
        }


def row_for(
    seconds: int, rule: Rounding, billable: bool, hourly: int | None, cost_rate: int | None, keys: Mapping[str, Any]
) -> Row:
    """An entry's report row: rounded once, priced once (only billable time earns)."""
    rounded = round_seconds(seconds, rule)
    amount = amount_for(rounded, hourly) if billable and hourly else 0
    cost = amount_for(rounded, cost_rate) if cost_rate else 0
    return Row(seconds, rounded, billable, amount, cost, keys)


def _add(into: dict[str, Any], row: Row) -> None:
    into["seconds"] += row.seconds
    into["rounded_seconds"] += row.rounded_seconds
    if row.billable:
        into["billable_seconds"] += row.rounded_seconds
    into["amount"] += row.amount
    into["cost"] += row.cost
    into["count"] += 1


def zero() -> dict[str, int]:
    return dict.fromkeys(FIGURES, 0)


def aggregate(
    rows: Iterable[Row], group_by: str, then_by: str | None = None
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Groups (each with its sub-groups when `then_by` is given) and the grand total, every
    figure the sum of its rows' figures. Groups are ordered by rounded time, longest first."""
    total = zero()
    groups: dict[str | None, dict[str, Any]] = {}
    for row in rows:
        _add(total, row)
        key, name = row.keys[group_by]
        group = groups.get(key)
        if group is None:
            group = groups[key] = {"key": key, "name": name, **zero(), "_sub": {}}
        _add(group, row)
        if then_by is not None:
            sub_key, sub_name = row.keys[then_by]
            sub = group["_sub"].get(sub_key)
            if sub is None:
                sub = group["_sub"][sub_key] = {"key": sub_key, "name": sub_name, **zero()}
            _add(sub, row)
    ordered = []
    for group in sorted(groups.values(), key=_order):
        subs = group.pop("_sub")
        if then_by is not None:
            group["groups"] = sorted(subs.values(), key=_order)
        ordered.append(group)
    return ordered, total


def _order(group: Mapping[str, Any]) -> tuple[Any, ...]:
    return (-group["rounded_seconds"], -group["seconds"], str(group["key"]))
