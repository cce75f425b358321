"""The rules of a tenant's money settings: currency, report rounding, rates, locked periods.

They are one record per tenant (`UnitOfWork.money`), written whole and conditionally: every
change reads it, decides, and writes it back at the version read, so two admins at once never
lose each other's change (the later decides again). Reading needs any token of the tenant;
changing needs the admin role; cost rates are shown to admins only.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, tzinfo
from typing import Any

from commons.data_access_layer.repository import Record, Store, UnitOfWork, decisions
from commons.domain.clock import MIN_INSTANT, _local_midnight, format_instant, zone_from
from commons.domain.errors import Conflict, Invalid, NotFound
from commons.domain.identity import Identity, is_admin, require_admin
from commons.domain.money import Rate, RateBook, Rounding, currency_digits, level_of
from commons.domain.periods import lock_boundary, parse_lock_date
from commons.domain.preconditions import IfMatch
from time_tracker_api.money.inputs import LockInput, RateInput, SettingsChanges

DEFAULT_CURRENCY = "USD"
MAX_RATES = 2000


def defaults() -> dict[str, Any]:
    return {
        "currency": DEFAULT_CURRENCY,
        "timezone": "UTC",
        "rounding": {"mode": "none", "minutes": 1},
        "lock": {"locked_until": None, "older_than_days": None},
        "rates": [],
    }


@dataclass(frozen=True)
class Money:
    """A tenant's settings, parsed: what reports and the lock rule need."""

    currency: str
    digits: int
    zone: tzinfo
    rounding: Rounding
    rates: RateBook
    locked_until: date | None
    older_than_days: int | None

    def boundary(self, now: int) -> int | None:
        return lock_boundary(self.locked_until, self.older_than_days, self.zone, now)


def _settings_of(found: Record | None) -> dict[str, Any]:
    return _merged(found.get("settings") if found is not None else None)


def _merged(stored: Mapping[str, Any] | None) -> dict[str, Any]:
    """Stored settings over the defaults."""
    merged = defaults()
    merged.update(stored or {})
    return merged


def parse(settings: Mapping[str, Any]) -> Money:
    rounding = settings.get("rounding") or {}
    lock = settings.get("lock") or {}
    return Money(
        currency=settings["currency"],
        digits=currency_digits(settings["currency"]),
        zone=zone_from(None, settings.get("timezone") or "UTC"),
        rounding=Rounding(rounding.get("mode", "none"), rounding.get("minutes", 1)),
        rates=RateBook(
            [
                Rate(
                    r["id"],
                    r["kind"],
                    r["amount"],
                    r["valid_from_at"],
                    r.get("customer_id"),
                    r.get("project_id"),
                    r.get("user_id"),
                )
                for r in settings.get("rates") or []
            ]
        ),
        locked_until=parse_lock_date(lock.get("locked_until")),
        older_than_days=lock.get("older_than_days"),
    )


def read(uow: UnitOfWork) -> Money:
    """The tenant's settings inside a unit of work (defaults when it has none)."""
    return parse(_settings_of(uow.money.get()))


def lock_of(stored: Mapping[str, Any] | None, now: int) -> tuple[int | None, tzinfo]:
    """The lock boundary and the tenant's zone from its stored settings (None: the defaults):
    what every entry write reads (the rates are left alone, however many there are)."""
    settings = _merged(stored)
    lock = settings.get("lock") or {}
    zone = zone_from(None, settings.get("timezone") or "UTC")
    locked_until = parse_lock_date(lock.get("locked_until"))
    return lock_boundary(locked_until, lock.get("older_than_days"), zone, now), zone


# ---------------------------------------------------------------- views


def _view(found: Record | None, identity: Identity, now: int) -> dict[str, Any]:
    settings = _settings_of(found)
    money = parse(settings)
    boundary = money.boundary(now)
    return {
        "currency": money.currency,
        "currency_digits": money.digits,
        "timezone": settings["timezone"],
        "rounding": dict(settings["rounding"]),
        "lock": {**settings["lock"], "locked_before": format_instant(boundary)},
        "rates": rates_view(settings["rates"], identity),
        "_etag": found["_etag"] if found else None,
    }


def rates_view(rates: list[dict[str, Any]], identity: Identity) -> list[dict[str, Any]]:
    """Cost rates are internal: admins only."""
    admin = is_admin(identity)
    shown = [
        {
            **{k: v for k, v in r.items() if k != "valid_from_at"},
            "level": level_of(r.get("customer_id"), r.get("project_id"), r.get("user_id")),
        }
        for r in rates
        if admin or r["kind"] == "hourly"
    ]
    return sorted(shown, key=lambda r: (r["kind"], r["level"], r["valid_from"] or "", r["id"]))


def get_settings(store: Store, identity: Identity, now: int) -> dict[str, Any]:
    with store.unit_of_work(identity) as uow:
        return _view(uow.money.get(), identity, now)


# ---------------------------------------------------------------- changes


def _change(
    store: Store,
    identity: Identity,
    if_match: IfMatch | None,
    now: int,
    change: Callable[[UnitOfWork, dict[str, Any]], str],
) -> dict[str, Any]:
    """Read the settings, apply `change` (which answers the audit description), write them
    back at the version read; a writer that got there first makes this one decide again."""
    require_admin(identity)
    for attempt in decisions():
        with attempt:
            with store.unit_of_work(identity, write=True) as uow:
                found = uow.money.get()
                if if_match is not None:
                    if found is None:
                        raise Invalid("The money settings have no version yet; send no If-Match")
                    if_match.check(found["_etag"], "Money settings")
                settings = _settings_of(found)
                description = change(uow, settings)
                parse(settings)  # whatever is written must read back
                written = uow.money.put(settings, found["_etag"] if found else None, description)
            # Committed: the version is known now (Cosmos learns it from the batch).
            return _view(written, identity, now)
    raise AssertionError("decisions() either returns or raises")  # pragma: no cover


def update_settings(
    store: Store, identity: Identity, edit: SettingsChanges, if_match: IfMatch | None, now: int
) -> dict[str, Any]:
    """Currency, time zone and report rounding (each optional)."""
    changes = edit.values()

    def change(_uow: UnitOfWork, settings: dict[str, Any]) -> str:
        if "currency" in changes and changes["currency"] != settings["currency"] and settings["rates"]:
            raise Conflict("The tenant has rates in its currency; delete them before changing the currency")
        settings.update(changes)
        return "Money settings changed: " + ", ".join(sorted(changes)) if changes else "Money settings saved"

    return _change(store, identity, if_match, now, change)


def set_lock(store: Store, identity: Identity, lock: LockInput, if_match: IfMatch | None, now: int) -> dict[str, Any]:
    """Lock the tenant's entries up to a date (that day included) and/or older than N days."""
    locked_until, older_than_days = lock.locked_until, lock.older_than_days

    def change(_uow: UnitOfWork, settings: dict[str, Any]) -> str:
        zone = zone_from(None, settings["timezone"])
        if locked_until is not None and lock_boundary(locked_until, None, zone, now) > now:  # type: ignore[operator]
            raise Invalid("locked_until must be a day that has ended (in the tenant's time zone)", "locked_until")
        settings["lock"] = {
            "locked_until": locked_until.isoformat() if locked_until else None,
            "older_than_days": older_than_days,
        }
        return f"Locked periods set: up to {settings['lock']['locked_until']}, older than {older_than_days} days"

    return _change(store, identity, if_match, now, change)


def add_rate(store: Store, identity: Identity, new: RateInput, now: int) -> dict[str, Any]:
    """A rate (hourly: billed; cost: internal) of the tenant, a customer, a project, a user or
    a project member, valid from a date on. A rate never changes: add one valid from a later
    date instead, so that reports of earlier periods keep their figures."""
    kind, amount, valid_from, level = new.kind, new.amount, new.valid_from, new.level
    keys = {"customer_id": new.customer_id, "project_id": new.project_id, "user_id": new.user_id}
    rate_id = str(uuid.uuid4())
    created: dict[str, Any] = {}

    def change(uow: UnitOfWork, settings: dict[str, Any]) -> str:
        if keys["customer_id"] and keys["customer_id"] not in uow.customers.get_many([keys["customer_id"]]):
            raise Invalid("Related customer does not exist", "customer_id")
        if keys["project_id"] and keys["project_id"] not in uow.projects.get_many([keys["project_id"]]):
            raise Invalid("Related project does not exist", "project_id")
        if len(settings["rates"]) >= MAX_RATES:
            raise Invalid(f"A tenant has at most {MAX_RATES} rates; delete old ones")
        zone = zone_from(None, settings["timezone"])
        rate = {
            "id": rate_id,
            "kind": kind,
            "amount": amount,
            **keys,
            "valid_from": valid_from.isoformat() if valid_from else None,
            # The instant is fixed when the rate is added (the tenant's zone then).
            "valid_from_at": _local_midnight(valid_from, zone) if valid_from else MIN_INSTANT,
        }
        for other in settings["rates"]:
            same = all(other.get(k) == rate[k] for k in ("kind", "customer_id", "project_id", "user_id"))
            if same and other["valid_from"] == rate["valid_from"]:
                raise Conflict("A rate of that kind and level is valid from that date already")
        settings["rates"] = [*settings["rates"], rate]
        created.update(rate)
        return f"Rate added: {kind} {level} {amount} from {rate['valid_from'] or 'always'}"

    view = _change(store, identity, None, now, change)
    return {**next(r for r in view["rates"] if r["id"] == created["id"]), "_etag": view["_etag"]}


def delete_rate(store: Store, identity: Identity, rate_id: str, now: int) -> None:
    def change(_uow: UnitOfWork, settings: dict[str, Any]) -> str:
        kept = [r for r in settings["rates"] if r["id"] != rate_id]
        if len(kept) == len(settings["rates"]):
            raise NotFound("Rate not found")
        settings["rates"] = kept
        return f"Rate deleted: {rate_id}"

    _change(store, identity, None, now, change)


def list_rates(store: Store, identity: Identity) -> list[dict[str, Any]]:
    with store.unit_of_work(identity) as uow:
        return rates_view(_settings_of(uow.money.get())["rates"], identity)
