"""The raw-database reference for writes: 30 concurrent writers running the same-shaped
transaction as POST /time-entries straight against the database, without Python in between
(pgbench) or with only the driver (Python sqlite3 threads; the module releases the GIL inside
SQLite).

The transaction, on the project's own tables, in the API's statements: take the writer's lock
(a per-owner advisory lock on PostgreSQL; BEGIN IMMEDIATE on SQLite) and, in the same
statement, read the tenant's settings, the project, its customer and the activity; insert the
entry unless one of the writer's entries overlaps it, and its outbox row (one statement on
PostgreSQL); commit.
"""

from __future__ import annotations

import glob
import json
import os
import re
import sqlite3
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path

_CTX = json.dumps(
    {
        "event_id": "0" * 32,
        "user_id": "ref",
        "tenant_id": "ref",
        "action": "create",
        "description": None,
        "container_id": "time_entry",
        "session_id": None,
        "date": "2026-01-01T00:00:00.000Z",
    }
)
_DOC = json.dumps({"project_id": "p", "activity_id": "a", "technologies": [], "_last_event_ctx": json.loads(_CTX)})

PGBENCH_SCRIPT = """\
\\set start 1546300800000 + random(0, 100000000) * 120000
\\set finish :start + 60000
BEGIN;
-- the key as the API's, time_entry:<tenant>:<owner> (chr(58): pgbench reads :name in literals too)
-- one row whatever exists (scalar subqueries, as the API's): the lock is always taken
SELECT pg_advisory_xact_lock(hashtextextended(
         concat_ws(chr(58), 'time_entry', CAST(:tenant AS text), CAST(:who AS text) || CAST(:client_id AS text)), 0)),
       (SELECT m.settings FROM money m WHERE m.tenant_id = :tenant AND m.id = 'settings'),
       (SELECT row(p.name, p.status, p.customer_id, p.billable, c.name, c.status, c.billable)
          FROM project p LEFT JOIN customer c ON c.tenant_id = p.tenant_id AND c.id = p.customer_id
         WHERE p.tenant_id = :tenant AND p.id = :project),
       (SELECT row(a.name, a.status) FROM activity a WHERE a.tenant_id = :tenant AND a.id = :activity);
WITH written AS (
  INSERT INTO time_entry (tenant_id, id, etag, last_event_ctx, created_at, updated_at, owner_id, project_id,
                          activity_id, technologies, start_at, end_at)
  SELECT CAST(:tenant AS varchar), gen_random_uuid()::text, md5(random()::text), CAST(:ctx AS json),
         CAST(:start AS bigint), CAST(:start AS bigint), CAST(:who AS text) || CAST(:client_id AS text),
         CAST(:project AS varchar), CAST(:activity AS varchar), CAST('[]' AS json), CAST(:start AS bigint),
         CAST(:finish AS bigint)
   WHERE NOT EXISTS (
     SELECT 1 FROM time_entry
      WHERE tenant_id = :tenant AND owner_id = CAST(:who AS text) || CAST(:client_id AS text) AND deleted IS NULL
        AND ((end_at > :start AND start_at < :finish) OR end_at IS NULL))
  RETURNING id)
INSERT INTO change_log (tenant_id, container_id, item_id, document, created_at, txid)
SELECT CAST(:tenant AS varchar), 'time_entry', id, CAST(:doc AS json), CAST(:start AS bigint),
       pg_current_xact_id()::text::bigint
  FROM written;
COMMIT;
"""


def pgbench_path() -> str:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pgbench"), key=lambda p: int(p.split("/")[-3]))
    if not found:
        raise RuntimeError("pgbench not found (Debian's postgresql package ships it)")
    return found[-1]


def parse_pgbench_tps(output: str) -> float:
    """`tps = 1234.5 (without initial connection time)` (PostgreSQL 14+) or the older
    `(excluding connections establishing)` line."""
    found = re.search(
        r"^tps = ([0-9.]+) \((without initial connection time|excluding connections establishing)\)", output, re.M
    )
    if not found:
        raise ValueError(f"no tps line in pgbench output: {output[-500:]}")
    return float(found.group(1))


def run_pgbench(port: int, tenant: str, project: str, activity: str, clients: int, seconds: float) -> float:
    """Transactions per second of `clients` pgbench clients (prepared statements, like psycopg
    after its first executions)."""
    run = uuid.uuid4().hex[:8]  # writers of their own each run: no entry of an earlier run overlaps
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as script:
        script.write(PGBENCH_SCRIPT)
    try:
        cmd = [
            pgbench_path(), "-n", "-M", "prepared", "-h", "127.0.0.1", "-p", str(port), "-U", "tt",
            "-c", str(clients), "-j", "2", "-T", str(max(1, round(seconds))), "-f", script.name,
            "-D", f"tenant={tenant}", "-D", f"project={project}", "-D", f"activity={activity}", "-D", f"who=ref-{run}-",
            "-D", f"ctx={_CTX}", "-D", f"doc={_DOC}", "postgres",
        ]  # fmt: skip
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60)
        if out.returncode != 0:
            raise RuntimeError(f"pgbench failed: {out.stderr[-2000:]}")
        return parse_pgbench_tps(out.stdout)
    finally:
        os.unlink(script.name)


_SQLITE_STEPS = (
    """SELECT (SELECT m.settings FROM money m WHERE m.tenant_id = :tenant AND m.id = 'settings'),
              p.name, p.status, p.customer_id, c.name, c.status, a.name, a.status
         FROM project p LEFT JOIN customer c ON c.tenant_id = p.tenant_id AND c.id = p.customer_id,
              activity a
        WHERE p.tenant_id = :tenant AND p.id = :project AND a.tenant_id = :tenant AND a.id = :activity""",
)
_SQLITE_INSERT = """INSERT INTO time_entry (tenant_id, id, etag, last_event_ctx, created_at, updated_at, owner_id,
        project_id, activity_id, technologies, start_at, end_at)
    SELECT :tenant, :id, :etag, :ctx, :start, :start, :owner, :project, :activity, '[]', :start, :finish
     WHERE NOT EXISTS (
       SELECT 1 FROM time_entry
        WHERE tenant_id = :tenant AND owner_id = :owner AND deleted IS NULL
          AND ((end_at > :start AND start_at < :finish) OR end_at IS NULL))"""
_SQLITE_OUTBOX = """INSERT INTO change_log (tenant_id, container_id, item_id, document, created_at, txid)
    VALUES (:tenant, 'time_entry', :id, :doc, :start, 0)"""


def run_sqlite_writers(
    path: str | Path, tenant: str, project: str, activity: str, clients: int, seconds: float
) -> float:
    """Transactions per second of `clients` threads, each with its own connection set up as
    the API's (WAL, synchronous=NORMAL, busy_timeout)."""
    done = [0] * clients
    run = uuid.uuid4().hex[:8]  # writers of their own each run: no entry of an earlier run overlaps
    failures: list[BaseException] = []
    deadline = time.monotonic() + seconds

    def writer(index: int) -> None:
        conn = sqlite3.connect(str(path), timeout=30, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA busy_timeout=30000")
        n = 0
        try:
            while time.monotonic() < deadline:
                start = 1_546_300_800_000 + (index * 10_000_000 + n) * 120_000
                params = {
                    "tenant": tenant,
                    "project": project,
                    "activity": activity,
                    "owner": f"ref-{run}-{index}",
                    "start": start,
                    "finish": start + 60_000,
                    "id": str(uuid.uuid4()),
                    "etag": uuid.uuid4().hex,
                    "ctx": _CTX,
                    "doc": _DOC,
                }
                conn.execute("BEGIN IMMEDIATE")
                for step in _SQLITE_STEPS:
                    conn.execute(step, params).fetchall()
                if conn.execute(_SQLITE_INSERT, params).rowcount != 1:
                    raise RuntimeError("the reference's entries overlapped")
                conn.execute(_SQLITE_OUTBOX, params)
                conn.execute("COMMIT")
                n += 1
            done[index] = n
        except BaseException as exc:  # reported by the caller
            failures.append(exc)
        finally:
            conn.close()

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(clients)]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise RuntimeError(f"sqlite reference failed: {failures[0]!r}")
    return sum(done) / (time.monotonic() - began)
