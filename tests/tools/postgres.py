"""A throwaway PostgreSQL cluster on loopback for tests and benchmarks.

PostgreSQL refuses to run as root, so as root the cluster belongs to the `postgres` user
(created by Debian's package) or `nobody`.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _pg_bindir() -> str | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[-3]))
    if found:
        return os.path.dirname(found[-1])
    initdb = shutil.which("initdb")
    return os.path.dirname(initdb) if initdb else None


@dataclass
class PostgresServer:
    """A throwaway PostgreSQL cluster on loopback, run by an unprivileged user."""

    bindir: str
    datadir: str
    port: int
    user: str | None
    #: Off for speed in ordinary tests; on where a crash must not lose acknowledged commits.
    durable: bool = False

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://tt@127.0.0.1:{self.port}/postgres"

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        cmd = [os.path.join(self.bindir, args[0]), *args[1:]]
        if self.user:
            cmd = ["runuser", "-u", self.user, "--", *cmd]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=60)

    def start(self) -> None:
        fast = "" if self.durable else "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
        options = f"-p {self.port} -h 127.0.0.1 -k {self.datadir} {fast}-c max_connections=200"
        result = self.run(
            "pg_ctl", "-D", self.datadir, "-l", f"{self.datadir}/server.log", "-o", options, "-w", "-t", "60", "start"
        )
        if result.returncode != 0:
            log = Path(self.datadir, "server.log")
            raise RuntimeError(f"pg_ctl start failed: {result.stderr} {log.read_text() if log.exists() else ''}")

    def stop(self, mode: str = "fast") -> None:
        self.run("pg_ctl", "-D", self.datadir, "-m", mode, "-w", "stop")

    def pids(self) -> list[int]:
        """The postmaster and every process it started."""
        master = int(Path(self.datadir, "postmaster.pid").read_text().split()[0])
        found = [master]
        for status in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = status.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == master:
                found.append(int(status.parent.name))
        return found

    def freeze(self) -> None:
        """SIGSTOP the whole server: it keeps its sockets but answers nothing."""
        for pid in self.pids():
            os.kill(pid, signal.SIGSTOP)

    def thaw(self) -> None:
        for pid in self.pids():
            os.kill(pid, signal.SIGCONT)

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.datadir, ignore_errors=True)


def start_postgres(durable: bool = False) -> PostgresServer:
    bindir = _pg_bindir()
    if not bindir:
        raise RuntimeError("PostgreSQL server binaries not found (run `make services` or install postgresql)")
    user = None
    datadir = tempfile.mkdtemp(prefix="tt-pg-")
    if os.geteuid() == 0:
        # PostgreSQL refuses to run as root.
        user = "postgres" if _user_exists("postgres") else "nobody"
        entry = pwd.getpwnam(user)
        os.chmod(datadir, 0o700)
        os.chown(datadir, entry.pw_uid, entry.pw_gid)
    server = PostgresServer(bindir, datadir, free_port(), user, durable)
    result = server.run("initdb", "-D", datadir, "-U", "tt", "-A", "trust", "-E", "UTF8", "--no-sync", "--locale=C")
    if result.returncode != 0:
        raise RuntimeError(f"initdb failed: {result.stderr}")
    server.start()
    return server


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def terminate_backend(url: str, pid: int) -> None:
    """End one server process (`pg_terminate_backend`) and wait until it has gone: the call
    only sends the signal; the backend writes its FATAL message to its client's socket, then
    exits. Afterwards the connection is as one a server closed (a restart, a failover)."""
    import time

    from sqlalchemy import text

    from commons.data_access_layer.sql.engine import build_engine

    admin_engine = build_engine(url)
    try:
        with admin_engine.connect() as admin:
            assert admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar_one()
            gone = text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid")
            deadline = time.monotonic() + 5
            while admin.execute(gone, {"pid": pid}).scalar_one():
                assert time.monotonic() < deadline, "the terminated backend did not exit"
                # The statistics views keep one snapshot for the whole transaction: end it, so
                # that the next poll reads the server's present.
                admin.commit()
                time.sleep(0.01)
    finally:
        admin_engine.dispose()
