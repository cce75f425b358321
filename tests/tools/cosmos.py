"""The npm Cosmos DB protocol server, through our launcher, for tests and benchmarks."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

from tests.tools.postgres import free_port

ROOT = Path(__file__).resolve().parents[2]
#: The emulator's well-known key (any base64 string works with the test server).
COSMOS_KEY = "C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw=="


def start_cosmos_server() -> tuple[subprocess.Popen[bytes], str]:
    """The npm Cosmos DB protocol server (through our launcher) on a free loopback port."""
    if not (ROOT / "node_modules" / "@vercel" / "cosmosdb-server").exists():
        raise RuntimeError("node_modules/@vercel/cosmosdb-server is missing (run `make install-test`)")
    node = shutil.which("node")
    if node is None:
        raise RuntimeError("node is not installed")
    port = free_port()
    proc = subprocess.Popen(
        [node, str(ROOT / "tests" / "tools" / "cosmos-server.js"), str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return proc, f"http://127.0.0.1:{port}"
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError("the Cosmos test server exited at start") from None
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("the Cosmos test server did not start")
