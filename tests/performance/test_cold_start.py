"""Cold start: import plus initialisation of each function's handler in a fresh interpreter.

It imports the functions from the package `sam build` deploys (functions/Makefile), built for
this machine, as Lambda does: only that package on the path, and no bytecode written, since
Lambda's /var/task is read-only. The budget is 400 ms (median of 5); the test fails only past
twice that, so a noisy machine does not make it flaky. The figures are printed (`pytest -s`)
for the README and the note.
"""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from localcloud.migrate import apply_migrations
from localcloud.services import DataServices, DataServiceUrls

ROOT = Path(__file__).resolve().parents[2]
BUDGET_MS = 400
HANDLERS = ["auth", "authorizer", "inventory", "orders", "docs", "realtime"]
# Run with -S (no site-packages): the package is the whole of the function's code, as in
# /var/task; a dependency missing from it fails the import.
MEASURE = (
    "import sys; sys.path.insert(0, {package!r}); "
    "import time; t = time.perf_counter(); import vendyz.{name}.handler; "
    "print((time.perf_counter() - t) * 1000)"
)


@pytest.fixture(scope="module")
def lambda_package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The functions packaged as `sam build` packages them, for this machine's Python and CPU."""
    package: Path = tmp_path_factory.mktemp("lambda-package")
    subprocess.run(
        [
            "make",
            "--silent",
            "-C",
            str(ROOT / "functions"),
            "dependencies",
            "code",
            f"ARTIFACTS_DIR={package}",
            f"PYTHON={sys.executable}",
            f"ARCH={platform.machine()}",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return package


@pytest.fixture(scope="module")
def quiet_services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DataServiceUrls]:
    """Data services of its own, so no schedule of the session's cloud runs meanwhile."""
    data_dir: Path = tmp_path_factory.mktemp("coldstart")
    with DataServices(data_dir, env={}, log=lambda _: None) as urls:
        apply_migrations(urls.database_url)
        yield urls


@pytest.mark.parametrize("name", HANDLERS)
def test_handler_cold_start_is_within_twice_the_budget(
    lambda_package: Path, quiet_services: DataServiceUrls, name: str
) -> None:
    # GIVEN the deployed package and the environment a deployed function gets (real data
    # services behind it)
    env = {
        **os.environ,
        "PYTHONDONTWRITEBYTECODE": "1",
        "VENDYZ_ENV": "local",
        "DATABASE_URL": quiet_services.database_url,
        "REDIS_URL": quiet_services.redis_url,
        "NATS_URL": quiet_services.nats_url,
        "LAMBDA_ENDPOINT_URL": "http://127.0.0.1:9",
        # Named, not fetched: the key is read on first use, not at import.
        "JWT_SECRET_NAME": "vendyz/jwt",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    # WHEN the handler module is imported (and so initialised) in 5 fresh interpreters
    timings = []
    for _ in range(5):
        done = subprocess.run(
            [sys.executable, "-S", "-c", MEASURE.format(package=str(lambda_package), name=name)],
            cwd=lambda_package,
            env=env,
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, f"importing {name}'s handler failed:\n{done.stderr}"
        timings.append(float(done.stdout.strip().splitlines()[-1]))
    median = statistics.median(timings)
    print(f"\ncold start {name}: median {median:.0f} ms of {[round(t) for t in timings]}")
    # THEN the median stays within twice the budget
    assert median < 2 * BUDGET_MS, f"{name} cold start {median:.0f} ms"
