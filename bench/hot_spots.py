"""Where one endpoint's CPU goes: cProfile over N in-process requests (`make profile`).

The app is built as gunicorn builds it (`api:app` settings from the environment), the store
seeded as `make bench` seeds it, and the requests sent through Flask's test client, so the
figures are the API's own work without the server's; the floor's route is profiled the same
way for comparison. Prints the top functions by own time and by cumulative time.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import migrations
from bench.seed import seed_tenant
from commons.config import Settings
from commons.data_access_layer.sql import SqlStore
from time_tracker_api import create_app
from time_tracker_api.security import mint_token

SECRET = "bench-secret-" + "b" * 40


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("endpoint", choices=["running", "month", "summary", "create", "edit", "customer", "floor"])
    parser.add_argument("--url", default="", help="SQL_DATABASE_URI (default: a new SQLite file)")
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--top", type=int, default=30, help="0: time only, no profile")
    parser.add_argument("--dump", default="", help="also write the profile to this file (pstats)")
    args = parser.parse_args()
    url = args.url or f"sqlite:///{tempfile.mkdtemp()}/profile.db"
    store = SqlStore(url)
    migrations.migrate(store)
    tenant = seed_tenant(store, args.entries)
    env = {
        **{k: v for k, v in os.environ.items() if k.startswith(("SQL_", "DB_", "RATELIMIT_"))},
        "SQL_DATABASE_URI": url,
        "JWT_SECRET": SECRET,
        "RATELIMIT_PER_USER": "10000000/minute",
        "RATELIMIT_PER_TENANT": "10000000/minute",
    }
    if args.endpoint == "floor":
        from bench.floor import app
    else:
        app = create_app(Settings.from_env(env))
    client = app.test_client()
    user = mint_token(SECRET, user_id=tenant.user_id, tenant_id=tenant.tenant_id, email="u@example.com")
    admin = mint_token(SECRET, user_id=tenant.admin_id, tenant_id=tenant.tenant_id, email="a@example.com", admin=True)
    now = datetime.now(UTC)
    hour = 3_600_000
    counter = iter(range(10**9))
    edited = ""
    if args.endpoint == "edit":  # an entry of its own, edited in place (its times kept)
        body = {
            "project_id": tenant.project_ids[0],
            "activity_id": tenant.activity_ids[0],
            "start_date": "2017-01-01T09:00:00Z",
            "end_date": "2017-01-01T10:00:00Z",
        }
        made = client.post("/time-entries", json=body, headers={"Authorization": f"Bearer {user}"})
        assert made.status_code == 201, made.get_data(as_text=True)
        edited = made.get_json()["id"]

    def request() -> None:
        if args.endpoint == "floor":
            response = client.get("/")
        elif args.endpoint == "running":
            response = client.get("/time-entries/running", headers={"Authorization": f"Bearer {user}"})
        elif args.endpoint == "month":
            path = f"/time-entries?month={now.month}&year={now.year}&timezone_offset=0"
            response = client.get(path, headers={"Authorization": f"Bearer {user}"})
        elif args.endpoint == "summary":
            response = client.get("/time-entries/summary?time_offset=0", headers={"Authorization": f"Bearer {user}"})
        elif args.endpoint == "create":
            start = 1_500_000_000_000 + next(counter) * hour
            body = {
                "project_id": tenant.project_ids[0],
                "activity_id": tenant.activity_ids[0],
                "start_date": datetime.fromtimestamp(start / 1000, UTC).isoformat(),
                "end_date": datetime.fromtimestamp((start + hour // 2) / 1000, UTC).isoformat(),
            }
            response = client.post("/time-entries", json=body, headers={"Authorization": f"Bearer {user}"})
        elif args.endpoint == "edit":
            body = {"description": f"edit {next(counter)}", "start_date": "2017-01-01T09:00:00Z"}
            response = client.put(f"/time-entries/{edited}", json=body, headers={"Authorization": f"Bearer {user}"})
        else:
            body = {"name": f"Customer {uuid.uuid4().hex}"}
            response = client.post("/customers", json=body, headers={"Authorization": f"Bearer {admin}"})
        assert response.status_code < 400, (response.status_code, response.get_data(as_text=True)[:300])

    for _ in range(20):
        request()
    # The lowest of 5 rounds: other work on the machine only ever adds (cache misses, switches).
    rounds = []
    for _ in range(5):
        began = time.process_time()
        for _ in range(args.requests):
            request()
        rounds.append((time.process_time() - began) / args.requests * 1e6)
    print(
        f"{args.endpoint}: {min(rounds):,.0f} µs CPU per request through the test client "
        f"(lowest of 5 rounds of {args.requests}; highest {max(rounds):,.0f})"
    )
    if args.top == 0:
        return 0
    profile = cProfile.Profile()
    began = time.process_time()
    profile.enable()
    for _ in range(args.requests):
        request()
    profile.disable()
    spent = (time.process_time() - began) / args.requests * 1e6
    print(f"{args.endpoint}: {spent:,.0f} µs CPU per request under cProfile ({args.requests} requests)")
    if args.dump:
        profile.dump_stats(args.dump)
    stats = pstats.Stats(profile)
    # Unlike the CPU time, which this shared machine moves by a third from run to run, the
    # count of Python calls is the same every run: a steady measure of a change's Python work.
    calls = stats.total_calls / args.requests  # type: ignore[attr-defined]
    print(f"{args.endpoint}: {calls:,.0f} Python function calls per request (`floor`: the test client's and Flask's)")
    stats.sort_stats("tottime").print_stats(args.top)
    stats.sort_stats("cumulative").print_stats(args.top)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
