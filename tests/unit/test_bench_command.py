"""`vendyz bench` refuses what it cannot run before it starts anything."""

from __future__ import annotations

import pytest

from localcloud.cli import main


@pytest.mark.parametrize(
    ("arguments", "named"),
    [
        (["--workers", "0"], "--workers must be at least 1"),
        (["--buyers", "0"], "--buyers must be at least 1"),
        (["--stock", "-1"], "--stock must be between 0 and 1,000,000"),
        (["--quantity", "101"], "--quantity must be at most 100"),
        (["--url", "ftp://example.test"], "not an http(s) base URL"),
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
