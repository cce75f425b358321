"""`make soak`: mixed traffic from many simulated users against gunicorn for a set time, then a
reconciliation: every acknowledged write is in the store, every rule still holds (at most one
running entry per user, no overlaps), and no request failed.

Each simulated user acts on its own entries only (clock in/out, past entries, edits, deletes,
lists, summaries), so any 4xx other than the ones it provokes on purpose, and any 5xx, counts
as an error.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.run import SECRET, _gunicorn  # noqa: E402
from commons.domain.clock import format_instant, parse_instant  # noqa: E402
from tests.tools.postgres import free_port, start_postgres  # noqa: E402
from time_tracker_api.security import mint_token  # noqa: E402


class Api:
    """One keep-alive connection per simulated user."""

    def __init__(self, port: int, token: str, stats: dict[str, Any]) -> None:
        self.port, self.token, self.stats = port, token, stats
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def call(self, method: str, path: str, body: Any = None, expect: tuple[int, ...] = (200,)) -> Any:
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}
        began = time.perf_counter()
        try:
            self.conn.request(method, path, body=None if body is None else json.dumps(body), headers=headers)
            response = self.conn.getresponse()
            raw = response.read()
            status = response.status
        except (OSError, http.client.HTTPException) as error:
            self.conn.close()
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            status, raw = 0, str(error).encode()
        with self.stats["lock"]:
            self.stats["latencies"].append(time.perf_counter() - began)
            if status not in expect:
                self.stats["errors"].append(f"{method} {path} -> {status} {raw[:200]!r}")
        return json.loads(raw) if raw and status and raw[:1] in (b"{", b"[") else None


def simulate(api: Api, refs: dict[str, str], deadline: float, seed: int, log: dict[str, Any]) -> None:
    rng = random.Random(seed)
    running: str | None = None
    # Past entries walk forward from a day of their own, one hour apart.
    cursor = parse_instant("2021-01-04T08:00:00Z") + seed * 3_600_000 * 24 * 3
    mine: list[str] = []
    while time.monotonic() < deadline:
        action = rng.random()
        if action < 0.20:
            if running is None:
                created = api.call("POST", "/time-entries", refs, expect=(201,))
                if created:
                    running = created["id"]
                    log["created"].add(created["id"])
            else:
                stopped = api.call("POST", f"/time-entries/{running}/stop", expect=(200,))
                if stopped:
                    log["stopped"].add(running)
                running = None
        elif action < 0.40:
            body = {**refs, "start_date": format_instant(cursor), "end_date": format_instant(cursor + 1_800_000)}
            created = api.call("POST", "/time-entries", body, expect=(201,))
            cursor += 3_600_000
            if created:
                log["created"].add(created["id"])
                mine.append(created["id"])
        elif action < 0.50 and mine:
            entry = rng.choice(mine)
            api.call("PUT", f"/time-entries/{entry}", {"description": f"edited {rng.random():.6f}"}, expect=(200,))
        elif action < 0.55 and mine:
            entry = mine.pop(rng.randrange(len(mine)))
            api.call("DELETE", f"/time-entries/{entry}", expect=(204,))
            log["deleted"].add(entry)
        elif action < 0.80:
            api.call("GET", "/time-entries?timezone_offset=300", expect=(200,))
        elif action < 0.92:
            api.call("GET", "/time-entries/summary?time_offset=300", expect=(200,))
        else:
            api.call("GET", "/time-entries/running", expect=(200, 204))


def reconcile(api: Api, log: dict[str, Any], now: int) -> list[str]:
    problems = []
    listed = api.call("GET", "/time-entries?start_date=2020-01-01&end_date=2100-01-01&limit=10000") or []
    ids = {e["id"] for e in listed}
    for missing in (log["created"] - log["deleted"]) - ids:
        problems.append(f"acknowledged entry {missing} is missing")
    for ghost in log["deleted"] & ids:
        problems.append(f"deleted entry {ghost} is still listed")
    running = [e for e in listed if e["running"]]
    if len(running) > 1:
        problems.append(f"{len(running)} running entries")
    spans = sorted(
        (parse_instant(e["start_date"]), parse_instant(e["end_date"]) if e["end_date"] else now, e["id"])
        for e in listed
    )
    for (_s1, e1, a), (s2, _e2, b) in zip(spans, spans[1:], strict=False):
        if s2 < e1:
            problems.append(f"entries {a} and {b} overlap")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--engine", default="sqlite", choices=("sqlite", "postgresql"))
    parser.add_argument("--users", type=int, default=30, help="simulated users")
    parser.add_argument("--seconds", type=float, default=30.0, help="how long to drive traffic")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    pg = None
    if args.engine == "postgresql":
        pg = start_postgres(durable=True)
        url = pg.url
    else:
        url = f"sqlite:///{tempfile.mkdtemp(prefix='tt-soak-')}/soak.db"
    env = {"SQL_DATABASE_URI": url}
    import subprocess

    subprocess.run(
        [sys.executable, str(ROOT / "cli.py"), "migrate"],
        env={**os.environ, **env, "PYTHONPATH": str(ROOT)},
        check=True,
        capture_output=True,
    )
    port = free_port()
    server = _gunicorn(env, port, args.workers)
    stats: dict[str, Any] = {"lock": threading.Lock(), "latencies": [], "errors": []}
    try:
        tenant = str(uuid.uuid4())
        admin = Api(
            port, mint_token(SECRET, user_id=str(uuid.uuid4()), tenant_id=tenant, email="a@x.io", admin=True), stats
        )
        customer = admin.call("POST", "/customers", {"name": "Soak"}, expect=(201,))
        project = admin.call("POST", "/projects", {"name": "Soak", "customer_id": customer["id"]}, expect=(201,))
        activity = admin.call("POST", "/activities", {"name": "Soak"}, expect=(201,))
        refs = {"project_id": project["id"], "activity_id": activity["id"]}
        users = []
        for n in range(args.users):
            token = mint_token(
                SECRET, user_id=str(uuid.uuid4()), tenant_id=tenant, email=f"u{n}@x.io", ttl_seconds=7200
            )
            users.append((Api(port, token, stats), {"created": set(), "stopped": set(), "deleted": set()}))
        deadline = time.monotonic() + args.seconds
        began = time.monotonic()
        threads = [
            threading.Thread(target=simulate, args=(api, refs, deadline, n, log)) for n, (api, log) in enumerate(users)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - began
        requests = len(stats["latencies"])
        now = int(time.time() * 1000)
        problems = [p for api, log in users for p in reconcile(api, log, now)]
        latencies = sorted(stats["latencies"])
        writes = sum(len(log["created"]) + len(log["stopped"]) + len(log["deleted"]) for _, log in users)
        print(f"engine {args.engine}: {args.users} users for {args.seconds:.0f} s")
        print(f"requests {requests} ({requests / elapsed:.0f}/s), acknowledged writes {writes}")
        p50, p99 = latencies[len(latencies) // 2], latencies[int(len(latencies) * 0.99)]
        print(f"p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms")
        print(f"errors {len(stats['errors'])}, reconciliation problems {len(problems)}")
        for line in (stats["errors"] + problems)[:20]:
            print("  " + line)
        return 1 if stats["errors"] or problems else 0
    finally:
        server.terminate()
        server.wait(timeout=30)
        if pg is not None:
            pg.remove()


if __name__ == "__main__":
    sys.exit(main())
