"""What a migration run would apply, from the files shipped and the history a database
recorded (the SQL runs in tests/integration/test_migrations.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from vendyz.migrate.service import (
    MIGRATIONS_DIR,
    MigrationError,
    load_migrations,
    migrations_hash,
    plan,
)

ROOT = Path(__file__).resolve().parents[2]


def test_a_database_migrated_before_the_repeatable_file_gets_only_that_file() -> None:
    # GIVEN a database migrated when the reservation function was versioned migration 0002
    shipped = load_migrations(MIGRATIONS_DIR)
    checksums = {m.version: m.checksum for m in shipped}
    recorded = {
        "0001_schemas": checksums["0001_schemas"],
        "0002_reserve_stock": "the old file's checksum",
        "0003_auth": checksums["0003_auth"],
    }
    # WHEN the run is planned
    report = plan(shipped, recorded)
    # THEN it applies the repeatable file (CREATE OR REPLACE) and keeps 0002 as history
    assert (report.applied, report.unknown, report.ahead) == (
        ["R__reserve_stock"],
        ["0002_reserve_stock"],
        False,
    )


def test_versioned_files_run_in_number_order_before_repeatable_ones(tmp_path: Path) -> None:
    # GIVEN files whose names sort otherwise (10 before 9 as text)
    for name in ("R__a_function.sql", "10_later.sql", "9_earlier.sql"):
        (tmp_path / name).write_text("SELECT 1;")
    # WHEN they are loaded  THEN versioned ones come by number, repeatable ones last
    assert [m.version for m in load_migrations(tmp_path)] == [
        "9_earlier",
        "10_later",
        "R__a_function",
    ]


@pytest.mark.parametrize("name", ["add_table.sql", "0004-dash.sql", "V4__flyway.sql"])
def test_a_file_named_otherwise_is_refused(tmp_path: Path, name: str) -> None:
    # GIVEN a migration file whose name is neither NNNN_name.sql nor R__name.sql
    (tmp_path / name).write_text("SELECT 1;")
    # WHEN the migrations are loaded  THEN the file is named in the error
    with pytest.raises(MigrationError, match=name):
        load_migrations(tmp_path)


def test_the_hash_changes_with_any_file(tmp_path: Path) -> None:
    # GIVEN a set of migrations and its hash
    (tmp_path / "0001_a.sql").write_text("SELECT 1;")
    before = migrations_hash(load_migrations(tmp_path))
    # WHEN a file is added  THEN the hash changes (and so the Migrations resource runs)
    (tmp_path / "R__b.sql").write_text("SELECT 2;")
    assert migrations_hash(load_migrations(tmp_path)) != before


def test_the_migrations_are_kept_once_in_infra() -> None:
    # GIVEN the directory the migrate function reads
    # WHEN it is resolved  THEN it is infra/migrations itself (the package links to it)
    assert MIGRATIONS_DIR.resolve() == ROOT / "infra" / "migrations"
