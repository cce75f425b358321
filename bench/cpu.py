"""CPU time of a process tree, read from the kernel's own counters (/proc/<pid>/stat).

A gunicorn master forks its workers; a worker that exits (max_requests, a crash) is reaped by
the master, and the kernel adds its counters to the master's cutime/cstime. So the workers'
CPU over a window is the change of (sum of the live workers' utime+stime) + (the master's
cutime+cstime): nothing is lost when a worker is replaced inside the window. The same holds
for a PostgreSQL postmaster and its backends.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

#: Kernel clock ticks per second (the unit of utime and stime), usually 100.
TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@dataclass(frozen=True)
class Stat:
    """The fields of /proc/<pid>/stat this module needs, in clock ticks."""

    pid: int
    ppid: int
    utime: int
    stime: int
    cutime: int
    cstime: int

    @property
    def own(self) -> int:
        return self.utime + self.stime

    @property
    def reaped(self) -> int:
        return self.cutime + self.cstime


def parse_stat(text: str) -> Stat:
    """One line of /proc/<pid>/stat. The command name (field 2) is in parentheses and may
    itself hold spaces or parentheses, so the fields are counted from its last `)`."""
    head, _, tail = text.rpartition(")")
    pid = int(head.split("(", 1)[0])
    fields = tail.split()
    # tail starts at field 3 (state): ppid is field 4, utime..cstime are fields 14..17.
    return Stat(pid, int(fields[1]), int(fields[11]), int(fields[12]), int(fields[13]), int(fields[14]))


def read_stat(pid: int, proc: Path = Path("/proc")) -> Stat | None:
    try:
        return parse_stat((proc / str(pid) / "stat").read_text())
    except (OSError, ValueError, IndexError):
        return None  # gone between the listing and the read


def all_stats(proc: Path = Path("/proc")) -> list[Stat]:
    found = []
    for entry in proc.iterdir():
        if entry.name.isdigit():
            stat = read_stat(int(entry.name), proc)
            if stat is not None:
                found.append(stat)
    return found


@dataclass(frozen=True)
class TreeSample:
    """CPU ticks of a root process's children (per child) and of those already reaped."""

    root: int
    children: dict[int, int]
    reaped: int
    own: int

    def total(self, include_root: bool) -> int:
        return sum(self.children.values()) + self.reaped + (self.own if include_root else 0)


def sample_tree(stats: list[Stat], root: int) -> TreeSample:
    """From one reading of every process: the direct children of `root` and root's counters."""
    children = {s.pid: s.own for s in stats if s.ppid == root}
    mine = next((s for s in stats if s.pid == root), None)
    return TreeSample(root, children, mine.reaped if mine else 0, mine.own if mine else 0)


def sample(root: int, proc: Path = Path("/proc")) -> TreeSample:
    return sample_tree(all_stats(proc), root)


@dataclass(frozen=True)
class CpuDelta:
    seconds: float
    per_child: dict[int, float]
    restarted: int

    def busiest_share(self) -> float:
        """The largest share of the CPU taken by one child (1/children when balanced)."""
        total = sum(self.per_child.values())
        return max(self.per_child.values()) / total if total > 0 else 0.0


def delta(before: TreeSample, after: TreeSample, include_root: bool = False, ticks: int = TICKS) -> CpuDelta:
    """CPU seconds spent by the tree between two samples. Children born inside the window
    count from zero; children that died inside it are in the root's reaped counters."""
    spent = after.total(include_root) - before.total(include_root)
    per_child = {
        pid: (after.children[pid] - before.children.get(pid, 0)) / ticks
        for pid in after.children
        if after.children[pid] - before.children.get(pid, 0) > 0
    }
    restarted = len(set(before.children) - set(after.children))
    return CpuDelta(spent / ticks, per_child, restarted)


def parse_tcp_table(text: str, server_port: int) -> dict[int, int]:
    """From /proc/net/tcp: `{client port: socket inode}` of the server side of the
    established connections to `server_port` (addresses are hex `IP:PORT`, state 01)."""
    found = {}
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 10 or fields[3] != "01":
            continue
        local_port = int(fields[1].rsplit(":", 1)[1], 16)
        if local_port == server_port:
            found[int(fields[2].rsplit(":", 1)[1], 16)] = int(fields[9])
    return found


def socket_inodes(pid: int, proc: Path = Path("/proc")) -> set[int]:
    """Inodes of the sockets a process holds open."""
    inodes = set()
    try:
        for fd in (proc / str(pid) / "fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(int(target[8:-1]))
    except OSError:
        pass
    return inodes


def connection_owners(server_port: int, workers: list[int], proc: Path = Path("/proc")) -> dict[int, int]:
    """`{client port: worker pid}` for the connections to `server_port` a worker has accepted
    (a connection still in the listen backlog belongs to no one yet)."""
    by_port = parse_tcp_table((proc / "net" / "tcp").read_text(), server_port)
    holder = {inode: pid for pid in workers for inode in socket_inodes(pid, proc)}
    return {port: holder[inode] for port, inode in by_port.items() if inode in holder}
