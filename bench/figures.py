"""The pure part of the benchmark: passes folded into medians, ratios to the floor, the
targets of contract section 7, and the Markdown tables (tested in tests/unit/test_bench.py)."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any

FLOOR = "floor: bare Flask JSON route"
RUNNING = "GET /time-entries/running"
CREATE = "POST /time-entries"
CUSTOMER = "POST /customers"
MONTH = "GET /time-entries (month, 200 entries)"
SUMMARY = "GET /time-entries/summary"

#: Contract section 7: CPU per request as a multiple of the floor's, per engine.
CPU_TARGETS: dict[str, dict[str, float]] = {
    RUNNING: {"sqlite": 1.5, "postgresql": 2.5},
    CREATE: {"sqlite": 3.0, "postgresql": 5.0},
    MONTH: {"sqlite": 8.0, "postgresql": 12.0},
    SUMMARY: {"sqlite": 8.0, "postgresql": 12.0},
}
#: 30 concurrent writers through the API as a share of the raw-database reference.
WRITERS_TARGET = 0.30
#: Month list and summary latency at the largest tenant over the smallest.
GROWTH_TARGET = 1.5


def median(values: list[float]) -> float:
    return float(statistics.median(values)) if values else 0.0


def cpu_per_request_us(result: dict[str, Any]) -> float | None:
    """Microseconds of worker CPU per answered request in one pass (None without a counter)."""
    if result.get("server_cpu_s") is None or not result.get("requests"):
        return None
    return 1e6 * float(result["server_cpu_s"]) / int(result["requests"])


def db_cpu_per_request_us(result: dict[str, Any]) -> float | None:
    if result.get("db_cpu_s") is None or not result.get("requests"):
        return None
    return 1e6 * float(result["db_cpu_s"]) / int(result["requests"])


@dataclass(frozen=True)
class Summary:
    """One endpoint over several passes: medians, and its ratio to the floor of each pass."""

    name: str
    passes: int
    cpu_us: float | None
    db_cpu_us: float | None
    ratio: float | None
    ratio_low: float | None
    ratio_high: float | None
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    busiest_worker_share: float | None
    restarts: int


def summarize(name: str, passes: list[dict[str, Any]], floors: list[dict[str, Any]]) -> Summary:
    """`passes[i]` was measured right after `floors[i]`: each pass's ratio is taken against its
    own floor (drift of the machine cancels out), and the median of the ratios is reported."""
    cpus = [c for c in (cpu_per_request_us(r) for r in passes) if c is not None]
    dbs = [c for c in (db_cpu_per_request_us(r) for r in passes) if c is not None]
    ratios = []
    for result, floor in zip(passes, floors, strict=True):
        mine, base = cpu_per_request_us(result), cpu_per_request_us(floor)
        if mine is not None and base:
            ratios.append(mine / base)
    shares = [float(r["busiest_worker_share"]) for r in passes if r.get("busiest_worker_share") is not None]
    return Summary(
        name=name,
        passes=len(passes),
        cpu_us=median(cpus) if cpus else None,
        db_cpu_us=median(dbs) if dbs else None,
        ratio=median(ratios) if ratios else None,
        ratio_low=min(ratios) if ratios else None,
        ratio_high=max(ratios) if ratios else None,
        rps=median([float(r["rps"]) for r in passes]),
        p50_ms=median([float(r["p50_ms"]) for r in passes]),
        p99_ms=median([float(r["p99_ms"]) for r in passes]),
        errors=sum(int(r.get("errors", 0)) for r in passes),
        busiest_worker_share=max(shares) if shares else None,
        restarts=sum(int(r.get("workers_restarted", 0)) for r in passes),
    )


def error_statuses(passes: list[dict[str, Any]]) -> dict[str, int]:
    """Error answers over all passes, by status."""
    found: dict[str, int] = {}
    for result in passes:
        for status, count in result.get("error_statuses", {}).items():
            found[status] = found.get(status, 0) + int(count)
    return found


def verdict(value: float | None, target: float | None, at_most: bool = True) -> str:
    if value is None or target is None:
        return "-"
    met = value <= target if at_most else value >= target
    return "met" if met else "not met"


def _num(value: float | None, digits: int = 1, suffix: str = "") -> str:
    return "-" if value is None else f"{value:,.{digits}f}{suffix}"


def throughput_table(engine: str, rows: list[Summary]) -> list[str]:
    lines = [
        "| endpoint | CPU per request | x floor (median; min-max) | target | | req/s | p50 ms | p99 ms | errors "
        "| busiest worker |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        target = CPU_TARGETS.get(row.name, {}).get(engine)
        busiest = None if row.busiest_worker_share is None else 100 * row.busiest_worker_share
        cpu_text = _num(row.cpu_us, 0, " µs")
        if row.db_cpu_us is not None and row.name != FLOOR:
            cpu_text += f" (+{row.db_cpu_us:,.0f} µs database)"
        spread = (
            "1.0x"
            if row.name == FLOOR
            else f"{_num(row.ratio, 1, 'x')}; {_num(row.ratio_low, 1)}-{_num(row.ratio_high, 1)}"
        )
        lines.append(
            f"| {row.name} | {cpu_text} | {spread} | {'-' if target is None else f'<= {target:g}x'} "
            f"| {verdict(row.ratio, target) if row.name != FLOOR else ''} | {row.rps:,.0f} | {row.p50_ms:.2f} "
            f"| {row.p99_ms:.2f} | {row.errors} | {_num(busiest, 0, '%')} |"
        )
    return lines


def writers_share(api_rps: list[float], reference_tps: list[float]) -> float | None:
    """The API's writes per second over the reference's transactions per second (medians)."""
    reference = median(reference_tps)
    return median(api_rps) / reference if reference > 0 else None


def writers_table(api_rps: list[float], reference_tps: list[float], reference: str) -> list[str]:
    share = writers_share(api_rps, reference_tps)
    return [
        "| 30 concurrent writers | per second (median) | share of the reference | target | |",
        "|---|---|---|---|---|",
        f"| {reference} | {median(reference_tps):,.0f} | 100% | | |",
        f"| API: POST /time-entries | {median(api_rps):,.0f} | {_num(None if share is None else 100 * share, 0, '%')} "
        f"| >= {100 * WRITERS_TARGET:.0f}% | {verdict(share, WRITERS_TARGET, at_most=False)} |",
    ]


def growth_ratio(growth: dict[int, dict[str, float]], key: str) -> float | None:
    """Latency at the largest tenant over the smallest."""
    if len(growth) < 2:
        return None
    sizes = sorted(growth)
    small = growth[sizes[0]][key]
    return growth[sizes[-1]][key] / small if small > 0 else None


def growth_table(growth: dict[int, dict[str, float]]) -> list[str]:
    # The month report (TT-16) is a column when the run measured it.
    report = all("report" in figures for figures in growth.values())
    head = "| entries in tenant | month list p50 ms | summary p50 ms |" + (" month report p50 ms |" if report else "")
    lines = [head, "|---|---|---|" + ("---|" if report else "")]
    for size in sorted(growth):
        extra = f" {growth[size]['report']:.2f} |" if report else ""
        lines.append(f"| {size:,} | {growth[size]['list']:.2f} | {growth[size]['summary']:.2f} |{extra}")
    if len(growth) >= 2:
        listed, summed = growth_ratio(growth, "list"), growth_ratio(growth, "summary")
        reported = growth_ratio(growth, "report") if report else None
        extra = f" {_num(reported, 2, 'x')} {verdict(reported, GROWTH_TARGET)} |" if report else ""
        lines.append(
            f"| growth (target <= {GROWTH_TARGET:g}x) | {_num(listed, 2, 'x')} {verdict(listed, GROWTH_TARGET)} "
            f"| {_num(summed, 2, 'x')} {verdict(summed, GROWTH_TARGET)} |{extra}"
        )
    return lines
