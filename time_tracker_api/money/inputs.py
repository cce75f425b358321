"""What the money endpoints' bodies may say, cleaned into typed values before any rule looks
at them: `settings_changes` (currency, time zone, rounding), `lock_input` (locked periods) and
`rate_input` (a new rate). Unknown keys are ignored."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import date
from typing import Any

from commons.domain import cleaning
from commons.domain.cleaning import UNSET, Unset
from commons.domain.clock import zone_from
from commons.domain.errors import Invalid
from commons.domain.money import MAX_RATE, RATE_KINDS, Rounding, currency_digits, level_of
from commons.domain.periods import parse_lock_date, parse_rolling_days

#: The longest id a rate may name (the contract's).
MAX_ID = 64


@dataclass(frozen=True, kw_only=True)
class SettingsChanges:
    """The settings a body set (UNSET: left out)."""

    currency: str | Unset = UNSET
    timezone: str | Unset = UNSET
    rounding: Rounding | Unset = UNSET

    def values(self) -> dict[str, Any]:
        """The settings the body set, as the settings record keeps them."""
        found = {f.name: getattr(self, f.name) for f in fields(self)}
        if isinstance(self.rounding, Rounding):
            found["rounding"] = {"mode": self.rounding.mode, "minutes": self.rounding.minutes}
        return {name: value for name, value in found.items() if value is not UNSET}


@dataclass(frozen=True)
class LockInput:
    """Lock the entries up to a day (that day included) and/or older than N days; None: not."""

    locked_until: date | None
    older_than_days: int | None


@dataclass(frozen=True)
class RateInput:
    """A new rate: of the tenant, a customer, a project, a user or a project member (`level`)."""

    kind: str
    amount: int
    valid_from: date | None
    customer_id: str | None
    project_id: str | None
    user_id: str | None
    level: str


def settings_changes(body: Mapping[str, Any]) -> SettingsChanges:
    values: dict[str, Any] = {}
    if "currency" in body:
        currency_digits(body["currency"])
        values["currency"] = body["currency"]
    if "timezone" in body:
        if not isinstance(body["timezone"], str) or not body["timezone"].strip():
            raise Invalid("timezone must be an IANA time zone name, e.g. Europe/Madrid", "timezone")
        zone_from(None, body["timezone"].strip())
        values["timezone"] = body["timezone"].strip()
    if "rounding" in body:
        rounding = body["rounding"]
        if not isinstance(rounding, Mapping):
            raise Invalid("rounding must be an object: {mode, minutes}", "rounding")
        values["rounding"] = Rounding(rounding.get("mode", "none"), rounding.get("minutes", 1))
    return SettingsChanges(**values)


def lock_input(body: Mapping[str, Any]) -> LockInput:
    return LockInput(parse_lock_date(body.get("locked_until")), parse_rolling_days(body.get("older_than_days")))


def _valid_from(value: Any) -> date | None:
    if value is None:
        return None
    try:
        valid_from = date.fromisoformat(str(value))
    except ValueError:
        raise Invalid("valid_from must be a date, YYYY-MM-DD, or null (always)", "valid_from") from None
    if not 1900 <= valid_from.year <= 9998:
        raise Invalid("valid_from must be in the years 1900 to 9998", "valid_from")
    return valid_from


def rate_input(body: Mapping[str, Any]) -> RateInput:
    kind = body.get("kind", "hourly")
    if kind not in RATE_KINDS:
        raise Invalid("kind must be hourly or cost", "kind")
    amount = body.get("amount")
    if isinstance(amount, bool) or not isinstance(amount, int) or not 0 <= amount <= MAX_RATE:
        raise Invalid(f"amount must be a whole number of minor units per hour, 0 to {MAX_RATE}", "amount")
    valid_from = _valid_from(body.get("valid_from"))
    # An id sent blank is refused, not read as absent (which would make a tenant-wide rate).
    keys = {
        f: None if body.get(f) is None else cleaning.required_text(body[f], f, limit=MAX_ID)
        for f in ("customer_id", "project_id", "user_id")
    }
    level = level_of(keys["customer_id"], keys["project_id"], keys["user_id"])
    return RateInput(kind, amount, valid_from, keys["customer_id"], keys["project_id"], keys["user_id"], level)
