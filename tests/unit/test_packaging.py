"""The Lambda bundle installs exactly what the project declares."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_sam_requirements_match_the_project_dependencies() -> None:
    # GIVEN the runtime dependencies declared in pyproject.toml
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    # WHEN reading what `sam build` installs from functions/requirements.txt
    lines = (ROOT / "functions" / "requirements.txt").read_text().splitlines()
    bundled = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    # THEN the two lists are the same
    assert sorted(bundled) == sorted(declared)
