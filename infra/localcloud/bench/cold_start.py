"""`vendyz bench --cold-start`: each function's cold start from the deployed package.

For each handler of the template, N fresh interpreters import it from the package (as Lambda
does, localcloud.package) with quiet data services of their own behind them; the figures are
medians, and the ratio to a bare interpreter's start measured in the same run, interleaved,
so that a busy or slow machine shows as such instead of as a slower cold start.
"""

from __future__ import annotations

import statistics
import tempfile
from pathlib import Path

from localcloud.migrate import run_migrate
from localcloud.package import ROOT, bare_start, build_package, cold_import, function_environment
from localcloud.services import DataServices
from localcloud.template import load_template


def run(rounds: int) -> int:
    handlers = {
        name: spec.handler
        for name, spec in load_template(ROOT / "template.yaml", {}).functions.items()
    }
    with tempfile.TemporaryDirectory(prefix="vendyz-cold-start-") as scratch:
        print("building the package (functions/Makefile) ...", flush=True)
        package = build_package(Path(scratch) / "package")
        with DataServices(Path(scratch) / "data", env={}, log=lambda _: None) as urls:
            run_migrate(urls.database_url)
            env = function_environment(
                {
                    "DATABASE_URL": urls.database_url,
                    "REDIS_URL": urls.redis_url,
                    "NATS_URL": urls.nats_url,
                }
            )
            bare: list[float] = []
            imports: dict[str, list[float]] = {name: [] for name in handlers}
            walls: dict[str, list[float]] = {name: [] for name in handlers}
            for _ in range(rounds):  # interleaved: every function sees the same hours
                bare.append(bare_start(env))
                for name, handler in handlers.items():
                    measured = cold_import(package, handler, env)
                    imports[name].append(measured.milliseconds)
                    walls[name].append(measured.wall_milliseconds)
    bare_ms = statistics.median(bare)
    print(f"\ncold start, median of {rounds} fresh interpreters (bare start {bare_ms:.0f} ms)")
    print(f"{'function':<22}{'import ms':>10}{'process ms':>12}{'x bare':>8}")
    for name in handlers:
        wall = statistics.median(walls[name])
        print(
            f"{name:<22}{statistics.median(imports[name]):>10.0f}{wall:>12.0f}"
            f"{wall / bare_ms:>8.1f}"
        )
    return 0
