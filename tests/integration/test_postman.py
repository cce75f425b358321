"""The Postman collection runs: `cli.py gen_postman_collection` output, run by newman (npm,
pinned in package-lock.json) against a live server, passes every request's tests."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from werkzeug.serving import make_server

import migrations
from commons.data_access_layer.sql import SqlStore
from tests.conftest import ROOT, settings_for_tests, token_for, unavailable
from tests.integration.test_cli import run_cli
from time_tracker_api import create_app

NEWMAN = ROOT / "node_modules" / ".bin" / "newman"


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[str]:
    uri = f"sqlite:///{tmp_path}/postman.db"
    store = SqlStore(uri)
    migrations.migrate(store)
    # The webhook steps target a closed loopback port (pings fail fast and are logged).
    app = create_app(settings_for_tests(sql_database_uri=uri, webhook_allow_private_targets=True), store=store)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)
    store.dispose()


def newman(*args: str) -> subprocess.CompletedProcess[str]:
    if not NEWMAN.exists() or shutil.which("node") is None:
        unavailable("newman is not installed: run `npm ci` (it is in package.json)")
    return subprocess.run([str(NEWMAN), *args], capture_output=True, text=True, timeout=300, cwd=ROOT)


def test_every_request_of_the_generated_collection_passes_against_a_live_server(
    live_server: str, tmp_path: Path
) -> None:
    target = tmp_path / "collection.json"
    generated = run_cli("gen_postman_collection", "-f", str(target), cwd=tmp_path)
    assert generated.returncode == 0, generated.stderr
    spec = json.loads(run_cli("gen_swagger_json", cwd=tmp_path).stdout)
    operations = sum(1 for item in spec["paths"].values() for method in item if method != "parameters")
    token = token_for("postman-tenant", admin=True, email="postman@example.com")
    report = tmp_path / "newman.json"
    for attempt in ("first", "second"):  # a second run against the same data passes too
        result = newman(
            "run",
            str(target),
            "--env-var",
            f"baseUrl={live_server}",
            "--env-var",
            f"token={token}",
            "--env-var",
            "webhookUrl=https://127.0.0.1:9/hooks",
            "--reporters",
            "cli,json",
            "--reporter-json-export",
            str(report),
            "--color",
            "off",
        )
        assert result.returncode == 0, f"{attempt} run:\n{result.stdout[-6000:]}\n{result.stderr[-2000:]}"
        stats = json.loads(report.read_text())["run"]["stats"]
        assert stats["requests"] == {"total": operations, "pending": 0, "failed": 0}
        assert stats["assertions"]["failed"] == 0 and stats["assertions"]["total"] >= 2 * operations


def test_the_collection_has_variables_path_variables_bodies_and_tests(tmp_path: Path) -> None:
    target = tmp_path / "collection.json"
    assert run_cli("gen_postman_collection", "-f", str(target), "-b", "http://api:5000", cwd=tmp_path).returncode == 0
    collection = json.loads(target.read_text())
    variables = {v["key"]: v["value"] for v in collection["variable"]}
    assert variables["baseUrl"] == "http://api:5000" and "token" in variables
    requests = {item["request"]["method"] + " " + item["request"]["url"]["raw"]: item for item in collection["item"]}
    order = list(requests)
    assert order.index("POST {{baseUrl}}/customers") < order.index("POST {{baseUrl}}/projects")
    assert order.index("POST {{baseUrl}}/time-entries") < order.index("GET {{baseUrl}}/time-entries/:id")
    item = requests["GET {{baseUrl}}/time-entries/:id"]
    assert item["request"]["url"]["variable"] == [{"key": "id", "value": "{{time_entry_id}}"}]
    assert all(item["event"][0]["script"]["exec"] for item in collection["item"])
    clock_in = json.loads(requests["POST {{baseUrl}}/time-entries"]["request"]["body"]["raw"])
    assert clock_in["project_id"] == "{{project_id}}" and "end_date" not in clock_in
