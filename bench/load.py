"""Load generator, run as a separate process: `python -m bench.load URL SPEC_JSON`.

One thread, one epoll loop, `concurrency` keep-alive HTTP/1.1 connections each with one
request in flight (closed loop): cheap enough per request that on a small machine the client
does not starve the server it measures. When the spec names the server's master process
(`server_pid`, and `db_pid` for a database server), the CPU time of its workers is read from
the kernel's counters at the start and at the end of the window. Prints one JSON line.
"""

from __future__ import annotations

import json
import os
import selectors
import socket
import sys
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from bench import cpu


def _body(kind: str | None, worker: int, n: int, spec: dict[str, Any]) -> bytes | None:
    if kind is None:
        return None
    if kind == "customer":
        return json.dumps({"name": f"c-{spec['run']}-{worker}-{n}"}).encode()
    if kind == "entry":
        # 2019-01-01 onward, a minute every two minutes; `offset` (in slots) keeps passes apart.
        # Entries must stay in the past, or the API rightly refuses them.
        start = 1_546_300_800_000 + (int(spec.get("offset", 0)) + n) * 120_000
        iso = lambda ms: time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(ms / 1000))  # noqa: E731
        return json.dumps({**spec["refs"], "start_date": iso(start), "end_date": iso(start + 60_000)}).encode()
    raise ValueError(kind)


def build_request(method: str, host: str, path: str, token: str | None, body: bytes | None) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", "Accept: application/json"]
    if token:
        lines.append(f"Authorization: Bearer {token}")
    if body is not None:
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin1") + (body or b"")


def parse_head(head: bytes) -> tuple[int, int, bool]:
    """(status, content length, connection closes) of a response head (without the blank line)."""
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length, close = 0, False
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value.strip())
        elif name == b"connection" and value.strip().lower() == b"close":
            close = True
        elif name == b"transfer-encoding":
            raise ValueError("chunked responses are not supported by the load generator")
    return status, length, close


@dataclass
class _Conn:
    index: int
    sock: socket.socket
    n: int = 0
    began: float = 0.0
    buffer: bytearray = field(default_factory=bytearray)
    out: bytes = b""


def balance(conns: list[_Conn], port: int, workers: list[int], connect: Any, attempts: int = 500) -> dict[int, int]:
    """Reconnect until every worker holds its share of the connections.

    A gevent worker accepts every connection it can: with both workers idle, one of them may
    take them all, and the run would measure one worker on a two-worker server. Which worker
    holds a connection is read from the kernel (/proc/net/tcp and the workers' descriptors); a
    connection of the busiest worker is closed and opened again until the split is even.
    Returns `{worker pid: connections}`.
    """
    share = len(conns) // max(1, len(workers))
    counts: dict[int, int] = {}
    for _ in range(attempts):
        owners = cpu.connection_owners(port, workers)
        ports = [conn.sock.getsockname()[1] for conn in conns]
        if any(p not in owners for p in ports):
            time.sleep(0.005)  # not accepted yet
            continue
        counts = {pid: 0 for pid in workers}
        for p in ports:
            counts[owners[p]] += 1
        if min(counts.values()) >= share:
            break
        heavy = max(counts, key=lambda pid: counts[pid])
        index = next(i for i, p in enumerate(ports) if owners[p] == heavy)
        conns[index].sock.close()
        conns[index] = connect(index)
    return counts


def run(url: str, spec: dict[str, Any]) -> dict[str, Any]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", int(parts.port or 80)
    duration = float(spec.get("duration", 5))
    concurrency = int(spec.get("concurrency", 8))
    tokens = spec.get("tokens") or [spec.get("token")]
    method = spec.get("method", "GET")
    fixed = None if spec.get("body") else build_request(method, f"{host}:{port}", spec["path"], tokens[0], None)
    selector = selectors.DefaultSelector()
    latencies: list[float] = []
    errors = 0
    statuses: dict[int, int] = {}

    def connect(index: int) -> _Conn:
        sock = socket.create_connection((host, port), timeout=30)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setblocking(False)
        return _Conn(index, sock)

    def send(conn: _Conn) -> None:
        if fixed is not None and len(tokens) == 1:
            payload = fixed
        else:
            body = _body(spec.get("body"), conn.index, conn.n, spec)
            payload = build_request(method, f"{host}:{port}", spec["path"], tokens[conn.index % len(tokens)], body)
        conn.began = time.perf_counter()
        sent = conn.sock.send(payload)
        conn.out = payload[sent:]
        events = selectors.EVENT_READ | (selectors.EVENT_WRITE if conn.out else 0)
        selector.modify(conn.sock, events, conn)

    conns = [connect(i) for i in range(concurrency)]
    server_pid, db_pid = spec.get("server_pid"), spec.get("db_pid")
    split = balance(conns, port, sorted(cpu.sample(server_pid).children), connect) if server_pid else {}
    for conn in conns:
        selector.register(conn.sock, selectors.EVENT_READ, conn)
    server_before = cpu.sample(server_pid) if server_pid else None
    db_before = cpu.sample(db_pid) if db_pid else None
    client_before = os.times()
    started = time.monotonic()
    deadline = started + duration
    for conn in conns:
        send(conn)
    open_count = len(conns)
    while open_count:
        for key, events in selector.select(timeout=1.0):
            conn = key.data
            if events & selectors.EVENT_WRITE and conn.out:
                sent = conn.sock.send(conn.out)
                conn.out = conn.out[sent:]
                if not conn.out:
                    selector.modify(conn.sock, selectors.EVENT_READ, conn)
                continue
            try:
                chunk = conn.sock.recv(262_144)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                chunk = b""
            if not chunk:  # the server closed the connection: count it and open another
                errors += 1
                selector.unregister(conn.sock)
                conn.sock.close()
                if time.monotonic() >= deadline:
                    open_count -= 1
                    continue
                fresh = connect(conn.index)
                fresh.n = conn.n
                conns[conn.index] = fresh
                selector.register(fresh.sock, selectors.EVENT_READ, fresh)
                send(fresh)
                continue
            conn.buffer += chunk
            end = conn.buffer.find(b"\r\n\r\n")
            if end < 0:
                continue
            status, length, close = parse_head(bytes(conn.buffer[:end]))
            if len(conn.buffer) < end + 4 + length:
                continue
            latencies.append(time.perf_counter() - conn.began)
            if status >= 400:
                errors += 1
                statuses[status] = statuses.get(status, 0) + 1
            del conn.buffer[: end + 4 + length]
            conn.n += 1
            if close or time.monotonic() >= deadline:
                selector.unregister(conn.sock)
                conn.sock.close()
                if close and time.monotonic() < deadline:
                    fresh = connect(conn.index)
                    fresh.n = conn.n
                    conns[conn.index] = fresh
                    selector.register(fresh.sock, selectors.EVENT_READ, fresh)
                    send(fresh)
                else:
                    open_count -= 1
                continue
            send(conn)
    elapsed = time.monotonic() - started
    client_after = os.times()
    result: dict[str, Any] = {
        "requests": len(latencies),
        "errors": errors,
        "seconds": round(elapsed, 3),
        "rps": round(len(latencies) / elapsed, 1),
        "p50_ms": round(percentile(latencies, 0.50) * 1000, 2),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 2),
        "client_cpu_s": round(
            (client_after.user - client_before.user) + (client_after.system - client_before.system), 3
        ),
    }
    if statuses:
        result["error_statuses"] = {str(k): v for k, v in sorted(statuses.items())}
    if split:
        result["connections_per_worker"] = sorted(split.values())
    if server_pid and server_before:
        spent = cpu.delta(server_before, cpu.sample(server_pid))
        result.update(
            server_cpu_s=spent.seconds,
            busiest_worker_share=round(spent.busiest_share(), 3),
            workers_restarted=spent.restarted,
        )
    if db_pid and db_before:
        result["db_cpu_s"] = cpu.delta(db_before, cpu.sample(db_pid), include_root=True).seconds
    return result


def percentile(samples: list[float], p: float) -> float:
    """The nearest-rank percentile (0 for no samples)."""
    if not samples:
        return 0.0
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


if __name__ == "__main__":
    spec = json.loads(sys.argv[2])
    spec.setdefault("run", uuid.uuid4().hex[:8])
    print(json.dumps(run(sys.argv[1], spec)))
