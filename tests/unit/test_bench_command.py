"""`vendyz bench` refuses what it cannot run before it starts anything."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from localcloud.bench.soak import ProcessUsage, median_usage, process_usage, warmup_seconds
from localcloud.cli import main
from vendyz.core.jetstream import DUPLICATE_WINDOW_SECONDS


@pytest.mark.parametrize(
    ("arguments", "named"),
    [
        (["--workers", "0"], "--workers must be at least 1"),
        (["--buyers", "0"], "--buyers must be at least 1"),
        (["--stock", "-1"], "--stock must be between 0 and 1,000,000"),
        (["--quantity", "101"], "--quantity must be at most 100"),
        (["--url", "ftp://example.test"], "not an http(s) base URL"),
        (["--soak", "0"], "--soak must be positive"),
        (["--soak", "5", "--url", "http://example.test"], "--soak starts its own local cloud"),
    ],
)
def test_a_bad_option_is_refused_with_its_name(
    arguments: list[str], named: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN an option the bench cannot honour
    # WHEN the bench is asked to run with it
    code = main(["bench", *arguments])
    # THEN it exits with a usage error that names the option, and no report
    captured = capsys.readouterr()
    assert code == 2
    assert named in captured.err
    assert captured.out == ""


def test_the_soak_sees_each_process_of_the_tree_with_its_memory_and_descriptors() -> None:
    # GIVEN this process with a child of its own
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        # WHEN the soak takes its snapshot of the tree
        usage = process_usage(os.getpid())
        # THEN both are there, each with its RSS and open descriptors
        mine = [u for name, u in usage.items() if name.endswith(f"[{os.getpid()}]")]
        theirs = [u for name, u in usage.items() if name.endswith(f"[{child.pid}]")]
        assert len(mine) == len(theirs) == 1
        assert mine[0].rss_kib > 0
        assert mine[0].open_fds >= 3
        assert theirs[0].rss_kib > 0
    finally:
        child.kill()
        child.wait()


def test_a_ten_minute_soak_looks_only_once_the_streams_duplicate_window_has_filled() -> None:
    # GIVEN the soak of the acceptance, and a quick one
    # WHEN their warm-ups are chosen
    # THEN the long one outlasts the window in which JetStream keeps every event id
    assert warmup_seconds(600) > DUPLICATE_WINDOW_SECONDS
    # AND the quick one stays quick
    assert warmup_seconds(20) == 5.0


def test_the_soak_reports_the_median_of_a_swinging_process_and_keeps_one_that_came_late() -> None:
    # GIVEN three samples of a server whose RSS swings with its collections, and a process
    # that appeared in the last sample only
    def sample(rss: int) -> dict[str, ProcessUsage]:
        return {"nats-server [7]": ProcessUsage("nats-server [7]", 1, rss, 30)}

    late = ProcessUsage("OrdersFunction [9]", 1, 64_000, 11)
    samples = [sample(40_000), sample(50_000), sample(38_000) | {late.name: late}]
    # WHEN they are merged into one figure a process
    merged = median_usage(samples)
    # THEN the server gets its median, not whichever phase the look fell on
    assert merged["nats-server [7]"] == ProcessUsage("nats-server [7]", 1, 40_000, 30)
    # AND the late process is reported from the samples it is in
    assert merged["OrdersFunction [9]"] == late
