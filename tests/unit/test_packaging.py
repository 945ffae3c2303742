"""The Lambda package: built from what the project declares, for the runtime it deploys to."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from cfnlint.decode.cfn_yaml import load as load_cfn_yaml

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS_MAKEFILE = ROOT / "functions" / "Makefile"


def _template() -> dict[str, Any]:
    template: dict[str, Any] = load_cfn_yaml(str(ROOT / "template.yaml"))
    return template


def _makefile_default(variable: str) -> str:
    found = re.search(rf"^{variable} \?= (\S+)$", FUNCTIONS_MAKEFILE.read_text(), re.MULTILINE)
    assert found, f"functions/Makefile sets no default {variable}"
    return found.group(1)


def test_sam_requirements_match_the_project_dependencies() -> None:
    # GIVEN the runtime dependencies declared in pyproject.toml
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    # WHEN reading what `sam build` installs from functions/requirements.txt
    lines = (ROOT / "functions" / "requirements.txt").read_text().splitlines()
    bundled = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    # THEN the two lists are the same
    assert sorted(bundled) == sorted(declared)


def test_every_function_is_built_by_the_functions_makefile() -> None:
    # GIVEN the template's functions
    functions = {
        name: resource
        for name, resource in _template()["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
    }
    # WHEN reading how `sam build` builds each
    methods = {name: (r.get("Metadata") or {}).get("BuildMethod") for name, r in functions.items()}
    # THEN every one goes through functions/Makefile (SAM's own build ships no bytecode)
    assert len(methods) == 5
    assert set(methods.values()) == {"makefile"}, methods


def test_makefile_builds_for_the_templates_runtime_and_architecture() -> None:
    # GIVEN the runtime and architecture the template deploys the functions on
    function_globals = _template()["Globals"]["Function"]
    runtime, [architecture] = function_globals["Runtime"], function_globals["Architectures"]
    # WHEN reading the Python and CPU functions/Makefile packages for by default
    python, arch = _makefile_default("PYTHON"), _makefile_default("ARCH")
    # THEN they are the same: bytecode is per Python version, binary wheels per CPU
    assert python == runtime  # "python3.12", the interpreter and the runtime's name alike
    assert arch == {"arm64": "aarch64", "x86_64": "x86_64"}[architecture]
