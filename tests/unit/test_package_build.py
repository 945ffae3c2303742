"""The package `sam build` deploys (functions/Makefile), built for this machine: every function
of the template imports from it alone, from bytecode, without the heavy modules a cold start
must not pay for. Deterministic checks only; the timings are `vendyz bench --cold-start`."""

from __future__ import annotations

from pathlib import Path

import pytest

from localcloud.cloud import LocalCloud
from localcloud.package import build_package, cold_import, function_environment
from localcloud.template import load_template

ROOT = Path(__file__).resolve().parents[2]
HANDLERS = sorted({f.handler for f in load_template(ROOT / "template.yaml", {}).functions.values()})

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_package(tmp_path_factory.mktemp("lambda-package"))


def test_the_package_holds_compiled_code_and_the_migrations(package: Path) -> None:
    # GIVEN the built package
    # WHEN its code and migrations are listed
    sources = sorted(p.relative_to(package) for p in (package / "vendyz").rglob("*.py"))
    shipped = sorted(p.name for p in (package / "vendyz" / "migrate" / "migrations").iterdir())
    # THEN each source file has its bytecode beside it, and the migrations are real files,
    # the same as the repository's
    assert sources, "no vendyz code in the package"
    for source in sources:
        pyc = list((package / source.parent / "__pycache__").glob(f"{source.stem}.*.pyc"))
        assert pyc, f"{source} has no bytecode"
    assert shipped == sorted(p.name for p in (ROOT / "infra" / "migrations").glob("*.sql"))
    assert not (package / "vendyz" / "migrate" / "migrations").is_symlink()


@pytest.mark.parametrize("handler", HANDLERS)
def test_a_handler_imports_from_bytecode_without_heavy_modules(
    package: Path, local_cloud: LocalCloud, handler: str
) -> None:
    # GIVEN the package and a deployed function's environment (real data services behind it)
    assert local_cloud.urls is not None
    env = function_environment(
        {
            "DATABASE_URL": local_cloud.urls.database_url,
            "REDIS_URL": local_cloud.urls.redis_url,
            "NATS_URL": local_cloud.urls.nats_url,
        }
    )
    # WHEN a fresh interpreter imports the handler from the package alone
    imported = cold_import(package, handler, env)
    # THEN nothing came from source, and none of the heavy modules was imported
    assert imported.from_source == []
    assert imported.heavy_modules == [], f"{handler} imports {imported.heavy_modules}"
