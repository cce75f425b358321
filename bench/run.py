"""`make bench`: the API under gunicorn (production settings), seeded, loaded from a second process.

Prints, per engine, requests per second and p50/p99 latency of the main endpoints next to a
trivial JSON route served by the same server in the same run (the ratio is what holds from
machine to machine), then the list and summary latency as the tenant grows.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import migrations  # noqa: E402
from bench.seed import seed_tenant, seed_tenant_through_store  # noqa: E402
from commons.data_access_layer.sql import SqlStore  # noqa: E402
from tests.tools.cosmos import COSMOS_KEY, start_cosmos_server  # noqa: E402
from tests.tools.postgres import free_port, start_postgres  # noqa: E402
from time_tracker_api.security import mint_token  # noqa: E402

SECRET = "bench-secret-" + "b" * 40


def _gunicorn(store_env: dict[str, str], port: int, workers: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SQL_", "COSMOS_", "DATABASE_"))}
    env.update(store_env, JWT_SECRET=SECRET, FLASK_DEBUG="false", PYTHONPATH=str(ROOT))
    # The production settings (gunicorn.conf.py), sized for the run, without the access log.
    env.update(WEB_CONCURRENCY=str(workers), GUNICORN_ACCESS_LOG="", GUNICORN_BIND=f"127.0.0.1:{port}")
    # Rate limits stay on (their cost is part of the measure) but high enough never to be met.
    env.update(RATELIMIT_PER_USER="10000000/minute", RATELIMIT_PER_TENANT="10000000/minute")
    cmd = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--log-level", "warning", "api:app"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health/live", timeout=1).read()
            return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("gunicorn did not start")


def _load(base: str, spec: dict[str, Any]) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "bench.load", base, json.dumps(spec)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def _sequential_p50(base: str, path: str, token: str, count: int = 40) -> float:
    samples = []
    for _ in range(count):
        began = time.perf_counter()
        req = urllib.request.Request(base + path, headers={"Authorization": f"Bearer {token}"})
        urllib.request.urlopen(req, timeout=30).read()
        samples.append((time.perf_counter() - began) * 1000)
    samples.sort()
    return round(samples[len(samples) // 2], 2)


def bench_engine(engine: str, store_env: dict[str, str], args: argparse.Namespace) -> dict[str, Any]:
    from commons.config import Settings
    from commons.wiring import build_store

    store: Any = build_store(Settings.from_env(store_env))
    migrations.migrate(store)
    bulk = isinstance(store, SqlStore)
    seed = seed_tenant if bulk else seed_tenant_through_store
    tenant = seed(store, args.throughput_tenant if bulk else min(args.throughput_tenant, 1000))
    now = datetime.now(UTC)
    month_path = f"/time-entries?month={now.month}&year={now.year}&timezone_offset=0"
    user = mint_token(
        SECRET, user_id=tenant.user_id, tenant_id=tenant.tenant_id, email="user0@example.com", ttl_seconds=7200
    )
    admin = mint_token(
        SECRET,
        user_id=tenant.admin_id,
        tenant_id=tenant.tenant_id,
        email="admin@example.com",
        admin=True,
        ttl_seconds=7200,
    )
    writers = [
        mint_token(
            SECRET, user_id=str(uuid.uuid4()), tenant_id=tenant.tenant_id, email=f"w{i}@example.com", ttl_seconds=7200
        )
        for i in range(args.concurrency)
    ]
    refs = {"project_id": tenant.project_ids[0], "activity_id": tenant.activity_ids[0]}
    port = free_port()
    server = _gunicorn(store_env, port, args.workers)
    base = f"http://127.0.0.1:{port}"
    common = {"duration": args.duration, "concurrency": args.concurrency}
    results: dict[str, Any] = {}
    try:
        _load(base, {**common, "path": month_path, "token": user, "duration": 1})  # warm-up
        specs = {
            "trivial GET /health/live": {"path": "/health/live"},
            "GET /time-entries/running": {"path": "/time-entries/running", "token": user},
            "GET /time-entries (month, 200 entries)": {"path": month_path, "token": user},
            "GET /time-entries/summary": {"path": "/time-entries/summary?time_offset=0", "token": user},
            "POST /time-entries": {
                "path": "/time-entries",
                "method": "POST",
                "tokens": writers,
                "body": "entry",
                "refs": refs,
            },
            "POST /customers": {"path": "/customers", "method": "POST", "token": admin, "body": "customer"},
        }
        trivial = specs.pop("trivial GET /health/live")
        trivials = []
        for name, spec in specs.items():
            # Each endpoint is measured right after the trivial route, and its share is taken
            # against that neighbour: drift in the machine's speed cancels out.
            beside = _load(base, {**common, **trivial})
            trivials.append(beside)
            results[name] = {**_load(base, {**common, **spec}), "trivial_rps": beside["rps"]}
        best = max(trivials, key=lambda r: r["rps"])
        results = {"trivial GET /health/live": {**best, "trivial_rps": best["rps"]}, **results}
        growth = {}
        for size in args.sizes if bulk else args.cosmos_sizes:
            grown = seed(store, size, seed=size)
            token = mint_token(
                SECRET, user_id=grown.user_id, tenant_id=grown.tenant_id, email="user0@example.com", ttl_seconds=7200
            )
            growth[size] = {
                "list": _sequential_p50(base, month_path, token),
                "summary": _sequential_p50(base, "/time-entries/summary?time_offset=0", token),
            }
        results["growth"] = growth
    finally:
        server.terminate()
        server.wait(timeout=30)
        store.dispose()
    return results


def report(engine: str, results: dict[str, Any]) -> None:
    print(f"\n## {engine}: throughput ({datetime.now(UTC):%Y-%m-%d}, {os.cpu_count()} cores)")
    print("| endpoint | req/s | p50 ms | p99 ms | errors | share of the trivial route measured just before |")
    print("|---|---|---|---|---|---|")
    for name, r in results.items():
        if name == "growth":
            continue
        share = 100 * r["rps"] / (r["trivial_rps"] or 1)
        print(f"| {name} | {r['rps']} | {r['p50_ms']} | {r['p99_ms']} | {r['errors']} | {share:.1f}% |")
    print(f"\n## {engine}: latency as the tenant grows (p50 ms, one client)")
    print("| entries in tenant | month list | summary |")
    print("|---|---|---|")
    for size, r in results["growth"].items():
        print(f"| {size:,} | {r['list']} | {r['summary']} |")


def report_round_trips(store_env: dict[str, str]) -> None:
    """Exchanges with the account per request (they, not the stand-in's speed, are what
    carries over to a real account)."""
    from bench.round_trips import count_round_trips
    from commons.config import Settings
    from commons.wiring import build_store

    store: Any = build_store(Settings.from_env(store_env))
    try:
        counts = count_round_trips(store, SECRET)
    finally:
        store.dispose()
    print("\n## cosmos: round trips to the account per request (warm worker)")
    print("| endpoint | round trips |")
    print("|---|---|")
    for name, count in counts.items():
        print(f"| {name} | {count} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--engines", default="sqlite", help="comma separated: sqlite,postgresql")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per endpoint")
    parser.add_argument("--concurrency", type=int, default=8, help="client threads")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--sizes", default="1000,10000,100000", help="tenant sizes for the growth table (SQL)")
    parser.add_argument(
        "--cosmos-sizes",
        default="200,1000,2000",
        help="tenant sizes on the Cosmos test server (its queries cost O(n^2) in the container size)",
    )
    parser.add_argument("--throughput-tenant", type=int, default=10_000, help="entries in the throughput tenant")
    args = parser.parse_args()
    args.sizes = [int(s) for s in args.sizes.split(",")]
    args.cosmos_sizes = [int(s) for s in args.cosmos_sizes.split(",")]
    for engine in args.engines.split(","):
        if engine == "sqlite":
            folder = tempfile.mkdtemp(prefix="tt-bench-")
            report(engine, bench_engine(engine, {"SQL_DATABASE_URI": f"sqlite:///{folder}/bench.db"}, args))
        elif engine == "postgresql":
            server = start_postgres()
            try:
                report(engine, bench_engine(engine, {"SQL_DATABASE_URI": server.url}, args))
            finally:
                server.remove()
        elif engine == "cosmos":
            proc, url = start_cosmos_server()
            env = {
                "DATABASE_ACCOUNT_URI": url,
                "DATABASE_MASTER_KEY": COSMOS_KEY,
                "DATABASE_NAME": "bench",
                "COSMOS_ENDPOINT_DISCOVERY": "false",
            }
            try:
                report(engine + " (npm protocol server, in-memory, one Node process)", bench_engine(engine, env, args))
                report_round_trips(env)
            finally:
                proc.terminate()
        else:
            raise SystemExit(f"unknown engine {engine}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
