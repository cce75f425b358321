"""Money and periods (TT-16) through the API, on every engine: settings, rates, billable,
rounding, report totals in JSON, CSV and XLSX, locked periods and their override."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from commons.data_access_layer.repository import Store
from commons.domain.clock import format_instant, parse_instant
from tests.api.test_time_entries_api import entry, set_now
from tests.conftest import Client, new_id, token_for
from time_tracker_events.runner import run

REPORT = "/time-entries/report?start_date=2024-05-01&end_date=2024-05-31"


@pytest.fixture
def setup(admin: Client) -> dict[str, Any]:
    customer = admin.post("/customers", {"name": "Acme"})
    internal = admin.post("/customers", {"name": "Internal", "billable": False})
    project = admin.post("/projects", {"name": "Website", "customer_id": customer["id"]})
    other = admin.post("/projects", {"name": "Mobile", "customer_id": customer["id"], "billable": False})
    chores = admin.post("/projects", {"name": "Chores", "customer_id": internal["id"]})
    activity = admin.post("/activities", {"name": "Development"})
    return {
        "customer": customer,
        "internal": internal,
        "project": project,
        "other": other,
        "chores": chores,
        "activity": activity,
    }


def person(app: Any, tenant: str, email: str) -> tuple[Client, str]:
    user_id = new_id()
    return Client(app.test_client(), token_for(tenant, user_id, email=email)), user_id


def test_settings_have_defaults_and_only_admins_change_them(admin: Client, user: Client) -> None:
    current = user.get("/money/settings")
    assert current["currency"] == "USD" and current["currency_digits"] == 2
    assert current["rounding"] == {"mode": "none", "minutes": 1} and current["lock"]["locked_before"] is None
    user.put("/money/settings", {"currency": "EUR"}, expect=403)
    saved = admin.put("/money/settings", {"currency": "JPY", "rounding": {"mode": "up", "minutes": 15}})
    assert saved["currency_digits"] == 0 and saved["rounding"] == {"mode": "up", "minutes": 15}
    etag = admin.last.headers["ETag"]
    admin.put("/money/settings", {"currency": "EUR"}, headers={"If-Match": '"stale"'}, expect=412)
    admin.put("/money/settings", {"currency": "EUR"}, headers={"If-Match": etag})
    for bad in ({"currency": "euro"}, {"rounding": {"mode": "sideways"}}, {"timezone": "Mars/Base"}):
        admin.put("/money/settings", bad, expect=400)
    admin.post("/money/rates", {"amount": 5000})
    assert "currency" in admin.put("/money/settings", {"currency": "GBP"}, expect=409)["message"]


def test_rates_are_validated_and_cost_rates_are_for_admins_only(admin: Client, user: Client, setup: dict) -> None:
    hourly = admin.post("/money/rates", {"amount": 9000, "project_id": setup["project"]["id"]})
    assert hourly["level"] == "project" and hourly["valid_from"] is None
    assert admin.last.headers["Location"].endswith(f"/money/rates/{hourly['id']}")
    admin.post("/money/rates", {"kind": "cost", "amount": 4000, "user_id": "someone"})
    user.post("/money/rates", {"amount": 1}, expect=403)
    assert [r["kind"] for r in user.get("/money/rates")] == ["hourly"]
    assert sorted(r["kind"] for r in admin.get("/money/rates")) == ["cost", "hourly"]
    assert [r["kind"] for r in user.get("/money/settings")["rates"]] == ["hourly"]
    admin.post("/money/rates", {"amount": 1, "project_id": setup["project"]["id"]}, expect=409)
    for bad in (
        {"amount": -1},
        {"amount": 1.5},
        {"amount": 1, "kind": "fee"},
        {"amount": 1, "valid_from": "soon"},
        {"amount": 1, "valid_from": "0001-01-01"},
        {"amount": 1, "customer_id": setup["customer"]["id"], "project_id": setup["project"]["id"]},
        {"amount": 1, "project_id": str(uuid.uuid4())},
    ):
        admin.post("/money/rates", bad, expect=400)
    admin.delete(f"/money/rates/{hourly['id']}")
    admin.delete(f"/money/rates/{hourly['id']}", expect=404)


def test_billable_defaults_from_the_project_then_the_customer(user: Client, setup: dict) -> None:
    starts = iter(range(1, 20))

    def past(project: str, **extra: Any) -> dict[str, Any]:
        day = next(starts)
        body = entry(setup, f"2024-05-{day:02d}T09:00:00Z", f"2024-05-{day:02d}T10:00:00Z", **extra)
        return user.post("/time-entries", {**body, "project_id": setup[project]["id"]})

    assert past("project")["billable"] is True  # customer and project say nothing: billable
    assert past("other")["billable"] is False  # the project says no
    assert past("chores")["billable"] is False  # its customer says no
    assert past("chores", billable=True)["billable"] is True  # the entry says so
    moved = past("project")
    assert user.put(f"/time-entries/{moved['id']}", {"project_id": setup["other"]["id"]})["billable"] is False
    user.post("/time-entries", entry(setup, billable="yes"), expect=400)


def test_rate_precedence_and_valid_from_dates_in_the_report(app: Any, admin: Client, setup: dict, tenant: str) -> None:
    set_now(app, "2024-06-15T00:00:00Z")
    ana, ana_id = person(app, tenant, "ana@example.com")
    bob, bob_id = person(app, tenant, "bob@example.com")
    website, customer = setup["project"]["id"], setup["customer"]["id"]
    admin.post("/money/rates", {"amount": 1000})  # tenant
    admin.post("/money/rates", {"amount": 2000, "user_id": bob_id})  # user
    admin.post("/money/rates", {"amount": 3000, "customer_id": customer})  # customer
    admin.post("/money/rates", {"amount": 4000, "project_id": website, "valid_from": "2024-05-10"})  # project, later
    admin.post("/money/rates", {"amount": 5000, "project_id": website, "user_id": ana_id})  # project member
    admin.post("/money/rates", {"kind": "cost", "amount": 700, "user_id": ana_id})
    ana.post("/time-entries", entry(setup, "2024-05-02T09:00:00Z", "2024-05-02T10:00:00Z"))  # member: 5000
    bob.post("/time-entries", entry(setup, "2024-05-02T09:00:00Z", "2024-05-02T10:00:00Z"))  # customer: 3000
    bob.post("/time-entries", entry(setup, "2024-05-12T09:00:00Z", "2024-05-12T10:00:00Z"))  # project: 4000
    chores = {**entry(setup, "2024-05-03T09:00:00Z", "2024-05-03T10:00:00Z"), "billable": True}
    bob.post("/time-entries", {**chores, "project_id": setup["chores"]["id"]})  # user: 2000
    report = admin.get(REPORT + "&group_by=owner")
    by_rate = sorted((e["owner_email"], e["start_date"][:10], e["hourly_rate"], e["amount"]) for e in report["entries"])
    assert by_rate == [
        ("ana@example.com", "2024-05-02", 5000, 5000),
        ("bob@example.com", "2024-05-02", 3000, 3000),
        ("bob@example.com", "2024-05-03", 2000, 2000),
        ("bob@example.com", "2024-05-12", 4000, 4000),
    ]
    assert {g["name"]: (g["amount"], g["cost"]) for g in report["totals"]} == {
        "ana@example.com": (5000, 700),
        "bob@example.com": (9000, 0),
    }
    # A rate added today, valid from today, does not move May's report.
    admin.post("/money/rates", {"amount": 9999, "valid_from": "2024-06-15"})
    admin.post("/money/rates", {"amount": 9999, "customer_id": customer, "valid_from": "2024-06-15"})
    assert admin.get(REPORT + "&group_by=owner")["total"]["amount"] == 14000


def test_rounding_applies_per_entry_and_every_total_adds_up(app: Any, admin: Client, setup: dict) -> None:
    set_now(app, "2024-06-15T00:00:00Z")
    admin.put("/money/settings", {"currency": "EUR", "rounding": {"mode": "up", "minutes": 15}})
    admin.post("/money/rates", {"amount": 10000})
    admin.post("/time-entries", entry(setup, "2024-05-06T09:00:00Z", "2024-05-06T09:01:00Z"))  # 1 min -> 15
    admin.post("/time-entries", entry(setup, "2024-05-06T10:00:00Z", "2024-05-06T10:20:30Z"))  # -> 30
    other = {**entry(setup, "2024-05-14T10:00:00Z", "2024-05-14T10:07:00Z"), "project_id": setup["other"]["id"]}
    admin.post("/time-entries", other)  # not billable: 15 min of time, no amount
    report = admin.get(REPORT + "&group_by=week&then_by=billable")
    total = report["total"]
    assert (total["seconds"], total["rounded_seconds"], total["billable_seconds"]) == (1710, 3600, 2700)
    assert (total["amount"], report["currency"], report["rounding"]) == (7500, "EUR", {"mode": "up", "minutes": 15})
    assert [(g["name"], g["rounded_seconds"], g["amount"]) for g in report["totals"]] == [
        ("2024-W19", 2700, 7500),
        ("2024-W20", 900, 0),
    ]
    assert [(s["key"], s["amount"]) for s in report["totals"][0]["groups"]] == [("true", 7500)]
    assert [e["rounded_seconds"] for e in sorted(report["entries"], key=lambda e: e["start_date"])] == [900, 1800, 900]
    by_month = admin.get(REPORT + "&group_by=month&then_by=project")
    assert [(g["key"], g["amount"]) for g in by_month["totals"]] == [("2024-05", 7500)]


def _csv(admin: Client, path: str) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    response = admin.http.get(path + "&format=csv", headers=admin.headers())
    assert response.status_code == 200 and response.mimetype == "text/csv"
    entries, totals = response.get_data(as_text=True).split("\r\n\r\n")
    read = csv.DictReader
    return list(read(io.StringIO(entries, newline=""))), list(read(io.StringIO(totals, newline="")))


def seconds_of(value: Any) -> int:
    """An XLSX duration as openpyxl reads it (a timedelta: the cell is a real duration)."""
    assert isinstance(value, timedelta), value
    return round(value.total_seconds())


def _xlsx(admin: Client, path: str) -> Any:
    response = admin.http.get(path + "&format=xlsx", headers=admin.headers())
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return openpyxl.load_workbook(io.BytesIO(response.get_data()), data_only=True)


def test_json_csv_and_xlsx_hold_the_same_figures(app: Any, admin: Client, setup: dict) -> None:
    set_now(app, "2024-06-15T00:00:00Z")
    admin.put("/money/settings", {"currency": "EUR", "rounding": {"mode": "nearest", "minutes": 6}})
    admin.post("/money/rates", {"amount": 8333})
    admin.post("/money/rates", {"kind": "cost", "amount": 3001})
    for day, seconds in ((2, 47 * 60 + 1), (3, 13 * 60), (9, 125 * 60 + 59)):
        start = parse_instant(f"2024-05-{day:02d}T09:00:00Z")
        admin.post(
            "/time-entries",
            entry(setup, format_instant(start), format_instant(start + seconds * 1000), description="=cmd"),
        )
    path = REPORT + "&group_by=customer&then_by=day"
    report = admin.get(path)
    rows, totals = _csv(admin, path)
    cents = {e["id"]: e for e in report["entries"]}
    for row in rows:
        source = cents[row["id"]]
        assert int(row["rounded_seconds"]) == source["rounded_seconds"] and int(row["seconds"]) == source["seconds"]
        assert Decimal(row["amount"]) * 100 == source["amount"] and Decimal(row["cost"]) * 100 == source["cost"]
        assert row["description"] == "'=cmd"  # the formula-injection defence holds
    csv_total = totals[-1]
    assert csv_total["group_by"] == "total" and Decimal(csv_total["amount"]) * 100 == report["total"]["amount"]
    assert int(csv_total["rounded_seconds"]) == report["total"]["rounded_seconds"]
    assert [t["parent_key"] for t in totals[:-1] if t["group_by"] == "day"] == [setup["customer"]["id"]] * 3

    book = _xlsx(admin, path)
    sheet = book["Entries"]
    header = [c.value for c in sheet[1]]
    data = list(sheet.iter_rows(min_row=2, values_only=True))
    body, last = data[:-1], data[-1]
    column = {name: header.index(name) for name in header}
    assert len(body) == len(report["entries"]) and last[0] == "Total"
    for line in body:
        source = cents[line[column["Id"]]]
        assert seconds_of(line[column["Rounded"]]) == source["rounded_seconds"]
        assert round(line[column["Amount"]] * 100) == source["amount"]
        assert line[column["Billable"]] is True and line[column["Description"]] == "'=cmd"
    assert round(last[column["Amount"]] * 100) == report["total"]["amount"]
    assert seconds_of(last[column["Rounded"]]) == report["total"]["rounded_seconds"]
    assert sheet.cell(row=2, column=column["Amount"] + 1).number_format.endswith('"EUR"')
    assert sheet.cell(row=2, column=column["Duration"] + 1).number_format == "[h]:mm:ss"
    totals_sheet = list(book["Totals"].iter_rows(min_row=2, values_only=True))
    assert totals_sheet[-1][0] == "Total" and round(totals_sheet[-1][7] * 100) == report["total"]["amount"]
    assert round(totals_sheet[0][7] * 100) == report["totals"][0]["amount"]
    assert [seconds_of(r[5]) for r in totals_sheet[1:-1]] == [
        s["rounded_seconds"] for s in report["totals"][0]["groups"]
    ]


def test_an_empty_report_is_a_valid_workbook(admin: Client) -> None:
    book = _xlsx(admin, REPORT)
    assert [r[0] for r in book["Entries"].iter_rows(min_row=2, values_only=True)] == ["Total"]


# ---------------------------------------------------------------- locked periods


def _events(store: Store, admin: Client, item_id: str) -> list[dict[str, Any]]:
    run(store, f"money-{uuid.uuid4().hex[:8]}", once=True, batch_size=100_000)
    return admin.get(f"/events?item_id={item_id}")["data"]  # type: ignore[no-any-return]


def test_the_lock_refuses_every_write_to_a_user_and_an_admin_overrides_it_on_the_record(
    app: Any, admin: Client, user: Client, setup: dict, store: Store
) -> None:
    set_now(app, "2024-06-15T12:00:00Z")
    locked = user.post("/time-entries", entry(setup, "2024-05-20T09:00:00Z", "2024-05-20T10:00:00Z"))
    mine = admin.post("/time-entries", entry(setup, "2024-05-21T09:00:00Z", "2024-05-21T10:00:00Z"))
    user.put("/money/lock", {"locked_until": "2024-05-31"}, expect=403)
    admin.put("/money/lock", {"locked_until": "2024-06-15"}, expect=400)  # today has not ended
    admin.put("/money/lock", {"locked_until": "0001-01-01"}, expect=400)
    state = admin.put("/money/lock", {"locked_until": "2024-05-31"})
    assert state["lock"]["locked_before"] == "2024-06-01T00:00:00.000Z"
    path = f"/time-entries/{locked['id']}"
    message = user.post("/time-entries", entry(setup, "2024-05-22T09:00:00Z", "2024-05-22T10:00:00Z"), expect=423)
    assert "locked period (up to 2024-05-31 included)" in message["message"]
    user.put(path, {"description": "late fix"}, expect=423)
    user.put(f"/time-entries/{mine['id']}", {}, expect=403)  # someone else's: the owner rule comes first
    user.post(f"{path}/restart", expect=423)
    user.post(f"{path}/stop", expect=423)
    user.delete(path, expect=423)
    moved_in = user.post("/time-entries", entry(setup, "2024-06-03T09:00:00Z", "2024-06-03T10:00:00Z"))
    user.put(f"/time-entries/{moved_in['id']}", {"start_date": "2024-05-30T09:00:00Z"}, expect=423)
    user.put(f"/time-entries/{moved_in['id']}", {"description": "open"})  # after the lock: fine
    user.put(f"{path}?override_lock=true", {"description": "mine"}, expect=403)  # not an admin
    # The admin's own entry of the locked period: refused, then written with the override.
    admin.put(f"/time-entries/{mine['id']}", {"description": "fix"}, expect=423)
    admin.put(f"/time-entries/{mine['id']}?override_lock=true", {"description": "fix"})
    admin.post(
        "/time-entries?override_lock=true", entry(setup, "2024-05-22T09:00:00Z", "2024-05-22T10:00:00Z"), expect=201
    )
    admin.delete(f"/time-entries/{mine['id']}?override_lock=true")
    notes = {(e["action"], e["description"]) for e in _events(store, admin, mine["id"])}
    assert ("update", "Locked period override") in notes and ("delete", "Locked period override") in notes
    assert admin.put("/money/lock", {"locked_until": None})["lock"]["locked_before"] is None
    user.put(path, {"description": "late fix"})  # unlocked again


def test_a_running_timer_that_crosses_the_lock_may_be_stopped_and_nothing_else(
    app: Any, admin: Client, user: Client, setup: dict
) -> None:
    set_now(app, "2024-06-01T10:00:00Z")
    running = user.post("/time-entries", entry(setup, "2024-05-31T22:00:00Z"))
    set_now(app, "2024-06-02T08:00:00Z")
    admin.put("/money/lock", {"locked_until": "2024-05-31"})
    user.put(f"/time-entries/{running['id']}", {"description": "x"}, expect=423)
    stopped = user.put("/time-entries/stop")
    assert stopped["end_date"] == "2024-06-02T08:00:00.000Z"
    user.post(f"/time-entries/{running['id']}/restart", expect=423)


def test_a_rolling_lock_closes_days_older_than_n_days(app: Any, admin: Client, user: Client, setup: dict) -> None:
    set_now(app, "2024-06-20T12:00:00Z")
    admin.put("/money/settings", {"timezone": "America/New_York"})
    state = admin.put("/money/lock", {"older_than_days": 10})
    assert state["lock"]["locked_before"] == "2024-06-10T04:00:00.000Z"
    user.post("/time-entries", entry(setup, "2024-06-10T03:00:00Z", "2024-06-10T03:30:00Z"), expect=423)
    user.post("/time-entries", entry(setup, "2024-06-10T04:00:00Z", "2024-06-10T05:00:00Z"))
    admin.put("/money/lock", {"older_than_days": 0}, expect=400)


# ---------------------------------------------------------------- property: totals add up

entries_strategy = st.lists(
    st.tuples(
        st.integers(0, 27),  # day of May
        st.integers(0, 20 * 60),  # start, minutes after 00:00
        st.integers(1, 3 * 3600),  # length, seconds
        st.sampled_from(["project", "other", "chores"]),
        st.one_of(st.none(), st.booleans()),
        st.integers(0, 1),  # who
    ),
    min_size=1,
    max_size=8,
    unique_by=lambda t: t[0],  # one entry per day: no overlaps
)
rates_strategy = st.lists(
    st.tuples(st.sampled_from(["hourly", "cost"]), st.integers(0, 50_000), st.sampled_from([None, "project", "user"])),
    max_size=4,
    unique_by=lambda t: (t[0], t[2]),
)


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    entries_strategy,
    rates_strategy,
    st.sampled_from(["none", "up", "down", "nearest"]),
    st.integers(1, 30),
    st.sampled_from(["project", "customer", "owner", "billable", "week"]),
    st.sampled_from([None, "day", "activity", "billable"]),
)
def test_every_report_total_is_the_sum_of_its_rows_and_groups_to_the_cent(
    app: Any, entries: list, rates: list, mode: str, minutes: int, group_by: str, then_by: str | None
) -> None:
    tenant = new_id()
    set_now(app, "2024-06-15T00:00:00Z")
    admin = Client(app.test_client(), token_for(tenant, admin=True, email="admin@example.com"))
    people = [person(app, tenant, f"p{n}@example.com") for n in range(2)]
    customer = admin.post("/customers", {"name": "Acme"})
    internal = admin.post("/customers", {"name": "Internal", "billable": False})
    projects = {
        "project": admin.post("/projects", {"name": "Website", "customer_id": customer["id"]}),
        "other": admin.post("/projects", {"name": "Mobile", "customer_id": customer["id"], "billable": False}),
        "chores": admin.post("/projects", {"name": "Chores", "customer_id": internal["id"]}),
    }
    activity = admin.post("/activities", {"name": "Development"})
    admin.put("/money/settings", {"rounding": {"mode": mode, "minutes": minutes}})
    for kind, amount, level in rates:
        keys = {"project": {"project_id": projects["project"]["id"]}, "user": {"user_id": people[0][1]}}
        admin.post("/money/rates", {"kind": kind, "amount": amount, **keys.get(level or "", {})})
    for day, start_minutes, length, project, billable, who in entries:
        start = parse_instant(f"2024-05-{day + 1:02d}T00:00:00Z") + start_minutes * 60_000
        body = {
            "project_id": projects[project]["id"],
            "activity_id": activity["id"],
            "start_date": format_instant(start),
            "end_date": format_instant(start + length * 1000),
            "billable": billable,
        }
        people[who][0].post("/time-entries", body)
    path = REPORT + f"&group_by={group_by}" + (f"&then_by={then_by}" if then_by and then_by != group_by else "")
    report = admin.get(path)
    total = report["total"]
    for figure in ("seconds", "rounded_seconds", "amount", "cost"):
        assert total[figure] == sum(e[figure] for e in report["entries"])
        assert total[figure] == sum(g[figure] for g in report["totals"])
        for group in report["totals"]:
            assert group[figure] == sum(s[figure] for s in group.get("groups", [group]))
    assert total["billable_seconds"] == sum(e["rounded_seconds"] for e in report["entries"] if e["billable"])
    assert total["billable_seconds"] == sum(g["billable_seconds"] for g in report["totals"])
    book = _xlsx(admin, path)
    last = list(book["Entries"].iter_rows(values_only=True))[-1]
    header = [c.value for c in book["Entries"][1]]
    assert round(last[header.index("Amount")] * 100) == total["amount"]


def test_rates_added_at_once_by_several_admins_are_all_kept(app: Any, tenant: str) -> None:
    """The settings are one record written at the version read: a writer that lost the race
    decides again on fresh data instead of overwriting the other's rate."""
    from concurrent.futures import ThreadPoolExecutor

    admins = [Client(app.test_client(), token_for(tenant, admin=True)) for _ in range(6)]

    def add(n: int) -> None:
        admins[n].post("/money/rates", {"amount": 1000 + n, "user_id": f"user-{n}"})

    with ThreadPoolExecutor(6) as pool:
        list(pool.map(add, range(6)))
    assert sorted(r["amount"] for r in admins[0].get("/money/rates")) == [1000 + n for n in range(6)]
