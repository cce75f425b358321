"""The rules of a tenant's money settings (time_tracker_api/money/service.py), called directly
on the memory engine: no Flask app, no HTTP, no database, `now` passed in."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import pytest

from commons.data_access_layer.events import Actor
from commons.data_access_layer.memory import MemoryStore
from commons.data_access_layer.repository import CUSTOMERS, PROJECTS, Record
from commons.domain.clock import parse_instant
from commons.domain.errors import Conflict, Forbidden, Invalid, NotFound, PreconditionFailed
from commons.domain.preconditions import IfMatch
from tests.unit import calls
from time_tracker_api.money import service as money

NOW = parse_instant("2024-06-15T12:00:00Z")


@pytest.fixture
def refs(store: MemoryStore, boss: Actor) -> dict[str, Record]:
    customer = calls.create_item(store, boss, CUSTOMERS, {"name": "Acme"})
    project = calls.create_item(store, boss, PROJECTS, {"name": "Website", "customer_id": customer["id"]})
    return {"customer": customer, "project": project}


def rate(store: MemoryStore, who: Actor, **body: Any) -> dict[str, Any]:
    return calls.add_rate(store, who, body, NOW)


def test_a_tenant_without_settings_has_the_defaults(store: MemoryStore, ana: Actor) -> None:
    current = money.get_settings(store, ana, NOW)
    assert (current["currency"], current["currency_digits"], current["timezone"]) == ("USD", 2, "UTC")
    assert current["rounding"] == {"mode": "none", "minutes": 1} and current["rates"] == []
    assert current["lock"]["locked_before"] is None and current["_etag"] is None


def test_only_admins_change_the_settings(store: MemoryStore, ana: Actor) -> None:
    for attempt in (
        lambda: calls.update_settings(store, ana, {"currency": "EUR"}, None, NOW),
        lambda: calls.set_lock(store, ana, {"locked_until": "2024-05-31"}, None, NOW),
        lambda: rate(store, ana, amount=1),
        lambda: money.delete_rate(store, ana, "any", NOW),
    ):
        with pytest.raises(Forbidden):
            attempt()


def test_settings_change_at_the_version_the_client_read(store: MemoryStore, boss: Actor) -> None:
    with pytest.raises(Invalid, match="no version yet"):
        calls.update_settings(store, boss, {"currency": "EUR"}, IfMatch(("any",)), NOW)
    saved = calls.update_settings(
        store, boss, {"currency": "JPY", "rounding": {"mode": "up", "minutes": 15}}, None, NOW
    )
    assert saved["currency_digits"] == 0 and saved["rounding"] == {"mode": "up", "minutes": 15}
    with pytest.raises(PreconditionFailed):
        calls.update_settings(store, boss, {"currency": "EUR"}, IfMatch(("stale",)), NOW)
    again = calls.update_settings(store, boss, {"currency": "EUR"}, IfMatch((saved["_etag"],)), NOW)
    assert again["currency"] == "EUR" and again["_etag"] != saved["_etag"]


@pytest.mark.parametrize(
    "body", [{"currency": "euro"}, {"rounding": {"mode": "sideways"}}, {"timezone": "Mars/Base"}, {"timezone": " "}]
)
def test_malformed_settings_are_invalid(store: MemoryStore, boss: Actor, body: dict) -> None:
    with pytest.raises(Invalid):
        calls.update_settings(store, boss, body, None, NOW)


def test_the_currency_stays_while_the_tenant_has_rates_in_it(store: MemoryStore, boss: Actor) -> None:
    added = rate(store, boss, amount=5000)
    with pytest.raises(Conflict, match="currency"):
        calls.update_settings(store, boss, {"currency": "GBP"}, None, NOW)
    money.delete_rate(store, boss, added["id"], NOW)
    assert calls.update_settings(store, boss, {"currency": "GBP"}, None, NOW)["currency"] == "GBP"


def test_cost_rates_are_for_admins_only(store: MemoryStore, boss: Actor, ana: Actor, refs: dict) -> None:
    hourly = rate(store, boss, amount=9000, project_id=refs["project"]["id"])
    assert hourly["level"] == "project" and hourly["valid_from"] is None
    rate(store, boss, kind="cost", amount=4000, user_id="someone")
    assert [r["kind"] for r in money.list_rates(store, ana)] == ["hourly"]
    assert [r["kind"] for r in money.get_settings(store, ana, NOW)["rates"]] == ["hourly"]
    assert sorted(r["kind"] for r in money.list_rates(store, boss)) == ["cost", "hourly"]


def test_one_rate_per_kind_level_and_date(store: MemoryStore, boss: Actor, refs: dict) -> None:
    rate(store, boss, amount=9000, project_id=refs["project"]["id"])
    with pytest.raises(Conflict):
        rate(store, boss, amount=1, project_id=refs["project"]["id"])
    rate(store, boss, amount=1, project_id=refs["project"]["id"], valid_from="2024-07-01")
    rate(store, boss, kind="cost", amount=1, project_id=refs["project"]["id"])


@pytest.mark.parametrize(
    "body",
    [
        {"amount": -1},
        {"amount": 1.5},
        {"amount": True},
        {"amount": 10**12 + 1},
        {"amount": 1, "kind": "fee"},
        {"amount": 1, "valid_from": "soon"},
        {"amount": 1, "valid_from": "0001-01-01"},
        {"amount": 1, "user_id": " "},
        {"amount": 1, "customer_id": "CUSTOMER", "project_id": "PROJECT"},
        {"amount": 1, "project_id": str(uuid.uuid4())},
        {"amount": 1, "customer_id": str(uuid.uuid4())},
    ],
)
def test_malformed_rates_are_invalid(store: MemoryStore, boss: Actor, refs: dict, body: dict) -> None:
    ids = {"CUSTOMER": refs["customer"]["id"], "PROJECT": refs["project"]["id"]}
    with pytest.raises(Invalid):
        rate(store, boss, **{k: ids.get(v, v) if isinstance(v, str) else v for k, v in body.items()})
    assert money.list_rates(store, boss) == []


def test_a_deleted_rate_is_gone(store: MemoryStore, boss: Actor) -> None:
    added = rate(store, boss, amount=1)
    money.delete_rate(store, boss, added["id"], NOW)
    with pytest.raises(NotFound):
        money.delete_rate(store, boss, added["id"], NOW)


def test_rates_added_at_once_by_several_admins_are_all_kept(store: MemoryStore, tenant: str) -> None:
    admins = [Actor(user_id=str(uuid.uuid4()), tenant_id=tenant, is_admin=True) for _ in range(6)]
    start = threading.Barrier(len(admins))

    def add(n: int) -> None:
        start.wait()
        rate(store, admins[n], amount=1000 + n, user_id=f"user-{n}")

    threads = [threading.Thread(target=add, args=(n,)) for n in range(len(admins))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert sorted(r["amount"] for r in money.list_rates(store, admins[0])) == [1000 + n for n in range(6)]
