"""Bringing a database's schema up to the migrations shipped with the code. No Lambda types.

Two kinds of file, named as Flyway names them:
- versioned, `NNNN_what.sql`: applied once each, in order of NNNN; editing one after it was
  applied is refused (add a new one instead);
- repeatable, `R__what.sql`: the current definition of database code (the reservation
  function), re-applied whenever its checksum changes, after the versioned ones. Each must be
  safe to re-run (CREATE OR REPLACE).
A run is one transaction under an advisory lock: a failing file leaves the database as it
was, and two deploys never migrate at once. A database that recorded a versioned migration
newer than any shipped here is ahead (a newer deploy migrated it): nothing is applied, and
that is a success.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from vendyz.migrate import store

# Shipped beside the code (a link to infra/migrations in the repository; copied by the build).
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
_VERSIONED = re.compile(r"(\d+)_[a-z0-9_]+\.sql")
_REPEATABLE = re.compile(r"R__[a-z0-9_]+\.sql")
_VERSION_NUMBER = re.compile(r"(\d+)_")
# Time kept back from the function's remaining time to report a migration that ran out of it.
REPORT_MARGIN_MS = 5_000


class MigrationError(RuntimeError):
    """The migrations cannot be applied as shipped (a bad name, an edited applied file)."""


@dataclass(frozen=True)
class Migration:
    version: str  # the file name without .sql, as recorded
    sql: str
    checksum: str

    @property
    def repeatable(self) -> bool:
        return self.version.startswith("R__")

    @property
    def number(self) -> int:
        number = _number(self.version)
        return -1 if number is None else number


def _number(version: str) -> int | None:
    """NNNN of a versioned migration's name; None for any other name."""
    found = _VERSION_NUMBER.match(version)
    return int(found.group(1)) if found else None


@dataclass(frozen=True)
class MigrationReport:
    applied: list[str] = field(default_factory=list)
    # Recorded in the database but not shipped here: a newer deploy's, or retired files.
    unknown: list[str] = field(default_factory=list)
    ahead: bool = False

    def as_data(self) -> dict[str, str]:
        """CloudFormation's resource Data (string values)."""
        return {
            "Applied": ",".join(self.applied),
            "Unknown": ",".join(self.unknown),
            "Ahead": str(self.ahead).lower(),
        }


def load_migrations(directory: Path) -> list[Migration]:
    """Every migration file, versioned ones in order then repeatable ones by name."""
    versioned, repeatable = [], []
    for path in sorted(directory.iterdir()):
        if path.name.startswith(".") or path.is_dir():
            continue
        sql = path.read_text()
        migration = Migration(path.stem, sql, hashlib.sha256(sql.encode()).hexdigest())
        if _VERSIONED.fullmatch(path.name):
            versioned.append(migration)
        elif _REPEATABLE.fullmatch(path.name):
            repeatable.append(migration)
        else:
            raise MigrationError(f"{path.name}: not NNNN_name.sql nor R__name.sql")
    versioned.sort(key=lambda m: m.number)
    numbers = [m.number for m in versioned]
    if len(set(numbers)) != len(numbers):
        raise MigrationError(f"two versioned migrations share a number: {numbers}")
    return versioned + repeatable


def migrations_hash(migrations: list[Migration]) -> str:
    """One hash of every file's name and content: it changes whenever a migration does."""
    digest = hashlib.sha256()
    for migration in migrations:
        digest.update(f"{migration.version}:{migration.checksum}\n".encode())
    return digest.hexdigest()


def plan(migrations: list[Migration], recorded: dict[str, str]) -> MigrationReport:
    """What a run would apply to a database that recorded `recorded`."""
    shipped = {m.version for m in migrations}
    unknown = sorted(v for v in recorded if v not in shipped)
    newest = max((m.number for m in migrations if not m.repeatable), default=-1)
    ahead = any(Migration(v, "", "").number > newest for v in unknown)
    if ahead:
        return MigrationReport(unknown=unknown, ahead=True)
    pending = []
    for migration in migrations:
        checksum = recorded.get(migration.version)
        if checksum is None or (migration.repeatable and checksum != migration.checksum):
            pending.append(migration.version)
        elif checksum != migration.checksum:
            raise MigrationError(f"{migration.version}.sql changed after it was applied")
    return MigrationReport(applied=pending, unknown=unknown)


class MigrationService:
    def __init__(
        self,
        database_url: str,
        directory: Path,
        ensure_stream: Callable[[], object] | None = None,
    ) -> None:
        """`ensure_stream`: creates the JetStream stream the events go to (run after the
        schema, as part of the same deploy step)."""
        self._database_url = database_url
        self._directory = directory
        self._ensure_stream = ensure_stream

    def migrate(self, *, time_left_ms: int) -> MigrationReport:
        """Apply what the database lacks, within `time_left_ms` (less a margin to report)."""
        migrations = load_migrations(self._directory)
        by_version = {m.version: m for m in migrations}
        budget_ms = max(time_left_ms - REPORT_MARGIN_MS, 1_000)
        with (
            psycopg.connect(
                self._database_url, autocommit=True, connect_timeout=max(budget_ms // 1000, 1)
            ) as conn,
            conn.transaction(),
        ):
            store.limit_waits(conn, budget_ms)
            store.lock(conn)
            store.ensure_history(conn)
            report = plan(migrations, store.recorded(conn))
            for version in report.applied:
                migration = by_version[version]
                store.apply(conn, version, migration.sql, migration.checksum)
        if self._ensure_stream is not None:
            self._ensure_stream()
        return report
