"""`vendyz bench` refuses what it cannot run before it starts anything."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from localcloud.bench.soak import process_usage
from localcloud.cli import main


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
