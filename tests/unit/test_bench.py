"""The benchmark's own pure parts: kernel counters, connection owners, medians and ratios."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import cpu, figures
from bench.load import build_request, parse_head, percentile
from bench.reference import parse_pgbench_tps

# A gunicorn worker: the command name holds a space and parentheses.
WORKER = (
    "4242 (gunicorn: (worker) x) S 4200 4200 4200 0 -1 4194560 9000 0 0 0 "
    "1234 567 10 20 20 0 3 0 123456 400000000 20000 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 17 1 0 0 0 0 0"
)


def stat_line(pid: int, ppid: int, utime: int, stime: int, cutime: int = 0, cstime: int = 0) -> str:
    return f"{pid} (python) S {ppid} {pid} {pid} 0 -1 0 0 0 0 0 {utime} {stime} {cutime} {cstime} 20 0 1 0 1 1 1"


def test_parse_stat_counts_fields_after_the_last_parenthesis() -> None:
    stat = cpu.parse_stat(WORKER)
    assert (stat.pid, stat.ppid, stat.utime, stat.stime, stat.cutime, stat.cstime) == (4242, 4200, 1234, 567, 10, 20)
    assert stat.own == 1801
    assert stat.reaped == 30


def test_sample_tree_takes_direct_children_and_the_roots_reaped_counters() -> None:
    stats = [
        cpu.parse_stat(stat_line(100, 1, 50, 5, 7, 3)),  # the master
        cpu.parse_stat(stat_line(101, 100, 300, 30)),
        cpu.parse_stat(stat_line(102, 100, 200, 20)),
        cpu.parse_stat(stat_line(103, 101, 999, 999)),  # a grandchild: not a worker
        cpu.parse_stat(stat_line(104, 1, 999, 999)),  # unrelated
    ]
    sample = cpu.sample_tree(stats, 100)
    assert sample.children == {101: 330, 102: 220}
    assert sample.reaped == 10
    assert sample.own == 55
    assert sample.total(include_root=False) == 560
    assert sample.total(include_root=True) == 615


def test_delta_keeps_the_cpu_of_a_worker_replaced_inside_the_window() -> None:
    before = cpu.TreeSample(100, {101: 1000, 102: 1000}, reaped=0, own=10)
    # 102 exited after 300 more ticks (now in the master's cutime+cstime); 105 replaced it.
    after = cpu.TreeSample(100, {101: 1500, 105: 200}, reaped=1300, own=11)
    spent = cpu.delta(before, after, ticks=100)
    assert spent.seconds == pytest.approx((500 + 300 + 200) / 100)
    assert spent.restarted == 1
    assert spent.per_child == {101: 5.0, 105: 2.0}
    assert cpu.delta(before, after, include_root=True, ticks=100).seconds == pytest.approx(10.01)


def test_busiest_share() -> None:
    assert cpu.CpuDelta(4.0, {1: 2.0, 2: 2.0}, 0).busiest_share() == 0.5
    assert cpu.CpuDelta(4.0, {1: 3.0, 2: 1.0}, 0).busiest_share() == 0.75
    assert cpu.CpuDelta(0.0, {}, 0).busiest_share() == 0.0


def test_read_stat_of_this_process(tmp_path: Path) -> None:
    (tmp_path / "77").mkdir()
    (tmp_path / "77" / "stat").write_text(stat_line(77, 1, 3, 4))
    (tmp_path / "net").mkdir()
    assert cpu.read_stat(77, tmp_path) == cpu.Stat(77, 1, 3, 4, 0, 0)
    assert cpu.read_stat(78, tmp_path) is None
    assert [s.pid for s in cpu.all_stats(tmp_path)] == [77]


TCP = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1000 1 0 100 0 0 10 0
   1: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 2001 1 0 20 4 30 10 -1
   2: 0100007F:C350 0100007F:1F90 01 00000000:00000000 00:00000000 00000000     0        0 3001 1 0 20 4 30 10 -1
   3: 0100007F:1F90 0100007F:C351 06 00000000:00000000 00:00000000 00000000     0        0 0 1 0 20 4 30 10 -1
   4: 0100007F:1F91 0100007F:C352 01 00000000:00000000 00:00000000 00000000     0        0 2002 1 0 20 4 30 10 -1
"""


def test_parse_tcp_table_keeps_the_servers_established_sockets() -> None:
    # port 0x1F90 = 8080; client port 0xC350 = 50000; the listener, the client's side, a
    # TIME_WAIT and another server's connection are left out.
    assert cpu.parse_tcp_table(TCP, 8080) == {50000: 2001}


def test_median_and_summary_take_each_pass_against_its_own_floor() -> None:
    assert figures.median([3.0, 1.0, 2.0]) == 2.0
    assert figures.median([1.0, 2.0, 3.0, 10.0]) == 2.5
    assert figures.median([]) == 0.0
    floors = [
        {"requests": 1000, "server_cpu_s": 0.3, "rps": 3000, "p50_ms": 1, "p99_ms": 5, "errors": 0},
        {"requests": 1000, "server_cpu_s": 0.6, "rps": 1500, "p50_ms": 2, "p99_ms": 9, "errors": 0},
        {"requests": 1000, "server_cpu_s": 0.3, "rps": 3000, "p50_ms": 1, "p99_ms": 5, "errors": 0},
    ]
    # The machine ran at half speed during the second pass: its ratio still reads 4x.
    passes = [
        {"requests": 250, "server_cpu_s": 0.3, "rps": 800, "p50_ms": 9, "p99_ms": 30, "errors": 0},
        {"requests": 250, "server_cpu_s": 0.6, "rps": 400, "p50_ms": 18, "p99_ms": 60, "errors": 1},
        {"requests": 250, "server_cpu_s": 0.33, "rps": 760, "p50_ms": 10, "p99_ms": 33, "errors": 0},
    ]
    row = figures.summarize(figures.MONTH, passes, floors)
    assert row.cpu_us == pytest.approx(1320.0)
    assert row.ratio == pytest.approx(4.0)
    assert (row.ratio_low, row.ratio_high) == (pytest.approx(4.0), pytest.approx(4.4))
    assert (row.rps, row.p50_ms, row.p99_ms, row.errors) == (760, 10, 33, 1)
    assert figures.cpu_per_request_us({"requests": 0, "server_cpu_s": 1.0}) is None
    assert figures.cpu_per_request_us({"requests": 10}) is None


def test_targets_are_judged_per_engine() -> None:
    row = figures.Summary(figures.RUNNING, 5, 600.0, None, 2.0, 1.9, 2.2, 1000, 5, 20, 0, 0.5, 0)
    sqlite = "\n".join(figures.throughput_table("sqlite", [row]))
    postgresql = "\n".join(figures.throughput_table("postgresql", [row]))
    assert "<= 1.5x | not met" in sqlite
    assert "<= 2.5x | met" in postgresql
    assert figures.verdict(None, 3.0) == "-"
    assert figures.verdict(0.31, 0.30, at_most=False) == "met"


def test_writers_share_and_growth() -> None:
    assert figures.writers_share([300, 200, 250], [1000, 900, 1100]) == pytest.approx(0.25)
    assert figures.writers_share([300], []) is None
    table = "\n".join(figures.writers_table([300, 320, 310], [1000, 1000, 1000], "pgbench"))
    assert "| 31% | >= 30% | met |" in table
    growth = {
        1000: {"list": 10.0, "summary": 4.0},
        100_000: {"list": 16.0, "summary": 4.4},
        10_000: {"list": 11.0, "summary": 4.1},
    }
    assert figures.growth_ratio(growth, "list") == pytest.approx(1.6)
    assert figures.growth_ratio(growth, "summary") == pytest.approx(1.1)
    assert figures.growth_ratio({1000: {"list": 1.0}}, "list") is None
    text = "\n".join(figures.growth_table(growth))
    assert "1.60x not met" in text and "1.10x met" in text


def test_pgbench_tps_line() -> None:
    out = "number of failed transactions: 0 (0.000%)\nlatency average = 14.3 ms\ninitial connection time = 20 ms\n"
    assert parse_pgbench_tps(out + "tps = 2091.697554 (without initial connection time)\n") == pytest.approx(
        2091.697554
    )
    assert parse_pgbench_tps("tps = 12.5 (excluding connections establishing)\n") == 12.5
    with pytest.raises(ValueError):
        parse_pgbench_tps(out)


def test_http_request_and_response_head() -> None:
    request = build_request("POST", "127.0.0.1:80", "/customers", "tok", b'{"name":"x"}')
    assert request.startswith(b"POST /customers HTTP/1.1\r\nHost: 127.0.0.1:80\r\n")
    assert b"Authorization: Bearer tok\r\n" in request and request.endswith(b'Content-Length: 12\r\n\r\n{"name":"x"}')
    assert b"Authorization" not in build_request("GET", "h", "/", None, None)
    head = b"HTTP/1.1 201 CREATED\r\nServer: gunicorn\r\nContent-Length: 42\r\nConnection: close"
    assert parse_head(head) == (201, 42, True)
    assert parse_head(b"HTTP/1.1 200 OK\r\ncontent-length: 7") == (200, 7, False)
    with pytest.raises(ValueError):
        parse_head(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked")


def test_percentile_is_nearest_rank() -> None:
    assert percentile([], 0.5) == 0.0
    assert percentile([5.0, 1.0, 3.0, 2.0, 4.0], 0.5) == 3.0
    assert percentile([float(i) for i in range(100)], 0.99) == 99.0


def test_error_statuses_add_up_over_passes() -> None:
    passes = [{"error_statuses": {"409": 2}}, {}, {"error_statuses": {"409": 1, "500": 4}}]
    assert figures.error_statuses(passes) == {"409": 3, "500": 4}


def test_the_month_report_is_a_growth_column_when_measured() -> None:
    growth = {
        1000: {"list": 10.0, "summary": 4.0, "report": 8.0},
        100_000: {"list": 11.0, "summary": 4.0, "report": 9.6},
    }
    text = "\n".join(figures.growth_table(growth))
    assert "month report p50 ms" in text and "| 1,000 | 10.00 | 4.00 | 8.00 |" in text and "1.20x met |" in text
