"""cli.py commands run as subprocesses, as a developer runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import jwt
import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("JWT_", "SQL_", "COSMOS_", "DATABASE_"))}
    full_env.update(env or {})
    full_env["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [sys.executable, str(ROOT / "cli.py"), *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd or ROOT,
        timeout=120,
    )


def test_migrate_creates_the_tables_and_is_safe_to_repeat(tmp_path: Path) -> None:
    env = {"SQL_DATABASE_URI": f"sqlite:///{tmp_path}/cli.db"}
    first = run_cli("migrate", env=env, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    second = run_cli("migrate", env=env, cwd=tmp_path)
    assert second.returncode == 0 and "Applying migration" not in second.stderr
    import sqlite3

    tables = {
        r[0] for r in sqlite3.connect(tmp_path / "cli.db").execute("select name from sqlite_master where type='table'")
    }
    assert {"customer", "project", "project_type", "activity", "technology", "migration"} <= tables


def test_migrate_against_postgres(postgres: Any, tmp_path: Path) -> None:
    if postgres is None:
        from tests.conftest import unavailable

        unavailable("PostgreSQL could not start")
    result = run_cli("migrate", env={"SQL_DATABASE_URI": postgres.url}, cwd=tmp_path)
    assert result.returncode == 0, result.stderr


def test_create_token_prints_a_verifiable_token(tmp_path: Path) -> None:
    result = run_cli(
        "create-token",
        "--admin",
        "--tenant",
        "t-1",
        "--user",
        "u-1",
        "--email",
        "e@x.io",
        env={"JWT_SECRET": "s" * 40},
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    claims = jwt.decode(result.stdout.strip(), "s" * 40, algorithms=["HS256"])
    assert (claims["oid"], claims["tid"], claims["emails"], claims["extension_role"]) == (
        "u-1",
        "t-1",
        ["e@x.io"],
        "time-tracker-admin",
    )


def test_create_token_without_a_secret_fails_clearly(tmp_path: Path) -> None:
    result = run_cli("create-token", cwd=tmp_path)
    assert result.returncode == 2 and "JWT_SECRET" in result.stderr


def test_gen_swagger_json_writes_the_spec(tmp_path: Path) -> None:
    target = tmp_path / "swagger.json"
    result = run_cli("gen_swagger_json", "-f", str(target), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    spec = json.loads(target.read_text())
    assert spec["swagger"] == "2.0" and "/customers" in spec["paths"]


def test_unknown_command_exits_non_zero(tmp_path: Path) -> None:
    assert run_cli("nope", cwd=tmp_path).returncode == 2


def test_grant_admin_makes_the_first_admin_of_a_tenant(tmp_path: Path) -> None:
    import uuid

    from commons.data_access_layer.events import Actor
    from commons.data_access_layer.sql import SqlStore

    env = {"SQL_DATABASE_URI": f"sqlite:///{tmp_path}/grant.db"}
    assert run_cli("migrate", env=env, cwd=tmp_path).returncode == 0
    user = str(uuid.uuid4())
    result = run_cli("grant-admin", user, "--tenant", "tenant-x", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["groups"] == ["time-tracker-admin"]
    store = SqlStore(env["SQL_DATABASE_URI"])
    with store.unit_of_work(Actor("reader", "tenant-x")) as uow:
        assert uow.users.get(user)["roles"] == ["time-tracker-admin"]
    revoked = run_cli("grant-admin", user, "--tenant", "tenant-x", "--revoke", env=env, cwd=tmp_path)
    assert json.loads(revoked.stdout)["roles"] == []


def test_seed_writes_a_realistic_tenant_with_a_progress_bar(tmp_path: Path) -> None:
    from commons.data_access_layer.events import Actor
    from commons.data_access_layer.repository import EntryQuery
    from commons.data_access_layer.sql import SqlStore

    env = {"SQL_DATABASE_URI": f"sqlite:///{tmp_path}/seed.db"}
    assert run_cli("migrate", env=env, cwd=tmp_path).returncode == 0
    result = run_cli("seed", "--entries", "120", "--users", "4", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "120/120 entries" in result.stderr and "[" in result.stderr
    [tenant] = json.loads(result.stdout)["tenants"]
    store = SqlStore(env["SQL_DATABASE_URI"])
    admin = tenant["admin"]["user_id"]
    with store.unit_of_work(Actor(admin, tenant["tenant_id"])) as uow:
        entries = uow.time_entries.list(EntryQuery())
        assert len(entries) == 120 and len(uow.projects.list()) == 12
        assert "time-tracker-admin" in uow.users.get(admin)["roles"]
        by_owner: dict[str, list] = {}
        for entry in entries:
            by_owner.setdefault(entry["owner_id"], []).append((entry["start_at"], entry["end_at"]))
        for spans in by_owner.values():  # seeded entries never overlap
            spans.sort()
            assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:], strict=False))


def test_an_unreachable_store_is_a_clear_error(tmp_path: Path) -> None:
    from tests.tools.postgres import free_port

    env = {"SQL_DATABASE_URI": f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/none"}
    result = run_cli("migrate", env=env, cwd=tmp_path)
    assert result.returncode == 2 and "unavailable" in result.stderr.lower()


def test_every_command_has_help(tmp_path: Path) -> None:
    for command in (
        ["run"],
        ["migrate"],
        ["create-token"],
        ["grant-admin"],
        ["gen_swagger_json"],
        ["gen_postman_collection"],
        ["seed"],
        ["events", "run"],
    ):
        result = run_cli(*command, "--help", cwd=tmp_path)
        assert result.returncode == 0 and "usage:" in result.stdout, command


def test_semantic_release_prints_the_next_version_without_a_token() -> None:
    import re
    import shutil

    tool = shutil.which("semantic-release", path=str(Path(sys.executable).parent))
    assert tool, "python-semantic-release is in requirements/time_tracker_api/dev.txt"
    env = {k: v for k, v in os.environ.items() if k not in ("GH_TOKEN", "GITHUB_TOKEN")}
    result = subprocess.run(
        [tool, "--noop", "version", "--print"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert re.fullmatch(r"\d+\.\d+\.\d+", result.stdout.strip().splitlines()[-1])


def test_create_token_refuses_hours_that_would_mint_an_expired_token(tmp_path: Path) -> None:
    for hours in ("-1", "0"):
        result = run_cli("create-token", "--hours", hours, env={"JWT_SECRET": "s" * 40}, cwd=tmp_path)
        assert result.returncode == 2 and "--hours must be at least 1" in result.stderr and result.stdout == ""


def test_seed_prints_admin_tokens_and_fills_the_development_tenant(tmp_path: Path) -> None:
    from cli import DEV_TENANT

    env = {"SQL_DATABASE_URI": f"sqlite:///{tmp_path}/seed.db", "JWT_SECRET": "s" * 40}
    assert run_cli("migrate", env=env, cwd=tmp_path).returncode == 0
    result = run_cli("seed", "--entries", "40", "--users", "2", "--tenants", "2", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    first, second = json.loads(result.stdout)["tenants"]
    assert first["tenant_id"] == DEV_TENANT and second["tenant_id"] != DEV_TENANT
    for tenant in (first, second):
        claims = jwt.decode(tenant["token"], "s" * 40, algorithms=["HS256"])
        assert (claims["tid"], claims["oid"]) == (tenant["tenant_id"], tenant["admin"]["user_id"])
    # The development admin (`create-token --admin`, the default tenant) sees the seeded data.
    from tests.conftest import settings_for_tests
    from time_tracker_api import create_app

    token = run_cli("create-token", "--admin", env=env, cwd=tmp_path).stdout.strip()
    app = create_app(settings_for_tests(sql_database_uri=env["SQL_DATABASE_URI"], jwt_secret="s" * 40))
    projects = app.test_client().get("/projects", headers={"Authorization": f"Bearer {token}"})
    assert projects.status_code == 200 and len(projects.get_json()) == 12


def test_run_serves_the_api_and_fills_the_audit_log_by_itself(tmp_path: Path) -> None:
    import signal
    import time
    import urllib.request

    from tests.tools.postgres import free_port
    from time_tracker_api.security import mint_token

    port, secret = free_port(), "s" * 40
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JWT_", "SQL_", "COSMOS_", "DATABASE_"))}
    env.update({"SQL_DATABASE_URI": f"sqlite:///{tmp_path}/run.db", "JWT_SECRET": secret, "PYTHONPATH": str(ROOT)})
    server = subprocess.Popen(
        [sys.executable, str(ROOT / "cli.py"), "run", "--port", str(port), "--poll", "0.2"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base, token = (
        f"http://127.0.0.1:{port}",
        mint_token(secret, user_id="u-1", tenant_id="t-1", email="a@x.io", admin=True),
    )

    def call(method: str, path: str, body: bytes | None = None) -> Any:
        request = urllib.request.Request(base + path, data=body, method=method)
        request.add_header("Authorization", f"Bearer {token}")
        request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.loads(response.read() or b"null")

    head: list[str] = []
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                call("GET", "/health/live")
                break
            except OSError:
                assert time.monotonic() < deadline and server.poll() is None, "the server did not start"
                time.sleep(0.2)
        created = call("POST", "/customers", json.dumps({"name": "Audited"}).encode())
        # The Swagger example of a time entry body works as it stands ("Try it out": 201).
        spec = call("GET", "/swagger.json")
        example = {k: v["example"] for k, v in spec["definitions"]["TimeEntryInput"]["properties"].items()}
        # What it printed up to the development token it offers.
        for line in server.stdout or []:
            head.append(line)
            if line.startswith("eyJ"):
                break
        printed = head[-1].strip()
        request = urllib.request.Request(base + "/time-entries", data=json.dumps(example).encode(), method="POST")
        request.add_header("Authorization", f"Bearer {printed}")
        request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 201
        deadline = time.monotonic() + 5
        while not [e for e in call("GET", "/events")["data"] if e.get("item_id") == created["id"]]:
            assert time.monotonic() < deadline, "no event within 5 s"
            time.sleep(0.2)
    finally:
        server.send_signal(signal.SIGINT)
        # Generous: the runner and the dispatcher get 5 s each to stop, and a loaded machine
        # (coverage, parallel workers) has been seen to need more than 20 s in all.
        output = server.communicate(timeout=60)[0]
    assert server.returncode == 0, output
    banner = "".join(head)
    assert "the events runner" in banner and "Ctrl-C stops both" in banner and "admin token" in banner


@pytest.mark.parametrize("stop", ["SIGINT", "SIGTERM"])
def test_run_stops_cleanly_on_ctrl_c_or_sigterm_even_when_started_with_sigint_ignored(
    tmp_path: Path, stop: str
) -> None:
    """A background job of a non-interactive shell (a CI runner, `cmd &`) starts with SIGINT
    ignored; `docker stop` sends SIGTERM. Either way the server must stop, at once."""
    import signal
    import time
    import urllib.request

    from tests.tools.postgres import free_port

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JWT_", "SQL_", "COSMOS_", "DATABASE_"))}
    env.update({"SQL_DATABASE_URI": f"sqlite:///{tmp_path}/run.db", "JWT_SECRET": "s" * 40, "PYTHONPATH": str(ROOT)})
    server = subprocess.Popen(
        [sys.executable, str(ROOT / "cli.py"), "run", "--port", str(port), "--no-demo"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/live", timeout=2):
                    break
            except OSError:
                assert time.monotonic() < deadline and server.poll() is None, "the server did not start"
                time.sleep(0.2)
        started = time.monotonic()
        server.send_signal(getattr(signal, stop))
        assert server.wait(timeout=20) == 0
        assert time.monotonic() - started < 12, "stopping waits at most for the runner and the dispatcher"
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
