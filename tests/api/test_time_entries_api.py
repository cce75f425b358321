"""Time-entry endpoints through the factory-built app, on every engine."""

from __future__ import annotations

import csv
import io
import time
import uuid
from datetime import UTC
from typing import Any

import pytest

from commons.domain.clock import format_instant, parse_instant
from commons.domain.identity import Identity
from tests.conftest import Client, token_for
from time_tracker_api.time_entries import queries
from time_tracker_api.time_entries.csv_report import csv_cell
from time_tracker_api.time_entries.models import entries_json

H = 3_600_000


@pytest.fixture
def setup(admin: Client) -> dict[str, Any]:
    customer = admin.post("/customers", {"name": "Acme"})
    project = admin.post("/projects", {"name": "Website", "customer_id": customer["id"], "project_type_id": None})
    other = admin.post("/projects", {"name": "Mobile", "customer_id": customer["id"]})
    activity = admin.post("/activities", {"name": "Development"})
    return {"customer": customer, "project": project, "other": other, "activity": activity}


def entry(setup: dict[str, Any], start: str | None = None, end: str | None = None, **extra: Any) -> dict[str, Any]:
    body = {"project_id": setup["project"]["id"], "activity_id": setup["activity"]["id"], **extra}
    if start:
        body["start_date"] = start
    if end:
        body["end_date"] = end
    return body


def csv_sections(text: str) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """A CSV report's entry rows and its totals rows (after the blank line)."""
    entries, totals = text.split("\r\n\r\n")
    return list(csv.DictReader(io.StringIO(entries, newline=""))), list(csv.DictReader(io.StringIO(totals, newline="")))


def set_now(app: Any, text: str) -> None:
    app.extensions["time_tracker"].clock = lambda: parse_instant(text)


def test_clock_in_then_out(user: Client, setup: dict) -> None:
    running = user.post("/time-entries", entry(setup, technologies=["python"], timezone_offset=300))
    assert running["running"] is True and "end_date" in running and running["end_date"] is None
    assert running["project_name"] == "Website" and running["customer_name"] == "Acme"
    assert running["activity_name"] == "Development" and running["owner_email"] == "user@example.com"
    assert running["technologies"] == ["python"] and running["timezone_offset"] == 300
    assert user.get("/time-entries/running")["id"] == running["id"]
    stopped = user.post(f"/time-entries/{running['id']}/stop", expect=200)
    assert stopped["running"] is False and stopped["end_date"].endswith("Z")
    user.get("/time-entries/running", expect=204)


def test_second_running_entry_is_a_conflict(user: Client, setup: dict) -> None:
    user.post("/time-entries", entry(setup))
    assert "running" in user.post("/time-entries", entry(setup), expect=409)["message"]


def test_past_interval_answers_utc_milliseconds_and_joined_names(user: Client, setup: dict) -> None:
    created = user.post("/time-entries", entry(setup, "2024-05-01T09:00:00-05:00", "2024-05-01T10:30:00.5-05:00"))
    assert created["start_date"] == "2024-05-01T14:00:00.000Z" and created["end_date"] == "2024-05-01T15:30:00.500Z"
    assert created["customer_id"] == setup["customer"]["id"] and created["deleted"] is None
    assert user.last.headers["ETag"]


def test_overlap_is_422_and_touching_is_allowed(user: Client, setup: dict) -> None:
    user.post("/time-entries", entry(setup, "2024-05-01T09:00:00Z", "2024-05-01T10:00:00Z"))
    message = user.post("/time-entries", entry(setup, "2024-05-01T09:59:00Z", "2024-05-01T11:00:00Z"), expect=422)[
        "message"
    ]
    assert message == "There is another time entry in that date range"
    user.post("/time-entries", entry(setup, "2024-05-01T10:00:00+00:00", "2024-05-01T11:00:00Z"))
    user.post("/time-entries", entry(setup, "2024-05-01T08:00:00Z", "2024-05-01T09:00:00.000Z"))


def test_mixed_offsets_are_compared_as_instants(user: Client, setup: dict) -> None:
    user.post("/time-entries", entry(setup, "2024-05-01T09:00:00Z", "2024-05-01T10:00:00Z"))
    # 05:30-05:00 is 10:30Z: after the first entry although the string sorts before it.
    user.post("/time-entries", entry(setup, "2024-05-01T05:30:00-05:00", "2024-05-01T06:00:00-05:00"))
    user.post("/time-entries", entry(setup, "2024-05-01T04:30:00-05:00", "2024-05-01T04:45:00-05:00"), expect=422)


def test_entries_overlapping_the_running_one_are_rejected(app: Any, user: Client, setup: dict) -> None:
    set_now(app, "2024-05-03T00:00:00Z")
    user.post("/time-entries", entry(setup, "2024-05-01T09:00:00Z"))
    user.post("/time-entries", entry(setup, "2024-05-02T09:00:00Z", "2024-05-02T10:00:00Z"), expect=422)
    user.post("/time-entries", entry(setup, "2024-05-01T07:00:00Z", "2024-05-01T09:00:00Z"))


@pytest.mark.parametrize(
    "body, message",
    [
        ({"end_date": "2024-05-01T09:00:00Z", "start_date": "2024-05-01T10:00:00Z"}, "after it started"),
        ({"end_date": "2024-05-01T10:00:00Z", "start_date": "2024-05-01T10:00:00Z"}, "after it started"),
        ({"start_date": "2099-01-01T00:00:00Z"}, "start a time entry in the future"),
        ({"start_date": "2024-05-01T10:00:00Z", "end_date": "2099-01-01T00:00:00Z"}, "end a time entry in the future"),
        ({"start_date": "yesterday"}, "ISO 8601"),
        ({"start_date": "2024-01-01T00:00:00Z", "end_date": "2024-03-01T00:00:00Z"}, "999 hours"),
        ({"project_id": ""}, "Project id can not be empty"),
        ({"activity_id": None}, None),
        ({"project_id": str(uuid.uuid4())}, "Related project"),
        ({"activity_id": str(uuid.uuid4())}, "Related activity"),
        ({"technologies": [str(i) for i in range(11)]}, None),
        ({"timezone_offset": "300"}, None),
        ({"description": "x" * 1501}, None),
    ],
)
def test_invalid_entries_are_400_and_nothing_is_written(
    user: Client, setup: dict, body: dict, message: str | None
) -> None:
    response = user.post("/time-entries", {**entry(setup), **body}, expect=400)
    if message:
        assert message in response["message"]
    assert user.get("/time-entries?start_date=2000-01-01&end_date=2100-01-01") == []


def test_missing_required_ids_are_400(user: Client) -> None:
    user.post("/time-entries", {"description": "no ids"}, expect=400)


def test_inactive_project_cannot_be_clocked_into(admin: Client, user: Client, setup: dict) -> None:
    admin.delete(f"/projects/{setup['project']['id']}")
    assert "not active" in user.post("/time-entries", entry(setup), expect=400)["message"]


def test_stop_and_restart_rules(app: Any, user: Client, setup: dict) -> None:
    set_now(app, "2024-05-01T13:00:00Z")
    done = user.post("/time-entries", entry(setup, "2024-05-01T09:00:00Z", "2024-05-01T10:00:00Z"))
    assert (
        user.post(f"/time-entries/{done['id']}/stop", expect=422)["message"]
        == "The specified time entry is already stopped"
    )
    later = user.post("/time-entries", entry(setup, "2024-05-01T11:00:00Z", "2024-05-01T12:00:00Z"))
    # Restarting the first would overlap the later one.
    user.post(f"/time-entries/{done['id']}/restart", expect=422)
    restarted = user.post(f"/time-entries/{later['id']}/restart", expect=200)
    assert restarted["running"] is True and restarted["end_date"] is None
    assert (
        user.post(f"/time-entries/{later['id']}/restart", expect=422)["message"]
        == "The specified time entry is already running"
    )


def test_restart_while_another_runs_is_a_conflict(app: Any, user: Client, setup: dict) -> None:
    set_now(app, "2024-05-01T12:00:00Z")
    old = user.post("/time-entries", entry(setup, "2024-05-01T09:00:00Z", "2024-05-01T10:00:00Z"))
    user.post("/time-entries", entry(setup))
    user.post(f"/time-entries/{old['id']}/restart", expect=409)


def test_put_stop_stops_the_callers_running_entry(user: Client, setup: dict) -> None:
    user.put("/time-entries/stop", expect=404)
    running = user.post("/time-entries", entry(setup))
    stopped = user.put("/time-entries/stop/")
    assert stopped["id"] == running["id"] and stopped["end_date"] is not None


def test_owner_rules(admin: Client, user: Client, setup: dict) -> None:
    mine = user.post("/time-entries", entry(setup, "2024-05-01T09:00:00Z", "2024-05-01T10:00:00Z"))
    path = f"/time-entries/{mine['id']}"
    message = admin.get(path, expect=403)["message"]
    assert message == "The current user is not the owner of this time entry"
    admin.put(path, {"description": "mine now"}, expect=403)
    admin.delete(path, expect=403)
    admin.post(f"{path}/stop", expect=403)
    admin.post(f"{path}/restart", expect=403)
    assert user.get(path)["description"] is None


def test_other_tenant_gets_404_and_changes_nothing(app: Any, user: Client, setup: dict) -> None:
    mine = user.post("/time-entries", entry(setup, "2024-05-01T09:00:00Z", "2024-05-01T10:00:00Z"))
    stranger = Client(app.test_client(), token_for(str(uuid.uuid4()), admin=True))
    path = f"/time-entries/{mine['id']}"
    for method, suffix in (("GET", ""), ("PUT", ""), ("DELETE", ""), ("POST", "/stop"), ("POST", "/restart")):
        stranger.call(method, path + suffix, 404, json={} if method == "PUT" else None)
    assert stranger.get("/time-entries?user_id=*&start_date=2024-01-01&end_date=2024-12-31") == []
    assert user.get(path)["end_date"] == "2024-05-01T10:00:00.000Z"


def test_delete_hides_the_entry(user: Client, setup: dict) -> None:
    gone = user.post("/time-entries", entry(setup, "2024-05-01T09:00:00Z", "2024-05-01T10:00:00Z"))
    user.delete(f"/time-entries/{gone['id']}")
    user.get(f"/time-entries/{gone['id']}", expect=404)
    user.delete(f"/time-entries/{gone['id']}", expect=404)
    assert user.get("/time-entries?month=5&year=2024") == []
    user.post("/time-entries", entry(setup, "2024-05-01T09:00:00Z", "2024-05-01T10:00:00Z"))


def test_update_validates_the_merged_entry(user: Client, setup: dict) -> None:
    first = user.post("/time-entries", entry(setup, "2024-05-01T09:00:00Z", "2024-05-01T10:00:00Z"))
    second = user.post("/time-entries", entry(setup, "2024-05-01T11:00:00Z", "2024-05-01T12:00:00Z"))
    path = f"/time-entries/{second['id']}"
    user.put(path, {"start_date": "2024-05-01T09:30:00Z"}, expect=422)
    user.put(path, {"end_date": "2024-05-01T10:30:00Z"}, expect=400)
    changed = user.put(
        path, {"description": "review", "project_id": setup["other"]["id"], "id": "ignored", "start_hour": "11:00"}
    )
    assert changed["description"] == "review" and changed["project_name"] == "Mobile" and changed["id"] == second["id"]
    assert user.get(f"/time-entries/{first['id']}")["end_date"] == "2024-05-01T10:00:00.000Z"


def test_update_last_entry_if_overlap_shortens_the_previous_entry(app: Any, user: Client, setup: dict) -> None:
    set_now(app, "2024-05-01T12:00:00Z")
    previous = user.post("/time-entries", entry(setup, "2024-05-01T09:00:00Z", "2024-05-01T11:00:00Z"))
    current = user.post("/time-entries", entry(setup, "2024-05-01T11:00:00Z"))
    moved = user.put(
        f"/time-entries/{current['id']}",
        {"id": current["id"], "start_date": "2024-05-01T10:00:00.000Z", "update_last_entry_if_overlap": True},
    )
    assert moved["start_date"] == "2024-05-01T10:00:00.000Z" and moved["running"] is True
    assert user.get(f"/time-entries/{previous['id']}")["end_date"] == "2024-05-01T10:00:00.000Z"


def test_update_last_entry_if_overlap_never_swallows_a_whole_entry(user: Client, setup: dict) -> None:
    user.post("/time-entries", entry(setup, "2024-05-01T09:00:00Z", "2024-05-01T11:00:00Z"))
    current = user.post("/time-entries", entry(setup, "2024-05-01T11:00:00Z", "2024-05-01T12:00:00Z"))
    body = {"start_date": "2024-05-01T08:00:00Z", "update_last_entry_if_overlap": True}
    user.put(f"/time-entries/{current['id']}", body, expect=422)


def test_update_last_entry_if_overlap_without_another_entry_is_a_normal_update(user: Client, setup: dict) -> None:
    only = user.post("/time-entries", entry(setup, "2024-05-01T11:00:00Z", "2024-05-01T12:00:00Z"))
    moved = user.put(
        f"/time-entries/{only['id']}", {"start_date": "2024-05-01T10:00:00Z", "update_last_entry_if_overlap": True}
    )
    assert moved["start_date"] == "2024-05-01T10:00:00.000Z"


def test_if_match_on_entries(app: Any, user: Client, setup: dict) -> None:
    set_now(app, "2024-05-01T10:00:00Z")
    created = user.post("/time-entries", entry(setup, "2024-05-01T09:00:00Z"))
    etag = user.last.headers["ETag"]
    user.put(f"/time-entries/{created['id']}", {"description": "a"}, headers={"If-Match": etag})
    user.put(f"/time-entries/{created['id']}", {"description": "b"}, headers={"If-Match": etag}, expect=412)
    user.post(f"/time-entries/{created['id']}/stop", headers={"If-Match": etag}, expect=412)
    user.delete(f"/time-entries/{created['id']}", headers={"If-Match": etag}, expect=412)
    user.put("/time-entries/stop", headers={"If-Match": etag}, expect=412)  # the running one, by no id
    assert user.get(f"/time-entries/{created['id']}")["description"] == "a"
    fresh = user.last.headers["ETag"]
    stopped = user.put("/time-entries/stop", headers={"If-Match": fresh})
    assert stopped["id"] == created["id"] and stopped["end_date"] == "2024-05-01T10:00:00.000Z"


def test_month_list_uses_the_callers_offset(user: Client, setup: dict) -> None:
    # 2024-03-01T03:00Z is 29 February 22:00 in UTC-5.
    late = user.post("/time-entries", entry(setup, "2024-03-01T03:00:00Z", "2024-03-01T04:00:00Z"))
    assert [e["id"] for e in user.get("/time-entries?month=2&year=2024&timezone_offset=300")] == [late["id"]]
    assert user.get("/time-entries?month=3&year=2024&timezone_offset=300") == []
    assert [e["id"] for e in user.get("/time-entries?month=3&year=2024&timezone_offset=0")] == [late["id"]]


def test_month_list_in_an_iana_zone_across_dst(user: Client, setup: dict) -> None:
    first = user.post("/time-entries", entry(setup, "2024-03-01T05:30:00Z", "2024-03-01T06:00:00Z"))
    user.post("/time-entries", entry(setup, "2024-04-01T04:30:00Z", "2024-04-01T05:00:00Z"))  # 1 April, EDT
    march = user.get("/time-entries?month=3&year=2024&timezone=America/New_York")
    assert [e["id"] for e in march] == [first["id"]]


def test_lists_are_newest_first_and_empty_is_a_list(user: Client, setup: dict) -> None:
    assert user.get("/time-entries?month=1&year=2020") == []
    assert user.get(f"/time-entries?month=1&year=2020&project_id={setup['project']['id']}&uri=x") == []
    starts = ["2024-05-01T09:00:00Z", "2024-05-03T09:00:00Z", "2024-05-02T09:00:00Z"]
    for start in starts:
        user.post("/time-entries", entry(setup, start, start.replace("T09", "T10")))
    listed = user.get("/time-entries?month=5&year=2024")
    assert [e["start_date"][:10] for e in listed] == ["2024-05-03", "2024-05-02", "2024-05-01"]


def test_clock_in_lookup_of_the_front_end(user: Client, setup: dict) -> None:
    user.post("/time-entries", entry(setup, "2024-05-01T09:00:00Z", "2024-05-01T10:00:00Z", description="first"))
    user.post("/time-entries", entry(setup, "2024-05-02T09:00:00Z", "2024-05-02T10:00:00Z", description="second"))
    other = {**entry(setup, "2024-05-03T09:00:00Z", "2024-05-03T10:00:00Z"), "project_id": setup["other"]["id"]}
    user.post("/time-entries", other)
    # moment().format() with a "+" offset, concatenated into the URL without encoding.
    url = (
        f"/time-entries?limit=2&project_id={setup['project']['id']}"
        "&start_date=2024-04-15T10:20:30+01:00&end_date=2024-05-15T10:20:30+01:00"
    )
    found = user.get(url)
    assert [e["description"] for e in found] == ["second", "first"]


def test_date_range_filters_accept_either_bound(user: Client, setup: dict) -> None:
    user.post("/time-entries", entry(setup, "2024-05-01T09:00:00Z", "2024-05-01T10:00:00Z"))
    user.post("/time-entries", entry(setup, "2024-06-01T09:00:00Z", "2024-06-01T10:00:00Z"))
    assert len(user.get("/time-entries?start_date=2024-05-15")) == 1
    assert len(user.get("/time-entries?end_date=2024-05-15")) == 1
    assert len(user.get("/time-entries?start_date=2024-05-01&end_date=2024-05-01")) == 1
    user.get("/time-entries?start_date=2024-06-01&end_date=2024-05-01", expect=400)


@pytest.mark.parametrize(
    "query",
    [
        "month=13",
        "year=abc",
        "timezone_offset=x",
        "limit=0",
        "limit=abc",
        "timezone=Nowhere/Land",
        "start_date=garbage",
    ],
)
def test_malformed_filters_are_400(user: Client, query: str) -> None:
    user.get(f"/time-entries?{query}", expect=400)


def test_admins_list_anyone_with_user_id(app: Any, admin: Client, setup: dict, tenant: str) -> None:
    ids = [str(uuid.uuid4()) for _ in range(3)]
    for n, uid in enumerate(ids):
        person = Client(app.test_client(), token_for(tenant, uid))
        person.post("/time-entries", entry(setup, f"2024-05-0{n + 1}T09:00:00Z", f"2024-05-0{n + 1}T10:00:00Z"))
    base = "/time-entries?month=5&year=2024"
    assert len(admin.get(f"{base}&user_id=*")) == 3
    assert {e["owner_id"] for e in admin.get(f"{base}&user_id={ids[0]},{ids[1]}")} == set(ids[:2])
    assert {e["owner_id"] for e in admin.get(f"{base}&user_id={ids[0]}&user_id={ids[2]}")} == {ids[0], ids[2]}
    assert admin.get(base) == []


def test_non_admins_cannot_list_other_users(user: Client) -> None:
    assert user.get("/time-entries?user_id=*", expect=403)["message"] == "You don't have enough permissions."


def test_summary_counts_today_week_month_with_running_time(app: Any, user: Client, setup: dict) -> None:
    set_now(app, "2024-05-15T15:00:00Z")  # Wednesday
    user.post("/time-entries", entry(setup, "2024-05-13T09:00:00Z", "2024-05-13T10:00:00Z"))
    user.post("/time-entries", entry(setup, "2024-05-02T09:00:00Z", "2024-05-02T09:30:00Z"))
    user.post("/time-entries", entry(setup, "2024-05-15T13:00:00Z"))
    summary = user.get("/time-entries/summary?time_offset=0")
    assert summary["day"] == {"hours": 2.0, "minutes": 0.0, "seconds": 0.0}
    assert summary["week"]["hours"] == 3.0 and summary["month"] == {"hours": 3.0, "minutes": 30.0, "seconds": 0.0}
    set_now(app, "2024-05-15T15:30:00Z")
    assert user.get("/time-entries/summary/?time_offset=0")["day"]["minutes"] == 30.0


def test_summary_default_is_utc_and_offset_moves_the_day(app: Any, user: Client, setup: dict) -> None:
    set_now(app, "2024-05-15T03:00:00Z")
    user.post("/time-entries", entry(setup, "2024-05-14T20:00:00Z", "2024-05-14T21:00:00Z"))
    assert user.get("/time-entries/summary")["day"]["hours"] == 0.0
    assert user.get("/time-entries/summary?time_offset=300")["day"]["hours"] == 1.0
    user.get("/time-entries/summary?time_offset=abc", expect=400)


def test_latest_is_the_newest_entry_per_project_this_month(app: Any, user: Client, setup: dict) -> None:
    set_now(app, "2024-05-20T12:00:00Z")
    user.post("/time-entries", entry(setup, "2024-05-01T09:00:00Z", "2024-05-01T10:00:00Z", description="old"))
    user.post("/time-entries", entry(setup, "2024-05-10T09:00:00Z", "2024-05-10T10:00:00Z", description="new"))
    user.post(
        "/time-entries",
        entry(setup, "2024-05-05T09:00:00Z", "2024-05-05T10:00:00Z", description="mobile")
        | {"project_id": setup["other"]["id"]},
    )
    user.post("/time-entries", entry(setup, "2024-04-28T09:00:00Z", "2024-04-28T10:00:00Z", description="april"))
    latest = user.get("/time-entries/latest")
    assert [e["description"] for e in latest] == ["new", "mobile"]


def test_paginated_gives_a_page_and_the_total(user: Client, setup: dict) -> None:
    for day in range(1, 6):
        user.post("/time-entries", entry(setup, f"2024-05-0{day}T09:00:00Z", f"2024-05-0{day}T10:00:00Z"))
    page = user.get("/time-entries/paginated?start=2&length=2&start_date=2024-05-01&end_date=2024-05-31")
    assert page["records_total"] == 5 and [e["start_date"][:10] for e in page["data"]] == ["2024-05-03", "2024-05-02"]
    user.get("/time-entries/paginated?start=-1&length=2", expect=400)
    user.get("/time-entries/paginated?length=5000", expect=400)


def test_recent_projects_are_the_active_ones_used_last(admin: Client, user: Client, setup: dict) -> None:
    assert user.get("/projects/recent") == []
    user.post("/time-entries", entry(setup, "2024-05-01T09:00:00Z", "2024-05-01T10:00:00Z"))
    user.post(
        "/time-entries",
        {**entry(setup, "2024-05-02T09:00:00Z", "2024-05-02T10:00:00Z"), "project_id": setup["other"]["id"]},
    )
    recent = user.get("/projects/recent/")
    assert [p["name"] for p in recent] == ["Mobile", "Website"] and recent[0]["customer"]["name"] == "Acme"
    admin.delete(f"/projects/{setup['other']['id']}")
    assert [p["name"] for p in user.get("/projects/recent")] == ["Website"]


def test_report_totals_by_each_group_and_csv(app: Any, admin: Client, setup: dict, tenant: str) -> None:
    set_now(app, "2024-06-01T00:00:00Z")
    ana = Client(app.test_client(), token_for(tenant, email="ana@example.com"))
    bob = Client(app.test_client(), token_for(tenant, email="bob@example.com"))
    ana.post("/time-entries", entry(setup, "2024-05-01T09:00:00Z", "2024-05-01T11:00:00Z"))
    ana.post(
        "/time-entries",
        {**entry(setup, "2024-05-02T09:00:00Z", "2024-05-02T10:00:00Z"), "project_id": setup["other"]["id"]},
    )
    bob.post("/time-entries", entry(setup, "2024-05-01T23:00:00Z", "2024-05-02T01:00:00Z"))
    base = "/time-entries/report?start_date=2024-05-01&end_date=2024-05-31"
    by_project = admin.get(base)
    assert {g["name"]: g["hours"] for g in by_project["totals"]} == {"Website": 4.0, "Mobile": 1.0}
    total = by_project["total"]
    assert (total["seconds"], total["hours"], total["count"]) == (5 * 3600, 5.0, 3) and len(by_project["entries"]) == 3
    assert {g["name"]: g["hours"] for g in admin.get(base + "&group_by=owner")["totals"]} == {
        "ana@example.com": 3.0,
        "bob@example.com": 2.0,
    }
    assert {g["name"]: g["hours"] for g in admin.get(base + "&group_by=customer")["totals"]} == {"Acme": 5.0}
    assert {g["name"]: g["hours"] for g in admin.get(base + "&group_by=activity")["totals"]} == {"Development": 5.0}
    # An entry counts on the day it starts (rounding is per entry, so an entry is in one group).
    assert {g["key"]: g["hours"] for g in admin.get(base + "&group_by=day")["totals"]} == {
        "2024-05-01": 4.0,
        "2024-05-02": 1.0,
    }
    by_day_ny = admin.get(base + "&group_by=day&timezone=America/New_York")["totals"]
    assert {g["key"]: g["hours"] for g in by_day_ny} == {"2024-05-01": 4.0, "2024-05-02": 1.0}
    clipped = admin.get("/time-entries/report?start_date=2024-05-02&end_date=2024-05-02&group_by=owner")
    assert {g["name"]: g["hours"] for g in clipped["totals"]} == {"ana@example.com": 1.0, "bob@example.com": 1.0}
    only_mobile = admin.get(base + f"&project_id={setup['other']['id']}")
    assert [g["name"] for g in only_mobile["totals"]] == ["Mobile"]
    response = admin.http.get(base + "&format=csv", headers=admin.headers())
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows, totals = csv_sections(response.get_data(as_text=True))
    assert len(rows) == 3 and {r["owner_email"] for r in rows} == {"ana@example.com", "bob@example.com"}
    assert [(t["group_by"], t["name"], t["hours"]) for t in totals] == [
        ("project", "Website", "4.00"),
        ("project", "Mobile", "1.00"),
        ("total", "", "5.00"),
    ]
    by_owner = admin.http.get(base + "&format=csv&group_by=owner", headers=admin.headers()).get_data(as_text=True)
    assert {t["name"]: t["seconds"] for t in csv_sections(by_owner)[1]} == {
        "ana@example.com": "10800",
        "bob@example.com": "7200",
        "": "18000",
    }
    accept = admin.http.get(base, headers=admin.headers({"Accept": "text/csv"}))
    assert accept.mimetype == "text/csv" and accept.get_data(as_text=True).startswith("id,owner_email,date")


def test_report_is_admin_only_and_bounded(user: Client, admin: Client) -> None:
    user.get("/time-entries/report", expect=403)
    admin.get("/time-entries/report?group_by=year", expect=400)
    admin.get("/time-entries/report?group_by=week&then_by=week", expect=400)
    admin.get("/time-entries/report?start_date=2020-01-01&end_date=2024-01-01", expect=400)


def test_front_end_manual_entry_with_extra_keys(app: Any, user: Client, setup: dict) -> None:
    set_now(app, "2022-04-11T16:00:00Z")
    body = {
        **entry(setup, "2022-04-11T14:05:00.000Z", "2022-04-11T15:05:00.000Z"),
        "technologies": [],
        "description": "ui",
        "uri": "TT-54",
        "timezone_offset": -60,
        "id": None,
        "start_hour": "09:05",
        "tenant_id": "4225ab1e-1033-4a5f-8650-0dd4950f38c8",
        "update_last_entry_if_overlap": False,
    }
    created = user.post("/time-entries/", body)
    assert created["timezone_offset"] == -60 and created["uri"] == "TT-54" and created["tenant_id"] != body["tenant_id"]
    # The UI sends back the server's own string unchanged.
    again = user.put(
        f"/time-entries/{created['id']}/", {"id": created["id"], "start_date": created["start_date"], "end_date": None}
    )
    assert again["running"] is True


def test_dates_round_trip_in_the_answer_format(user: Client, setup: dict) -> None:
    created = user.post("/time-entries", entry(setup, "2024-05-01T09:00:00.123456Z", "2024-05-01T10:00:00Z"))
    assert created["start_date"] == format_instant(parse_instant("2024-05-01T09:00:00.123Z"))


def test_paginated_follows_continuation_tokens(user: Client, setup: dict) -> None:
    for day in range(1, 6):
        user.post("/time-entries", entry(setup, f"2024-05-0{day}T09:00:00Z", f"2024-05-0{day}T10:00:00Z"))
    base = "/time-entries/paginated?length=2&start_date=2024-05-01&end_date=2024-05-31"
    seen, token, pages = [], None, 0
    for _ in range(10):  # bounded: a token that never ends is a failure, not a hang
        page = user.get(base + (f"&continuation={token}" if token else ""))
        assert page["records_total"] == 5
        seen += [e["start_date"][:10] for e in page["data"]]
        token, pages = page["continuation"], pages + 1
        if token is None:
            break
    assert token is None and seen == [f"2024-05-0{d}" for d in range(5, 0, -1)] and pages == 3
    user.get(base + "&continuation=not-a-token", expect=400)


def test_update_last_entry_if_overlap_must_be_a_boolean_and_never_cuts_uncovered_time(
    user: Client, setup: dict
) -> None:
    previous = user.post("/time-entries", entry(setup, "2024-05-01T08:00:00Z", "2024-05-01T11:00:00Z"))
    current = user.post("/time-entries", entry(setup, "2024-05-01T12:00:00Z", "2024-05-01T12:30:00Z"))
    path = f"/time-entries/{current['id']}"
    body = {"start_date": "2024-05-01T10:00:00Z", "end_date": "2024-05-01T10:30:00Z"}
    user.put(path, {**body, "update_last_entry_if_overlap": "false"}, expect=400)
    user.put(path, {**body, "update_last_entry_if_overlap": True}, expect=422)
    assert user.get(f"/time-entries/{previous['id']}")["end_date"] == "2024-05-01T11:00:00.000Z"


def test_running_entries_can_not_start_or_restart_beyond_999_hours(user: Client, setup: dict) -> None:
    assert "999 hours" in user.post("/time-entries", entry(setup, "2024-01-01T09:00:00Z"), expect=400)["message"]
    old = user.post("/time-entries", entry(setup, "2024-01-01T09:00:00Z", "2024-01-01T10:00:00Z"))
    user.post(f"/time-entries/{old['id']}/restart", expect=422)
    user.put(f"/time-entries/{old['id']}", {"end_date": None}, expect=400)


def test_huge_offsets_and_odd_zones_are_400_not_500(user: Client) -> None:
    user.get("/time-entries/paginated?start=9223372036854775808", expect=400)
    user.get("/time-entries?timezone=US", expect=400)
    user.get("/time-entries?end_date=9999-12-31", expect=400)
    user.get("/time-entries/summary?timezone=Etc", expect=400)


def test_non_admins_may_name_themselves_twice(user: Client) -> None:
    me = user.get("/time-entries/running", expect=204)
    assert me is None
    import jwt as _jwt

    own = _jwt.decode(user.token, options={"verify_signature": False})["oid"]
    user.get(f"/time-entries?user_id={own},{own}")


def test_report_csv_cells_that_start_like_formulas_are_quoted(admin: Client, setup: dict) -> None:
    hostile = ['=HYPERLINK("http://evil","x")', "+1", "-2", "@SUM(A1)"]
    for day, text in enumerate(hostile, start=1):
        admin.post(
            "/time-entries",
            entry(setup, f"2024-05-{day:02d}T09:00:00Z", f"2024-05-{day:02d}T10:00:00Z", description=text, uri=text),
        )
    response = admin.http.get(
        "/time-entries/report?start_date=2024-05-01&end_date=2024-05-31&format=csv", headers=admin.headers()
    )
    rows = csv_sections(response.get_data(as_text=True))[0]
    assert sorted(r["description"] for r in rows) == sorted("'" + text for text in hostile)
    assert all(r["uri"].startswith("'") for r in rows)
    assert all(not r["duration_hours"].startswith("'") for r in rows)
    assert [csv_cell(v) for v in ("\tx", "\rx", "a=b", None, 1.5)] == ["'\tx", "'\rx", "a=b", "", "1.5"]


def test_entries_on_a_project_of_an_inactive_customer_are_refused(admin: Client, user: Client, setup: dict) -> None:
    user.post("/time-entries", entry(setup, "2024-05-01T09:00:00Z", "2024-05-01T10:00:00Z"))
    admin.delete(f"/customers/{setup['customer']['id']}")
    user.post("/time-entries", entry(setup, "2024-05-02T09:00:00Z", "2024-05-02T10:00:00Z"), expect=400)
    admin.post("/projects", {"name": "New", "customer_id": setup["customer"]["id"]}, expect=400)
    admin.put(f"/projects/{setup['other']['id']}", {"customer_id": setup["customer"]["id"]}, expect=400)


def test_if_match_uses_the_strong_comparison_over_a_list(user: Client, setup: dict) -> None:
    created = user.post("/time-entries", entry(setup, "2024-05-01T09:00:00Z", "2024-05-01T10:00:00Z"))
    path = f"/time-entries/{created['id']}"
    etag = user.last.headers["ETag"]
    user.put(path, {"description": "weak"}, headers={"If-Match": f"W/{etag}"}, expect=412)
    user.put(path, {"description": "listed"}, headers={"If-Match": f'"other", {etag}'})
    etag = user.last.headers["ETag"]
    user.put(path, {"description": "any"}, headers={"If-Match": "*"})
    user.put(path, {"description": "stale list"}, headers={"If-Match": f'"other", {etag}'}, expect=412)
    etag = user.last.headers["ETag"] if user.last.status_code == 200 else user.get(path) and user.last.headers["ETag"]
    user.delete(path, headers={"If-Match": f"W/{etag}"}, expect=412)
    user.delete(path, headers={"If-Match": f'"x", {etag}, "y"'})


def test_catalogue_if_match_lists_and_weak_tags(admin: Client) -> None:
    created = admin.post("/customers", {"name": "C"})
    path = f"/customers/{created['id']}"
    etag = admin.last.headers["ETag"]
    admin.put(path, {"description": "weak"}, headers={"If-Match": f"W/{etag}"}, expect=412)
    admin.put(path, {"description": "listed"}, headers={"If-Match": f'"a", {etag}'})
    admin.delete(path, headers={"If-Match": f'"a", {etag}'}, expect=412)
    admin.delete(path, headers={"If-Match": f'"a", {admin.get(path) and admin.last.headers["ETag"]}'})


def test_a_bad_query_parameter_is_named_without_its_help_text(user: Client) -> None:
    answer = user.get("/time-entries?month=13", expect=400)
    assert answer["message"].startswith("Invalid query parameter month: ")
    assert "default: current" not in answer["message"]
    assert list(answer["errors"]) == ["month"] and "1 - 12" in answer["errors"]["month"]


def test_missing_project_id_has_the_errors_object_of_every_validation_error(user: Client) -> None:
    answer = user.post("/time-entries", {"activity_id": str(uuid.uuid4())}, expect=400)
    assert answer["errors"] == {"project_id": "project_id is a required property"}


def test_clock_in_answers_with_the_location_of_the_new_entry(user: Client, setup: dict) -> None:
    created = user.post("/time-entries", {"project_id": setup["project"]["id"], "activity_id": setup["activity"]["id"]})
    assert user.last.headers["Location"] == f"/time-entries/{created['id']}"


def test_no_time_is_recorded_on_projects_of_an_inactive_customer(
    app: Any, admin: Client, user: Client, setup: dict
) -> None:
    set_now(app, "2024-05-01T13:00:00Z")
    done = user.post("/time-entries", entry(setup, "2024-05-01T09:00:00Z", "2024-05-01T10:00:00Z"))
    admin.delete(f"/customers/{setup['customer']['id']}")
    refused = "The project's customer is not active"
    assert user.post("/time-entries", entry(setup), expect=400)["message"] == refused
    assert user.post(f"/time-entries/{done['id']}/restart", expect=400)["message"] == refused
    other = admin.post("/projects", {"name": "Elsewhere", "customer_id": admin.post("/customers", {"name": "B"})["id"]})
    moved = user.post("/time-entries", {**entry(setup), "project_id": other["id"]})
    assert (
        user.put(f"/time-entries/{moved['id']}", {"project_id": setup["project"]["id"]}, expect=400)["message"]
        == refused
    )
    # Its projects are still listed, with the customer's status, and its entries still readable.
    listed = {p["id"]: p for p in user.get("/projects")}
    assert listed[setup["project"]["id"]]["customer"]["status"] == "inactive"
    assert setup["project"]["id"] not in [p["id"] for p in user.get("/projects/recent")]
    admin.put(f"/customers/{setup['customer']['id']}", {"status": "active"})
    user.post(f"/time-entries/{moved['id']}/stop", expect=200)
    assert user.post(f"/time-entries/{done['id']}/restart", expect=422)["message"]


def test_every_listed_entry_is_the_entry_its_own_get_answers(admin: Client, user: Client, setup: dict) -> None:
    """The lists are made in the stores' records (`entries_json`); each item must still be exactly
    the entry `GET /time-entries/{id}` answers (made by `entry_json`), whatever its values."""
    now = int(time.time() * 1000)
    day = now - now % H - 4 * H  # whole hours, all in the past whatever the time of day
    shapes = [
        {"description": 'Ünïcode ✓ "quoted"', "technologies": ["python", "sql"], "billable": False},
        {"uri": "https://example.com/issue/1", "timezone_offset": -300},
        {"description": None, "technologies": []},
    ]
    made = []
    for i, shape in enumerate(shapes):
        start, end = format_instant(day + i * H), format_instant(day + i * H + H // 2)
        made.append(user.post("/time-entries", entry(setup, start, end, **shape)))
    gone = admin.post("/projects", {"name": "Gone soon", "customer_id": setup["customer"]["id"]})
    past = entry(setup, format_instant(day - H), format_instant(day - H // 2), project_id=gone["id"])
    made.append(user.post("/time-entries", past))
    admin.delete(f"/projects/{gone['id']}")
    made.append(user.post("/time-entries", entry(setup)))  # running
    single = {e["id"]: user.get(f"/time-entries/{e['id']}") for e in made}
    window = f"start_date={format_instant(day - 2 * H)}&end_date={format_instant(now + H)}"
    listed = user.get(f"/time-entries?{window}")
    page = user.get(f"/time-entries/paginated?{window}")
    latest = user.get("/time-entries/latest")
    assert sorted(e["id"] for e in listed) == sorted(single) == sorted(e["id"] for e in page["data"])
    assert latest
    for item in [*listed, *page["data"], *latest]:
        assert item == single[item["id"]]
    assert single[made[3]["id"]]["project_name"] == "Gone soon"
    assert single[made[2]["id"]]["technologies"] == [] and single[made[-1]["id"]]["running"] is True


def test_lists_are_made_in_the_stores_own_records(store: Any, user: Client, setup: dict) -> None:
    """The fast path is taken on every engine (a store giving other keys would silently fall
    back to copies), and listing again answers the same: the records given up were copies."""
    made = [user.post("/time-entries", entry(setup, "2024-05-01T09:00:00Z", "2024-05-01T10:00:00Z"))]
    made.append(user.post("/time-entries", entry(setup)))
    identity = Identity(user_id=made[0]["owner_id"], tenant_id=made[0]["tenant_id"])
    filters = queries.Filters(start_date="2024-01-01T00:00:00Z", end_date="2100-01-01T00:00:00Z")
    now = int(time.time() * 1000)
    records = queries.list_entries(store, identity, filters, UTC, now)
    answered = entries_json(records)
    assert [a is r for a, r in zip(answered, records, strict=True)] == [True, True]
    assert entries_json(queries.list_entries(store, identity, filters, UTC, now)) == answered
    assert [a["start_date"] for a in answered][1] == "2024-05-01T09:00:00.000Z"
    assert answered == [user.get(f"/time-entries/{e['id']}") for e in reversed(made)]
