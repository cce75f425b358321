"""The `/money` namespace: thin resources over `service`."""

from __future__ import annotations

from typing import Any

from flask import current_app, request
from flask_restx import Namespace, fields

from commons.domain.money import MAX_RATE, MAX_ROUNDING_MINUTES
from commons.domain.periods import MAX_ROLLING_DAYS
from time_tracker_api.inputs import NOT_BLANK, body
from time_tracker_api.money import inputs, service
from time_tracker_api.resources import ERROR, Base, NullableInteger, NullableString, if_match, store
from time_tracker_api.security import current_identity

ns = Namespace(
    "money",
    description="Money and periods: the tenant's currency, report rounding, hourly and cost rates, locked periods",
)
ns.add_model(ERROR.name, ERROR)

rounding = ns.model(
    "Rounding",
    {
        "mode": fields.String(enum=["none", "up", "down", "nearest"], example="up", description="Per entry"),
        "minutes": fields.Integer(
            min=1, max=MAX_ROUNDING_MINUTES, example=15, description="To a multiple of this many minutes"
        ),
    },
)
lock = ns.model(
    "Lock",
    {
        "locked_until": NullableString(example="2024-05-31", description="Locked up to this day (included)"),
        "older_than_days": NullableInteger(
            min=1,
            max=MAX_ROLLING_DAYS,
            example=45,
            description="Also locked: days more than this many days before today",
        ),
    },
)
lock_view = ns.inherit(
    "LockState",
    lock,
    {"locked_before": NullableString(readonly=True, description="Entries starting before this instant are locked")},
)


def _id(description: str) -> NullableString:
    """An optional id: 1 to 64 characters, not blank (as the service checks)."""
    return NullableString(min_length=1, max_length=inputs.MAX_ID, pattern=NOT_BLANK, description=description)


rate_input = ns.model(
    "RateInput",
    {
        "kind": fields.String(enum=["hourly", "cost"], default="hourly", description="hourly: billed; cost: internal"),
        "amount": fields.Integer(
            required=True, min=0, max=MAX_RATE, example=9500, description="Minor units (cents) per hour"
        ),
        "valid_from": NullableString(example="2024-01-01", description="First day it applies (default: always)"),
        "customer_id": _id("A customer's rate"),
        "project_id": _id("A project's rate (with user_id: a project member's)"),
        "user_id": _id("A user's rate (with project_id: a project member's)"),
    },
)
rate = ns.inherit(
    "Rate",
    rate_input,
    {
        "id": fields.String(readonly=True),
        "level": fields.String(enum=["project_member", "project", "customer", "user", "tenant"], readonly=True),
    },
)
settings_input = ns.model(
    "MoneySettingsInput",
    {
        "currency": fields.String(pattern="^[A-Z]{3}$", example="EUR", description="ISO 4217; one per tenant"),
        "timezone": fields.String(example="Europe/Madrid", description="Of lock dates and rate dates"),
        "rounding": fields.Nested(rounding),
    },
)
settings = ns.model(
    "MoneySettings",
    {
        "currency": fields.String(example="EUR"),
        "currency_digits": fields.Integer(example=2, description="Decimals of the minor unit"),
        "timezone": fields.String(example="UTC"),
        "rounding": fields.Nested(rounding),
        "lock": fields.Nested(lock_view),
        "rates": fields.List(fields.Nested(rate), description="Cost rates are shown to admins only"),
    },
)


def _now() -> int:
    return current_app.extensions["time_tracker"].clock()  # type: ignore[no-any-return]


def _entity(view: dict[str, Any], status: int = 200) -> tuple[dict[str, Any], int, dict[str, str]]:
    etag = view.pop("_etag", None)
    return view, status, ({"ETag": f'"{etag}"'} if etag else {})


@ns.route("/settings")
@ns.response(401, "Missing or invalid token", ERROR)
class Settings(Base):
    @ns.response(200, "The tenant's money settings", settings)
    @ns.doc(id="get_money_settings")
    def get(self) -> Any:
        """The tenant's currency, report rounding, rates and locked periods

        Money is in integer minor units of the one currency; amounts are rounded half-even. Cost
        rates are shown to admins only.
        """
        return _entity(service.get_settings(store(), current_identity(), _now()))

    @ns.expect(settings_input, validate=True)
    @ns.response(200, "Saved", settings)
    @ns.response(400, "Invalid input", ERROR)
    @ns.response(403, "You don't have enough permissions.", ERROR)
    @ns.response(409, "The tenant has rates in its currency", ERROR)
    @ns.response(412, "If-Match does not match the current ETag", ERROR)
    @ns.doc(id="update_money_settings")
    def put(self) -> Any:
        """Set the currency, time zone or report rounding (admin)

        Rounding applies to each entry of a report (none, up, down or nearest, to N minutes); every
        total is the sum of the rounded entries. The currency can change only while there are no rates.
        """
        identity, payload, condition = current_identity(), body(), if_match()
        return _entity(service.update_settings(store(), identity, inputs.settings_changes(payload), condition, _now()))


@ns.route("/lock")
@ns.response(401, "Missing or invalid token", ERROR)
class Lock(Base):
    @ns.expect(lock, validate=True)
    @ns.response(200, "Saved", settings)
    @ns.response(400, "Invalid input, or a day that has not ended", ERROR)
    @ns.response(403, "You don't have enough permissions.", ERROR)
    @ns.response(412, "If-Match does not match the current ETag", ERROR)
    @ns.doc(id="lock_periods")
    def put(self) -> Any:
        """Lock time entries up to a day and/or older than N days (admin; null unlocks)

        Entries starting before the lock cannot be created, changed, restarted or deleted (423)
        except by an admin with override_lock=true, which the audit trail records. A running timer
        that started before the lock may still be stopped.
        """
        identity, payload, condition = current_identity(), body(), if_match()
        return _entity(service.set_lock(store(), identity, inputs.lock_input(payload), condition, _now()))


@ns.route("/rates")
@ns.response(401, "Missing or invalid token", ERROR)
class Rates(Base):
    @ns.response(200, "The rates (cost rates: admins only)", [rate])
    @ns.doc(id="list_rates")
    def get(self) -> Any:
        """The tenant's rates

        The most specific level with a rate valid at an entry's start wins: project member, project,
        customer, user, tenant.
        """
        return service.list_rates(store(), current_identity())

    @ns.expect(rate_input, validate=True)
    @ns.response(201, "Created", rate, headers={"Location": "The rate's path"})
    @ns.response(400, "Invalid input", ERROR)
    @ns.response(403, "You don't have enough permissions.", ERROR)
    @ns.response(409, "A rate of that kind and level is valid from that date already", ERROR)
    @ns.doc(id="add_rate")
    def post(self) -> Any:
        """Add an hourly or cost rate, valid from a date on (admin)

        Rates never change: to change one, add a rate valid from a later date, so that reports of
        earlier periods keep their figures.
        """
        created = service.add_rate(store(), current_identity(), inputs.rate_input(body()), _now())
        created.pop("_etag", None)
        return created, 201, {"Location": f"{request.root_path}{ns.path}/rates/{created['id']}"}


@ns.route("/rates/<string:id>")
@ns.param("id", "The rate identifier")
@ns.response(401, "Missing or invalid token", ERROR)
@ns.response(404, "Rate not found", ERROR)
class RateItem(Base):
    @ns.response(204, "Deleted")
    @ns.response(403, "You don't have enough permissions.", ERROR)
    @ns.doc(id="delete_rate")
    def delete(self, id: str) -> Any:
        """Delete a rate (admin)

        Reports of every period are computed again without it.
        """
        service.delete_rate(store(), current_identity(), id, _now())
        return None, 204
