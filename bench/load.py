"""Load generator, run as a separate process: `python -m bench.load URL SPEC_JSON`.

Threads with persistent HTTP/1.1 connections; prints one JSON line of results.
"""

from __future__ import annotations

import http.client
import json
import sys
import threading
import time
import uuid
from typing import Any
from urllib.parse import urlsplit


def _body(kind: str | None, worker: int, n: int, spec: dict[str, Any]) -> bytes | None:
    if kind is None:
        return None
    if kind == "customer":
        return json.dumps({"name": f"c-{spec['run']}-{worker}-{n}"}).encode()
    if kind == "entry":
        start = 1_546_300_800_000 + n * 120_000  # 2019-01-01 onward, a minute every two minutes
        iso = lambda ms: time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(ms / 1000))  # noqa: E731
        return json.dumps({**spec["refs"], "start_date": iso(start), "end_date": iso(start + 60_000)}).encode()
    raise ValueError(kind)


def run(url: str, spec: dict[str, Any]) -> dict[str, Any]:
    parts = urlsplit(url)
    duration = float(spec.get("duration", 5))
    concurrency = int(spec.get("concurrency", 8))
    latencies: list[list[float]] = [[] for _ in range(concurrency)]
    errors = [0] * concurrency
    deadline = time.monotonic() + duration

    def worker(index: int) -> None:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        tokens = spec.get("tokens") or [spec.get("token")]
        headers = {"Content-Type": "application/json"}
        token = tokens[index % len(tokens)]
        if token:
            headers["Authorization"] = f"Bearer {token}"
        n = 0
        while time.monotonic() < deadline:
            body = _body(spec.get("body"), index, n, spec)
            began = time.perf_counter()
            try:
                conn.request(spec.get("method", "GET"), spec["path"], body=body, headers=headers)
                response = conn.getresponse()
                response.read()
                if response.status >= 400:
                    errors[index] += 1
            except (OSError, http.client.HTTPException):
                errors[index] += 1
                conn.close()
                conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
            latencies[index].append(time.perf_counter() - began)
            n += 1
        conn.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(concurrency)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    flat = sorted(x for per in latencies for x in per)
    count = len(flat)

    def pct(p: float) -> float:
        return round(flat[min(count - 1, int(p * count))] * 1000, 2) if count else 0.0

    return {
        "requests": count,
        "errors": sum(errors),
        "rps": round(count / elapsed, 1),
        "p50_ms": pct(0.5),
        "p99_ms": pct(0.99),
    }


if __name__ == "__main__":
    spec = json.loads(sys.argv[2])
    spec.setdefault("run", uuid.uuid4().hex[:8])
    print(json.dumps(run(sys.argv[1], spec)))
