"""The bench report: the figures, a readable table, JSON and a latency histogram."""

from __future__ import annotations

import json
import math
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from localcloud.bench.load import TRANSPORT_ERROR

# The targets on its reference machine (2 cores, C=64), keyed by (stock, buyers).
_SCENARIO_TARGETS: dict[tuple[int, int], tuple[float, float]] = {
    (100, 2000): (900.0, 120.0),
    (1000, 1000): (450.0, 200.0),
}
RESERVE_PATH_TARGET = 0.7


def percentile(sorted_values: Sequence[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default), q in [0, 100]."""
    if not sorted_values:
        return None
    position = (len(sorted_values) - 1) * q / 100.0
    low = math.floor(position)
    high = min(low + 1, len(sorted_values) - 1)
    fraction = position - low
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * fraction


def _round(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return round(numerator / denominator, 3)


def latency_summary(statuses: Sequence[int], latencies_ms: Sequence[float]) -> dict[str, Any]:
    """Percentiles over the requests that got an HTTP reply (transport errors excluded)."""
    answered = sorted(ms for ms, s in zip(latencies_ms, statuses, strict=True) if s)
    return {
        "p50_ms": _round(percentile(answered, 50)),
        "p95_ms": _round(percentile(answered, 95)),
        "p99_ms": _round(percentile(answered, 99)),
        "max_ms": _round(answered[-1] if answered else None),
        "mean_ms": _round(sum(answered) / len(answered) if answered else None),
    }


def status_counts(statuses: Sequence[int]) -> dict[str, int]:
    counts = Counter(statuses)
    return {
        ("transport" if code == TRANSPORT_ERROR else str(code)): n
        for code, n in sorted(counts.items())
    }


def classify(statuses: Sequence[int]) -> dict[str, int]:
    counts = Counter(statuses)
    confirmed, rejected, throttled = counts[201], counts[409], counts[429]
    return {
        "confirmed": confirmed,
        "rejected": rejected,
        "throttled": throttled,
        "errors": len(statuses) - confirmed - rejected - throttled,
    }


def consistency_flags(
    *,
    stock: int,
    quantity: int,
    confirmed: int,
    final_stock: int | None,
    confirmed_readback: int | None,
) -> list[str]:
    """What contradicts "never oversold, nothing leaked"; empty when all is well."""
    flags = []
    if confirmed * quantity > stock:
        flags.append(f"oversold: {confirmed} confirmed x {quantity} > stock {stock}")
    if final_stock is not None and final_stock < 0:
        flags.append(f"final stock is negative ({final_stock})")
    if confirmed_readback is not None and confirmed_readback != confirmed:
        flags.append(
            f"{confirmed_readback} confirmed orders stored, but {confirmed} confirmed replies"
        )
    if final_stock is not None and final_stock + confirmed * quantity != stock:
        flags.append(
            f"units unaccounted for: final stock {final_stock} + sold"
            f" {confirmed * quantity} != stock {stock}"
        )
    return flags


def targets(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's targets that apply to this run's shape, each with whether it was met."""
    rows: list[dict[str, Any]] = []

    def add(name: str, goal: str, value: Any, met: bool | None) -> None:
        rows.append({"figure": name, "target": goal, "value": value, "met": met})

    scenario = _SCENARIO_TARGETS.get((report["stock"], report["buyers"]))
    if scenario and report["concurrency"] == 64 and report["quantity"] == 1:
        rps, p99 = scenario
        add(
            "throughput_rps",
            f">= {rps:g}",
            report["throughput_rps"],
            report["throughput_rps"] >= rps,
        )
        value = report["p99_ms"]
        add("p99_ms", f"<= {p99:g}", value, value is not None and value <= p99)
        add("errors", "== 0", report["errors"], report["errors"] == 0)
        if report["stock"] == 100:
            add("oversold", "== 0", report["oversold"], report["oversold"] == 0)
            add("throttled", "== 0", report["throttled"], report["throttled"] == 0)
    ratio = report["reserve_path_vs_db_limit"]
    add(
        "reserve_path_vs_db_limit",
        f">= {RESERVE_PATH_TARGET:g}",
        ratio,
        None if ratio is None else ratio >= RESERVE_PATH_TARGET,
    )
    return rows


def ratios(
    throughput_rps: float, db_limit_tps: float | None, reserve_path_tps: float | None
) -> dict[str, float | None]:
    return {
        "throughput_vs_db_limit": _ratio(throughput_rps, db_limit_tps),
        "reserve_path_vs_db_limit": _ratio(reserve_path_tps, db_limit_tps),
        "throughput_vs_reserve_path": _ratio(throughput_rps, reserve_path_tps),
    }


# -- output ------------------------------------------------------------------------------------
def _show(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def format_table(report: dict[str, Any]) -> str:
    sections: list[tuple[str, list[tuple[str, str]]]] = [
        (
            "run",
            [
                ("target", "target"),
                ("stock", "stock"),
                ("buyers", "buyers"),
                ("concurrency", "concurrency"),
                ("users", "users"),
                ("quantity", "quantity"),
            ],
        ),
        (
            "outcome",
            [
                ("confirmed (201)", "confirmed"),
                ("rejected (409)", "rejected"),
                ("throttled (429)", "throttled"),
                ("errors", "errors"),
                ("oversold", "oversold"),
                ("final_stock", "final_stock"),
                ("confirmed read back", "confirmed_readback"),
            ],
        ),
        (
            "speed",
            [
                ("throughput_rps", "throughput_rps"),
                ("p50_ms", "p50_ms"),
                ("p95_ms", "p95_ms"),
                ("p99_ms", "p99_ms"),
                ("max_ms", "max_ms"),
                ("load_seconds", "load_seconds"),
                ("client CPU ms/request", "client_cpu_ms_per_request"),
            ],
        ),
        (
            "watchers (--watchers)",
            [
                ("watchers", "watchers"),
                ("watchers_missed", "watchers_missed"),
                ("push_lag_p50_ms", "push_lag_p50_ms"),
                ("push_lag_p99_ms", "push_lag_p99_ms"),
                ("pushes received", "pushes_received"),
            ],
        ),
        (
            "reference points",
            [
                ("db_limit_tps", "db_limit_tps"),
                ("reserve_path_tps", "reserve_path_tps"),
                ("throughput_vs_db_limit", "throughput_vs_db_limit"),
                ("reserve_path_vs_db_limit", "reserve_path_vs_db_limit"),
                ("throughput_vs_reserve_path", "throughput_vs_reserve_path"),
            ],
        ),
    ]
    width = 28
    lines = ["vendyz bench"]
    for title, rows in sections:
        lines.append(f"  {title}")
        for label, key in rows:
            lines.append(f"    {label:<{width}} {_show(report.get(key))}")
    lines.append(f"    {'db_limit method':<{width}} {report.get('db_limit_method') or 'n/a'}")
    codes = ", ".join(f"{k}: {v}" for k, v in report["status_counts"].items())
    lines.append(f"  replies by status: {codes or 'none'}")
    rows_met = report.get("targets") or []
    if rows_met:
        lines.append("  targets (reported, not enforced)")
        for row in rows_met:
            verdict = "n/a" if row["met"] is None else ("met" if row["met"] else "MISSED")
            value = _show(row["value"])
            lines.append(f"    {row['figure']:<{width}} {row['target']:<8} {value:>10}  {verdict}")
    for flag in report.get("flags") or []:
        lines.append(f"  FLAG: {flag}")
    for note in report.get("notes") or []:
        lines.append(f"  note: {note}")
    return "\n".join(lines) + "\n"


def write_json(report: dict[str, Any], path: str) -> None:
    """`-` writes to stdout."""
    text = json.dumps(report, indent=2) + "\n"
    if path == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        Path(path).write_text(text)


def write_plot(report: dict[str, Any], latencies_ms: Sequence[float], path: str) -> None:
    """A PNG histogram of the request latencies with the p50/p95/p99 lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(9, 5), dpi=110)
    try:
        if latencies_ms:
            axes.hist(latencies_ms, bins=min(80, max(10, len(latencies_ms) // 20)), color="#4c72b0")
        for key, colour in (("p50_ms", "#2ca02c"), ("p95_ms", "#ff7f0e"), ("p99_ms", "#d62728")):
            value = report.get(key)
            if value is not None:
                axes.axvline(value, color=colour, linestyle="--", label=f"{key[:3]} {value:.1f} ms")
        axes.set_xlabel("latency (ms)")
        axes.set_ylabel("requests")
        axes.set_title(
            f"vendyz bench: S={report['stock']} N={report['buyers']} C={report['concurrency']}"
            f" - {report['throughput_rps']:.0f} req/s"
        )
        if axes.get_legend_handles_labels()[0]:
            axes.legend()
        figure.tight_layout()
        figure.savefig(path, format="png")
    finally:
        plt.close(figure)
