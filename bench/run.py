"""`make bench`: the API under gunicorn (production settings), seeded, loaded from a second process.

Per engine, each endpoint's CPU time per request, read from the gunicorn workers' own counters
(/proc), as a multiple of the floor's: a bare Flask JSON route (bench/floor.py) served by the
same gunicorn settings in the same run, measured just before it in every pass; beside it
req/s and p50/p99 latency, medians of several passes. Then 30 concurrent writers through the
API as a share of the same-shaped transaction run straight against the database (pgbench;
Python sqlite3 threads), and the month list and summary latency as the tenant grows. The
targets of contract section 7 are printed beside the figures.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
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

import migrations
from bench import figures
from bench.reference import run_pgbench, run_sqlite_writers
from bench.seed import Tenant, seed_tenant, seed_tenant_through_store
from bench.webhooks import bench_webhooks, report_webhooks
from commons.data_access_layer.sql import SqlStore
from tests.tools.cosmos import COSMOS_KEY, start_cosmos_server
from tests.tools.postgres import PostgresServer, free_port, start_postgres
from time_tracker_api.security import mint_token

SECRET = "bench-secret-" + "b" * 40
WRITERS = 30


#: The endpoints' short names (`--endpoints`).
_SHORT = {
    figures.RUNNING: "running",
    figures.MONTH: "month",
    figures.SUMMARY: "summary",
    figures.CREATE: "create",
    figures.CUSTOMER: "customer",
}


def log(message: str) -> None:
    print(f"[{datetime.now(UTC):%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def _gunicorn(
    store_env: dict[str, str], port: int, workers: int, app: str = "api:app", max_requests: int | None = None
) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SQL_", "COSMOS_", "DATABASE_"))}
    env.update(store_env, JWT_SECRET=SECRET, FLASK_DEBUG="false", PYTHONPATH=str(ROOT))
    # The production settings (gunicorn.conf.py), sized for the run, without the access log.
    env.update(WEB_CONCURRENCY=str(workers), GUNICORN_ACCESS_LOG="", GUNICORN_BIND=f"127.0.0.1:{port}")
    # Rate limits stay on (their cost is part of the measure) but high enough never to be met.
    env.update(
        RATELIMIT_PER_USER="10000000/minute",
        RATELIMIT_PER_TENANT="10000000/minute",
        RATELIMIT_REPORTS="10000000/minute",
    )
    cmd = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--log-level", "warning"]
    # gunicorn.conf.py replaces a worker every ~5,000 requests; each new worker imports the app
    # again, which would land inside a measuring window at an endpoint's expense. `make bench`
    # turns it off for both the floor and the API (--max-requests 5000 for the production value);
    # `make soak` keeps the production value (None).
    if max_requests is not None:
        cmd += ["--max-requests", str(max_requests)]
    cmd.append(app)
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env)
    probe = "/" if app.startswith("bench.floor") else "/health/live"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}{probe}", timeout=1).read()
            return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"gunicorn ({app}) did not start")


def _load(base: str, spec: dict[str, Any]) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "bench.load", base, json.dumps(spec)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def _sequential_p50(base: str, path: str, token: str, count: int = 60) -> float:
    """p50 of one client on one keep-alive connection (after a few warm-up requests)."""
    port = int(base.rsplit(":", 1)[1])
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    samples = []
    try:
        for n in range(count + 5):
            began = time.perf_counter()
            conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
            response = conn.getresponse()
            response.read()
            if response.status >= 400:
                raise RuntimeError(f"{path}: {response.status}")
            if n >= 5:
                samples.append((time.perf_counter() - began) * 1000)
    finally:
        conn.close()
    return round(figures.median(samples), 2)


def _priced(base: str, admin_token: str) -> None:
    """A rounding rule, a tenant rate and a cost rate (TT-16), so that the report prices."""
    port = int(base.rsplit(":", 1)[1])
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Authorization": f"Bearer {admin_token}", "Content-Type": "application/json"}
    try:
        for method, path, body in (
            ("PUT", "/money/settings", {"currency": "EUR", "rounding": {"mode": "up", "minutes": 6}}),
            ("POST", "/money/rates", {"amount": 9000}),
            ("POST", "/money/rates", {"kind": "cost", "amount": 4000}),
        ):
            conn.request(method, path, body=json.dumps(body), headers=headers)
            conn.getresponse().read()
    finally:
        conn.close()


def _tokens(tenant: Tenant) -> tuple[str, str, list[str]]:
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
        for i in range(WRITERS)
    ]
    return user, admin, writers


def bench_engine(
    engine: str, store_env: dict[str, str], args: argparse.Namespace, pg: PostgresServer | None = None
) -> dict[str, Any]:
    from commons.config import Settings
    from commons.wiring import build_store

    store: Any = build_store(Settings.from_env(store_env))
    migrations.migrate(store)
    bulk = isinstance(store, SqlStore)
    seed = seed_tenant if bulk else seed_tenant_through_store
    log(f"{engine}: seeding the throughput tenant")
    tenant = seed(store, args.throughput_tenant if bulk else min(args.throughput_tenant, 1000))
    now = datetime.now(UTC)
    month_path = f"/time-entries?month={now.month}&year={now.year}&timezone_offset=0"
    user, admin, writers = _tokens(tenant)
    refs = {"project_id": tenant.project_ids[0], "activity_id": tenant.activity_ids[0]}
    floor_port, api_port = free_port(), free_port()
    floor_server = _gunicorn(store_env, floor_port, args.workers, "bench.floor:app", args.max_requests)
    server = _gunicorn(store_env, api_port, args.workers, "api:app", args.max_requests)
    floor_base, base = f"http://127.0.0.1:{floor_port}", f"http://127.0.0.1:{api_port}"
    db_pid = pg.pids()[0] if pg else None
    common = {"duration": args.duration, "concurrency": args.concurrency}
    specs: dict[str, dict[str, Any]] = {
        figures.RUNNING: {"path": "/time-entries/running", "token": user},
        figures.MONTH: {"path": month_path, "token": user},
        figures.SUMMARY: {"path": "/time-entries/summary?time_offset=0", "token": user},
        # 30 writers, each its own user (and so its own lock): the writers' share below.
        figures.CREATE: {
            "path": "/time-entries",
            "method": "POST",
            "tokens": writers,
            "body": "entry",
            "refs": refs,
            "concurrency": WRITERS,
        },
        figures.CUSTOMER: {"path": "/customers", "method": "POST", "token": admin, "body": "customer"},
    }
    specs = {name: spec for name, spec in specs.items() if _SHORT[name] in args.endpoints}
    results: dict[str, Any] = {"passes": {name: [] for name in [figures.FLOOR, *specs]}, "floors": {}}
    try:
        # Warm-up: every worker has served every endpoint (imports, caches, prepared statements).
        _load(floor_base, {**common, "path": "/", "duration": 1})
        for spec in specs.values():
            _load(base, {**common, **spec, "duration": 1, "offset": 0})
        for n in range(args.passes):
            log(f"{engine}: pass {n + 1}/{args.passes}")
            for name, spec in specs.items():
                # Each endpoint right after the floor: its ratio is taken against that neighbour.
                floor = _load(floor_base, {**common, "path": "/", "server_pid": floor_server.pid})
                results["passes"][figures.FLOOR].append(floor)
                results["floors"].setdefault(name, []).append(floor)
                # 100,000 two-minute slots (139 days) a pass: five passes stay within 2019-2020.
                measured = {**common, **spec, "server_pid": server.pid, "offset": (n + 1) * 100_000}
                if db_pid:
                    measured["db_pid"] = db_pid
                results["passes"][name].append(_load(base, measured))
        if bulk and figures.CREATE in specs:
            log(f"{engine}: the raw-database reference, {WRITERS} writers")
            results["reference"] = [_reference(engine, store, pg, tenant, args) for _ in range(args.passes)]
        # Every tenant seeded first, then the sizes measured in turn in every pass: a transient
        # (autovacuum after the writes above, a neighbour on a shared machine) hits all sizes alike.
        grown: dict[int, tuple[str, str]] = {}
        for size in args.sizes if bulk else args.cosmos_sizes:
            log(f"{engine}: growth, seeding a tenant of {size:,} entries")
            grown[size] = _tokens(seed(store, size, seed=size))[:2]
        # TT-16: the admin's month report, with rates at every level and a rounding rule.
        report_path = f"/time-entries/report?month={now.month}&year={now.year}&timezone_offset=0&group_by=customer"
        samples: dict[int, dict[str, list[float]]] = {size: {"list": [], "summary": [], "report": []} for size in grown}
        for _user_token, admin_token in grown.values():
            _priced(base, admin_token)
        for _ in range(args.passes):
            for size, (token, admin_token) in grown.items():
                samples[size]["list"].append(_sequential_p50(base, month_path, token))
                samples[size]["summary"].append(_sequential_p50(base, "/time-entries/summary?time_offset=0", token))
                samples[size]["report"].append(_sequential_p50(base, report_path, admin_token))
        growth = {size: {key: figures.median(values) for key, values in got.items()} for size, got in samples.items()}
        results["growth"] = growth
        if args.webhook_events:
            log(f"{engine}: webhook deliveries, {args.webhook_events} events")
            results["webhooks"] = bench_webhooks(store, args.webhook_events)
    finally:
        for proc in (server, floor_server):
            proc.terminate()
            proc.wait(timeout=30)
        store.dispose()
    return results


def _reference(engine: str, store: SqlStore, pg: PostgresServer | None, tenant: Tenant, args: Any) -> float:
    project, activity = tenant.project_ids[0], tenant.activity_ids[0]
    if engine == "postgresql" and pg is not None:
        return run_pgbench(pg.port, tenant.tenant_id, project, activity, WRITERS, args.duration)
    path = store.engine.url.database
    assert path, "the SQLite reference needs a database file"
    return run_sqlite_writers(path, tenant.tenant_id, project, activity, WRITERS, args.duration)


def report(engine: str, results: dict[str, Any], args: argparse.Namespace) -> list[str]:
    passes, floors = results["passes"], results["floors"]
    floor_passes = passes[figures.FLOOR]
    rows = [figures.summarize(figures.FLOOR, floor_passes, floor_passes)]
    rows += [figures.summarize(name, passes[name], floors[name]) for name in passes if name != figures.FLOOR]
    reference = (
        "pgbench, same-shaped transaction" if engine == "postgresql" else "Python sqlite3 threads, same transaction"
    )
    lines = [f"### {engine}: CPU per request as a multiple of the floor's ({args.passes} passes, medians)", ""]
    lines += figures.throughput_table(engine, rows)
    failed = {name: figures.error_statuses(results["passes"][name]) for name in passes}
    for name, statuses in failed.items():
        if statuses:
            lines += ["", f"**{name} answered errors** (status: count) {statuses}: its figures are not a measure."]
    restarts = sum(r.restarts for r in rows)
    lines += [
        "",
        f"Busiest worker: its share of the workers' CPU in the least balanced pass (balanced: "
        f"{100 / args.workers:.0f}%; the connections are split evenly). Workers replaced while measuring: {restarts}.",
    ]
    if "reference" in results:
        api = [float(r["rps"]) for r in passes[figures.CREATE]]
        lines += ["", f"### {engine}: {WRITERS} concurrent writers", ""]
        lines += figures.writers_table(api, results["reference"], reference)
    if results["growth"]:
        lines += ["", f"### {engine}: latency as the tenant grows (p50 ms, one client, median of {args.passes})", ""]
        lines += figures.growth_table({int(k): v for k, v in results["growth"].items()})
    if results.get("webhooks"):
        lines += ["", f"### {engine}: webhook delivery throughput (one pass; receiver on loopback over HTTPS)", ""]
        lines += report_webhooks(results["webhooks"])
    return lines


def report_round_trips(store_env: dict[str, str]) -> list[str]:
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
    lines = ["", "### cosmos: round trips to the account per request (warm worker)", ""]
    lines += ["| endpoint | round trips |", "|---|---|"]
    lines += [f"| {name} | {count} |" for name, count in counts.items()]
    return lines


def machine() -> str:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores{f' of {model}' if model else ''}, Python {platform.python_version()}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--engines", default="sqlite", help="comma separated: sqlite,postgresql,cosmos")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per endpoint and pass")
    parser.add_argument("--passes", type=int, default=5, help="passes; medians are reported")
    parser.add_argument(
        "--concurrency", type=int, default=0, help="keep-alive connections (default: 16 per worker, 30 writers)"
    )
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--max-requests", type=int, default=0, help="gunicorn max_requests while measuring")
    parser.add_argument(
        "--endpoints",
        default=",".join(_SHORT.values()),
        help="comma separated, of " + ",".join(_SHORT.values()) + " (all by default; the floor is always measured)",
    )
    parser.add_argument(
        "--sizes", default="1000,10000,100000", help="tenant sizes for the growth table (SQL; empty: none)"
    )
    parser.add_argument(
        "--cosmos-sizes",
        default="200,1000,2000",
        help="tenant sizes on the Cosmos test server (its queries cost O(n^2) in the container size)",
    )
    parser.add_argument("--throughput-tenant", type=int, default=10_000, help="entries in the throughput tenant")
    parser.add_argument(
        "--webhook-events", type=int, default=500, help="events for the webhook delivery table (0: none)"
    )
    parser.add_argument("--markdown", action="store_true", help="print the README's Performance tables only")
    parser.add_argument("--json", help="also write the raw passes to this file")
    parser.add_argument("--from-json", help="print the tables of a run saved with --json (no measuring)")
    args = parser.parse_args()
    if args.from_json:
        return reprint(args)
    args.concurrency = args.concurrency or 16 * args.workers
    args.date = f"{datetime.now(UTC):%Y-%m-%d}"
    args.sizes = [int(s) for s in args.sizes.split(",") if s]
    args.cosmos_sizes = [int(s) for s in args.cosmos_sizes.split(",") if s]
    args.endpoints = sorted(set(args.endpoints.split(",")))
    if set(args.endpoints) - set(_SHORT.values()):
        raise SystemExit(f"unknown endpoints: {sorted(set(args.endpoints) - set(_SHORT.values()))}")
    lines: list[str] = []
    raw: dict[str, Any] = {}
    for engine in args.engines.split(","):
        if engine == "sqlite":
            folder = tempfile.mkdtemp(prefix="tt-bench-")
            raw[engine] = bench_engine(engine, {"SQL_DATABASE_URI": f"sqlite:///{folder}/bench.db"}, args)
            lines += ["", *report(engine, raw[engine], args)]
        elif engine == "postgresql":
            server = start_postgres()
            try:
                raw[engine] = bench_engine(engine, {"SQL_DATABASE_URI": server.url}, args, pg=server)
                lines += ["", *report(engine, raw[engine], args)]
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
                raw[engine] = bench_engine(engine, env, args)
                lines += ["", *report("cosmos (npm protocol server, in memory, one Node process)", raw[engine], args)]
                lines += report_round_trips(env)
            finally:
                proc.terminate()
        else:
            raise SystemExit(f"unknown engine {engine}")
    if args.json:
        saved = {"args": {k: v for k, v in vars(args).items() if k != "json"}, "machine": machine(), **raw}
        Path(args.json).write_text(json.dumps(saved, indent=1, default=str))
    print("\n".join([*_header(args, machine()), *lines]))
    return 0


def reprint(args: argparse.Namespace) -> int:
    saved = json.loads(Path(args.from_json).read_text())
    markdown = args.markdown
    vars(args).update(saved.pop("args"), markdown=markdown)
    where = saved.pop("machine")
    lines: list[str] = []
    for engine, raw in saved.items():
        lines += ["", *report(engine, raw, args)]
    print("\n".join([*_header(args, where), *lines]))
    return 0


def _header(args: argparse.Namespace, where: str) -> list[str]:
    header = [
        f"Measured {args.date} on {where}: gunicorn.conf.py with {args.workers} gevent "
        f"workers (max_requests {args.max_requests or 'off'}), {args.concurrency} keep-alive connections "
        f"({WRITERS} for the writers), {args.passes} passes of {args.duration:g} s per endpoint, each right "
        f"after the floor; a tenant of {args.throughput_tenant:,} entries.",
    ]
    if not args.markdown:
        header.insert(0, "# make bench")
    return header


if __name__ == "__main__":
    sys.exit(main())
