"""What the container files and the import graph promise a newcomer."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_the_api_imports_where_fcntl_does_not_exist() -> None:
    code = "import sys; sys.modules['fcntl'] = None; import commons.data_access_layer.sql, time_tracker_api, cli"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_compose_restarts_services_checks_the_events_runner_and_pins_postgres() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    for name in ("postgres", "api", "events"):
        assert services[name]["restart"] == "unless-stopped", name
    assert "healthcheck" in services["events"]
    assert re.fullmatch(r"postgres:\d+\.\d+(-\w+)?", services["postgres"]["image"])
    assert "create-token" in (ROOT / "docker-compose.yml").read_text()


def test_the_image_gives_the_app_user_its_instance_folder() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "chown app:app /app/instance" in dockerfile
    assert dockerfile.index("/app/instance") < dockerfile.index("USER app")


def test_a_worker_keeps_the_loaded_app_out_of_the_collectors_view() -> None:
    import gc

    from time_tracker_api.workers import GC_THRESHOLDS, settle_heap

    before = gc.get_threshold()
    try:
        settle_heap()
        assert gc.get_freeze_count() > 1000
        assert gc.get_threshold() == GC_THRESHOLDS
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
