"""The npm Cosmos DB protocol server, through our launcher, for tests and benchmarks."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

from tests.tools.postgres import free_port

ROOT = Path(__file__).resolve().parents[2]
#: The emulator's well-known key (any base64 string works with the test server).
COSMOS_KEY = "C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw=="


def start_cosmos_server(
    adverse: int | None = None,
    *,
    throttle_rate: float | None = None,
    transient_rate: float | None = None,
) -> tuple[subprocess.Popen[bytes], str]:
    """The npm Cosmos DB protocol server (through our launcher) on a free loopback port.

    `adverse` is a seed: with it the server shortens pages and throttles like the real service,
    the same way for the same seed (tests/tools/cosmos/adverse.js). Without it the environment
    decides (COSMOS_STAND_IN_SEED, so a whole suite can run adverse). `throttle_rate` (default
    0.04) is the share of document requests answered 429; `transient_rate` (default 0) the share
    of reads answered 408/503, which SDK 4.17 retries only with endpoint discovery on.
    """
    if not (ROOT / "node_modules" / "@vercel" / "cosmosdb-server").exists():
        raise RuntimeError("node_modules/@vercel/cosmosdb-server is missing (run `make install-test`)")
    node = shutil.which("node")
    if node is None:
        raise RuntimeError("node is not installed")
    port = free_port()
    proc = subprocess.Popen(
        [node, str(ROOT / "tests" / "tools" / "cosmos-server.js"), str(port)],
        cwd=ROOT,
        env=_stand_in_env(adverse, throttle_rate, transient_rate),
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


def _stand_in_env(adverse: int | None, throttle_rate: float | None, transient_rate: float | None) -> dict[str, str]:
    """The environment of the server: ours, with the adverse-mode settings asked for."""
    env = dict(os.environ)
    settings = {
        "COSMOS_STAND_IN_SEED": adverse,
        "COSMOS_STAND_IN_429_RATE": throttle_rate,
        "COSMOS_STAND_IN_TRANSIENT_RATE": transient_rate,
    }
    env.update({name: str(value) for name, value in settings.items() if value is not None})
    return env
