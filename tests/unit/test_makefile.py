"""Which Python `make` builds the venv with: the OS's optimised build first, overridable."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SYSTEM_PYTHON = "/usr/bin/python3"
CAN_MAKE_A_VENV = "import sys, ensurepip; sys.exit(sys.version_info < (3, 11))"


def chosen_python(**overrides: str) -> str:
    """The PYTHON variable as make resolves it (its database, printed without running)."""
    # Not what an outer `make PYTHON=... test` passes down (MAKEFLAGS) either.
    inherited = ("PYTHON", "MAKEFLAGS", "MFLAGS", "MAKELEVEL")
    env = {k: v for k, v in os.environ.items() if k not in inherited} | overrides
    printed = subprocess.run(
        ["make", "--no-print-directory", "-pq", ".venv/bin/python"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    match = re.search(r"^PYTHON :?= (.+)$", printed, re.MULTILINE)
    assert match, "make printed no PYTHON variable"
    return match.group(1)


def can_make_a_venv(python: str) -> bool:
    return subprocess.run([python, "-c", CAN_MAKE_A_VENV], capture_output=True).returncode == 0


def test_the_venv_python_is_a_3_11_plus_that_can_make_a_venv() -> None:
    # GIVEN no PYTHON in the environment
    # WHEN make chooses the interpreter
    python = chosen_python()
    # THEN it is one that can build the venv
    assert can_make_a_venv(python), python


@pytest.mark.skipif(
    not (Path(SYSTEM_PYTHON).exists() and can_make_a_venv(SYSTEM_PYTHON)),
    reason="no OS python3 3.11+ with venv here",
)
def test_the_os_python_comes_before_the_one_on_path() -> None:
    # GIVEN an OS python3 that can make a venv (a distribution's PGO + LTO build)
    # WHEN make chooses the interpreter
    # THEN it takes that one, not whichever python3 is first on PATH (pyenv's, say)
    assert chosen_python() == SYSTEM_PYTHON


def test_python_from_the_environment_wins() -> None:
    # GIVEN PYTHON set by the caller
    # WHEN make chooses the interpreter
    # THEN the caller's choice stands
    assert chosen_python(PYTHON="python3.12") == "python3.12"
