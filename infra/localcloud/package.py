"""The functions' deployment package, built as `sam build` builds it (functions/Makefile), and a
fresh interpreter importing one handler from it as Lambda does: only the package on the path
(`python -S`), nothing written back (PYTHONDONTWRITEBYTECODE; /var/task is read-only)."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# What a cold start should never pay for: botocore's clients and sessions, boto3 (~150 ms; the
# Invoke client is ours) and cryptography (PyJWT signs HS256 without it). Powertools imports
# the bare `botocore` package (~0.4 ms, to tag its user agent), which loads none of that.
HEAVY_MODULES = ("boto3", "botocore.", "cryptography")

_PROBE = """
import importlib, importlib.util, json, os, sys, time
package, module, heavy = sys.argv[1], sys.argv[2], sys.argv[3].split(",")
sys.path.insert(0, package)
started = time.perf_counter()
importlib.import_module(module)
elapsed = (time.perf_counter() - started) * 1000
from_source = sorted(
    name for name, m in list(sys.modules.items())
    if (getattr(m, "__file__", None) or "").startswith(package)
    and m.__file__.endswith(".py")
    and not os.path.exists(importlib.util.cache_from_source(m.__file__))
)
loaded = sorted(n for n in sys.modules if n.startswith(tuple(heavy)) or n in heavy)
print(json.dumps({"ms": elapsed, "heavy": loaded, "from_source": from_source}))
"""


@dataclass(frozen=True)
class ColdImport:
    milliseconds: float  # the handler module's import, measured inside the interpreter
    wall_milliseconds: float  # the whole interpreter, start to exit
    heavy_modules: list[str]  # the modules of HEAVY_MODULES it imported
    from_source: list[str]  # modules of the package imported without their bytecode


def build_package(destination: Path, python: str = sys.executable) -> Path:
    """The package for this machine's Python and CPU (the template's defaults are for AWS)."""
    subprocess.run(
        [
            "make",
            "--silent",
            "-C",
            str(ROOT / "functions"),
            "dependencies",
            "code",
            f"ARTIFACTS_DIR={destination}",
            f"PYTHON={python}",
            f"ARCH={platform.machine()}",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return destination


def function_environment(urls: Mapping[str, str]) -> dict[str, str]:
    """What a deployed function's environment holds, with these data services behind it."""
    return {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONDONTWRITEBYTECODE": "1",
        "VENDYZ_ENV": "local",
        "DATABASE_URL": urls["DATABASE_URL"],
        "REDIS_URL": urls["REDIS_URL"],
        "NATS_URL": urls["NATS_URL"],
        "LAMBDA_ENDPOINT_URL": "http://127.0.0.1:9",
        # Named, not fetched: the key is read on first use, not at import.
        "JWT_SECRET_NAME": "vendyz/jwt",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "AWS_DEFAULT_REGION": "us-east-1",
    }


def cold_import(
    package: Path, handler: str, env: Mapping[str, str], python: str = sys.executable
) -> ColdImport:
    """Import `handler`'s module (vendyz.x.handler.handler) in a fresh interpreter."""
    module = handler.rpartition(".")[0]
    started = time.perf_counter()
    done = subprocess.run(
        [python, "-S", "-c", _PROBE, str(package), module, ",".join(HEAVY_MODULES)],
        cwd=package,
        env=dict(env),
        capture_output=True,
        text=True,
        check=False,
    )
    wall = (time.perf_counter() - started) * 1000
    if done.returncode != 0:
        raise RuntimeError(f"importing {module} failed:\n{done.stderr}")
    found = json.loads(done.stdout.strip().splitlines()[-1])
    return ColdImport(found["ms"], wall, found["heavy"], found["from_source"])


def bare_start(env: Mapping[str, str], python: str = sys.executable) -> float:
    """Milliseconds for an interpreter that imports nothing: the machine's yardstick."""
    started = time.perf_counter()
    subprocess.run([python, "-S", "-c", "pass"], env=dict(env), check=True)
    return (time.perf_counter() - started) * 1000
