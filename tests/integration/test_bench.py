"""`vendyz bench` end to end, on a local cloud of its own (the no---url path), with small
numbers. Figures are not asserted (the machine is noisy); the outcome and report are.

The bench runs in a fresh interpreter: a LocalCloud imports the handlers (module-level pools
and clients) and exports its URLs into os.environ, so a second cloud in this process would
talk to the first one's servers, and the session `local_cloud` would talk to ours.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from localcloud.bench.load import _read_response
from localcloud.bench.report import percentile
from localcloud.bench.runner import REPORT_KEYS, BenchOptions, run_bench

STOCK, BUYERS = 20, 200
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def bench_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path, Path]:
    out = tmp_path_factory.mktemp("bench")
    options = BenchOptions(
        stock=STOCK,
        buyers=BUYERS,
        concurrency=16,
        users=10,
        measure_seconds=1.0,
        json_path=str(out / "report.json"),
        plot_path=str(out / "latency.png"),
        progress=False,
    )
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        report = pool.submit(run_bench, options).result(timeout=240)
    return report, out / "report.json", out / "latency.png"


@pytest.mark.slow
def test_the_bench_sells_exactly_the_stock_and_reports_every_figure(
    bench_run: tuple[dict[str, Any], Path, Path],
) -> None:
    report, _, _ = bench_run
    assert set(REPORT_KEYS) <= set(report), set(REPORT_KEYS) - set(report)
    assert report["confirmed"] == STOCK
    assert report["oversold"] == 0
    assert report["errors"] == 0
    assert report["final_stock"] == 0
    assert report["rejected"] + report["confirmed"] + report["throttled"] == BUYERS
    assert report["confirmed_readback"] == STOCK
    assert report["flags"] == []
    assert report["db_limit_tps"] > 0
    assert report["reserve_path_tps"] > 0
    assert report["db_limit_method"]
    assert report["throughput_rps"] > 0
    for key in ("throughput_vs_db_limit", "reserve_path_vs_db_limit", "throughput_vs_reserve_path"):
        assert report[key] > 0


@pytest.mark.slow
def test_the_bench_writes_json_and_a_png_histogram(
    bench_run: tuple[dict[str, Any], Path, Path],
) -> None:
    report, json_path, png_path = bench_run
    assert json.loads(json_path.read_text()) == report
    assert png_path.read_bytes()[:8] == PNG_SIGNATURE


def _parse(raw: bytes) -> tuple[int, bool, bytes]:
    """(status, keep_alive, what is left unread) for one reply read from `raw`."""

    async def run() -> tuple[int, bool, bytes]:
        reader = asyncio.StreamReader()
        reader.feed_data(raw)
        reader.feed_eof()
        status, keep_alive = await _read_response(reader)
        return status, keep_alive, await reader.read()

    return asyncio.run(run())


def test_the_load_client_reads_length_chunked_and_close_delimited_replies() -> None:
    assert _parse(b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n{}NEXT") == (
        201,
        True,
        b"NEXT",
    )
    chunked = (
        b"HTTP/1.1 409 Conflict\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nNEXT"
    )
    assert _parse(chunked) == (409, True, b"NEXT")
    closing = b"HTTP/1.1 429 Too Many\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    assert _parse(closing) == (429, False, b"")
    assert _parse(b"HTTP/1.0 503 Busy\r\n\r\nbody until EOF") == (503, False, b"")


def test_percentiles_interpolate_between_ranks() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == pytest.approx(50.5)
    assert percentile(values, 99) == pytest.approx(99.01)
    assert percentile([], 50) is None
