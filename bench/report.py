"""The month report with amounts (TT-16) in a tenant of 100,000 entries: p50 latency.

`python -m bench.report [--sizes 1000,100000] [--engine sqlite|postgresql]` seeds tenants of
those sizes (bench/seed.py: the admin's month report then holds the bench user's ~200 entries
of the current month), gives each rates at every level, a cost rate and a rounding rule, and
times `GET /time-entries/report` for the current month, in process (the Flask test client: the
API's own cost, no HTTP server), one request at a time: the CPU time of the process per request
(SQLite runs in it too; on a shared machine this moves far less than the latency) and the
latency, medians. Against an API without `/money` (the
code before TT-16) the rates are left out and the same report is timed, which is how the
"within 1.5x of today's report" figure in the README was measured: run this file from both
trees on the same machine, one after the other.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import UTC, datetime
from typing import Any

import migrations
from bench.seed import seed_tenant
from commons.config import Settings
from commons.data_access_layer.sql import SqlStore
from time_tracker_api import create_app
from time_tracker_api.security import mint_token

SECRET = "bench-report-secret-" + "x" * 32


def _client(app: Any, token: str) -> Any:
    client = app.test_client()

    def call(method: str, path: str, json: Any = None) -> Any:
        response = client.open(path, method=method, json=json, headers={"Authorization": f"Bearer {token}"})
        if response.status_code >= 400 and response.status_code != 404:
            raise RuntimeError(f"{method} {path}: {response.status_code} {response.get_data(as_text=True)[:200]}")
        return response

    return call


def _money(call: Any, tenant: Any) -> bool:
    """Rates at every level and a rounding rule; False when the API has no `/money`."""
    if call("PUT", "/money/settings", {"currency": "EUR", "rounding": {"mode": "up", "minutes": 6}}).status_code == 404:
        return False
    call("POST", "/money/rates", {"amount": 9000})
    call("POST", "/money/rates", {"kind": "cost", "amount": 4000})
    for n, project in enumerate(tenant.project_ids[:10]):
        call("POST", "/money/rates", {"amount": 10000 + n, "project_id": project, "valid_from": "2020-01-01"})
        call("POST", "/money/rates", {"amount": 12000 + n, "project_id": project, "user_id": tenant.user_id})
    for n, user in enumerate(tenant.users[:10]):
        call("POST", "/money/rates", {"amount": 8000 + n, "user_id": user})
    return True


def measure(url: str, size: int, count: int) -> tuple[float, bool]:
    store = SqlStore(url)
    migrations.migrate(store)
    tenant = seed_tenant(store, size, seed=size)
    settings = Settings(
        sql_database_uri=url,
        jwt_secret=SECRET,
        ratelimit_per_user="10000000/minute",
        ratelimit_per_tenant="10000000/minute",
        ratelimit_reports="10000000/minute",
    )
    app = create_app(settings, store=store)
    token = mint_token(SECRET, user_id=tenant.admin_id, tenant_id=tenant.tenant_id, email="a@example.com", admin=True)
    call = _client(app, token)
    priced = _money(call, tenant)
    now = datetime.now(UTC)
    path = f"/time-entries/report?month={now.month}&year={now.year}&timezone_offset=0&group_by=customer"
    samples, cpu = [], []
    for n in range(count + 5):
        began, began_cpu = time.perf_counter(), time.process_time()
        response = call("GET", path)
        assert response.status_code == 200
        if n >= 5:
            samples.append((time.perf_counter() - began) * 1000)
            cpu.append((time.process_time() - began_cpu) * 1000)
    entries = len(response.get_json()["entries"])
    store.dispose()
    print(
        f"{size:>7,} entries in tenant, {entries} in the month report: "
        f"CPU p50 {statistics.median(cpu):.2f} ms, latency p50 {statistics.median(samples):.2f} ms"
    )
    return statistics.median(cpu), priced


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,100000")
    parser.add_argument("--count", type=int, default=60, help="timed requests per size")
    parser.add_argument("--postgres-url", help="PostgreSQL instead of a temporary SQLite file")
    args = parser.parse_args()
    priced = False
    with tempfile.TemporaryDirectory() as folder:
        for size in (int(s) for s in args.sizes.split(",")):
            url = args.postgres_url or f"sqlite:///{folder}/report-{size}.db"
            _, priced = measure(url, size, args.count)
    print("with rates, cost rates and rounding" if priced else "without /money (the API before TT-16)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
