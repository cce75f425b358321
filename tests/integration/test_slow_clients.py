"""The API under gunicorn with the production settings (gunicorn.conf.py): slow clients cannot
starve it, and gunicorn's own refusals (414, 431) are JSON."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT, SECRET
from tests.tools.postgres import free_port

SLOW_CLIENTS = 50


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    database = Path(tmp_path_factory.mktemp("slow")) / "tt.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SQL_", "COSMOS_", "DATABASE_"))}
    env.update(
        JWT_SECRET=SECRET,
        SQL_DATABASE_URI=f"sqlite:///{database}",
        PYTHONPATH=str(ROOT),
        WEB_CONCURRENCY="1",
        GUNICORN_ACCESS_LOG="",
        GUNICORN_BIND=f"127.0.0.1:{port}",
    )
    command = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--log-level", "warning", "api:app"]
    proc = subprocess.Popen(command, cwd=ROOT, env=env)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"{base}/health/live", timeout=1).read()
            break
        except OSError:
            assert time.monotonic() < deadline and proc.poll() is None, "gunicorn did not start"
            time.sleep(0.2)
    yield base
    proc.terminate()
    proc.wait(timeout=30)


def slow_connections(base: str) -> list[socket.socket]:
    """Half send headers that never end, half a body that never comes."""
    host, port = base.removeprefix("http://").split(":")
    held = []
    for n in range(SLOW_CLIENTS):
        sock = socket.create_connection((host, int(port)), timeout=5)
        if n % 2:
            sock.sendall(b"GET /health/live HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        else:
            sock.sendall(
                b"POST /customers HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b'Content-Length: 100000\r\n\r\n{"name": '
            )
        held.append(sock)
    return held


def test_fifty_slow_clients_do_not_keep_health_live_from_answering_within_a_second(served: str) -> None:
    held = slow_connections(served)
    try:
        time.sleep(0.5)  # every slow request has reached the workers
        for _ in range(5):
            began = time.monotonic()
            with urllib.request.urlopen(f"{served}/health/live", timeout=5) as response:
                assert json.loads(response.read()) == {"status": "ok"}
            took = time.monotonic() - began
            assert took < 1.0, f"/health/live took {took:.2f}s with {SLOW_CLIENTS} slow clients"
            time.sleep(0.2)
    finally:
        for sock in held:
            sock.close()


def raw_answer(base: str, request: bytes) -> tuple[int, dict[str, str], bytes]:
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers, body


def test_gunicorn_refusals_414_and_431_are_json(served: str) -> None:
    status, headers, body = raw_answer(served, b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status == 414 and headers["Content-Type"] == "application/json" and json.loads(body)["message"]
    many = b"".join(b"X-H%d: v\r\n" % n for n in range(150))
    status, headers, body = raw_answer(served, b"GET /health/live HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n")
    assert status == 431 and headers["Content-Type"] == "application/json" and json.loads(body)["message"]
    big = b"X-Big: " + b"v" * 9000 + b"\r\n"
    status, headers, body = raw_answer(served, b"GET /health/live HTTP/1.1\r\nHost: x\r\n" + big + b"\r\n")
    assert status == 431 and json.loads(body)["message"]


def test_forwarded_headers_are_trusted_only_from_loopback_by_default() -> None:
    from commons.config import Settings

    assert Settings.from_env({}).forwarded_allow_ips == "127.0.0.1"
