"""The migrate function as CloudFormation drives it: Create / Update / Delete events of the
Custom::Migrations resource, against a fresh PostgreSQL database each, with the ResponseURL
served by the test (as CloudFormation's pre-signed S3 URL receives the answer)."""

from __future__ import annotations

import importlib
import json
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from localcloud.cloud import LocalCloud
from localcloud.provision import response_urls
from localcloud.sandbox import LambdaContext
from vendyz.migrate.service import MIGRATIONS_DIR, MigrationService

ROOT = Path(__file__).resolve().parents[2]
VENDYZ = ROOT / ".venv" / "bin" / "vendyz"
SHIPPED = ["0001_schemas", "0003_auth", "0004_account_checks", "R__reserve_stock"]


@pytest.fixture
def fresh_database(local_cloud: LocalCloud) -> Iterator[str]:
    """An empty database on the session's PostgreSQL; dropped afterwards."""
    assert local_cloud.urls is not None
    name = f"migrate_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(local_cloud.urls.database_url, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    yield make_conninfo(local_cloud.urls.database_url, dbname=name)
    with psycopg.connect(local_cloud.urls.database_url, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE {name} WITH (FORCE)")


@dataclass
class Stack:
    """A stack whose Migrations resource MigrateFunction serves, against one database."""

    database: str
    function: ModuleType
    response_base: str
    received: dict[str, dict[str, Any]]
    monkeypatch: pytest.MonkeyPatch
    scratch: Path

    def ship(self, directory: Path = MIGRATIONS_DIR) -> None:
        """The function as deployed with `directory` as its migrations."""
        service = MigrationService(self.database, directory)
        self.monkeypatch.setattr(self.function, "service", service)

    def send(self, request_type: str) -> dict[str, Any]:
        """One CloudFormation event to the handler; returns the answer it PUT."""
        request_id = str(uuid.uuid4())
        event = {
            "RequestType": request_type,
            "ServiceToken": "arn:aws:lambda:us-east-1:000000000000:function:MigrateFunction",
            "ResponseURL": f"{self.response_base}/{request_id}",
            "StackId": "arn:aws:cloudformation:us-east-1:000000000000:stack/vendyz-test/1",
            "RequestId": request_id,
            "ResourceType": "Custom::Migrations",
            "LogicalResourceId": "Migrations",
            "ResourceProperties": {"MigrationsHash": "abc"},
        }
        if request_type != "Create":
            event["PhysicalResourceId"] = "Migrations"
        context = LambdaContext(
            function_name="MigrateFunction",
            memory_limit_in_mb=512,
            invoked_function_arn=event["ServiceToken"],
            aws_request_id=str(uuid.uuid4()),
            deadline=time.monotonic() + 60,
        )
        self.function.handler(event, context)
        answer = self.received.pop(f"/{request_id}")
        assert answer["RequestId"] == request_id
        assert answer["StackId"] == event["StackId"]
        return answer

    def update_shipping(self, **files: str) -> dict[str, Any]:
        """Update with the shipped migrations plus `files` (name without .sql -> text)."""
        directory = self.scratch / uuid.uuid4().hex
        shutil.copytree(MIGRATIONS_DIR, directory)
        for name, text in files.items():
            (directory / f"{name}.sql").write_text(text)
        self.ship(directory)
        return self.send("Update")


@pytest.fixture
def stack(
    local_cloud: LocalCloud,
    fresh_database: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> Iterator[Stack]:
    # The handler module imported here with the function's environment set first (as Lambda
    # and `vendyz migrate` do); the local cloud's own instances of it are processes apart.
    for name, value in local_cloud.environments["MigrateFunction"].items():
        monkeypatch.setenv(name, value)
    function = importlib.import_module("vendyz.migrate.handler")
    with response_urls() as (base, received):
        deployed = Stack(fresh_database, function, base, received, monkeypatch, tmp_path)
        deployed.ship()
        yield deployed


def schema_of(url: str) -> dict[str, Any]:
    """What a user of the database can see: its tables, functions and migration history."""
    with psycopg.connect(url) as conn:
        tables = conn.execute(
            "SELECT table_schema || '.' || table_name FROM information_schema.tables"
            " WHERE table_schema IN ('auth', 'inventory', 'orders', 'public') ORDER BY 1"
        ).fetchall()
        functions = conn.execute(
            "SELECT n.nspname || '.' || p.proname FROM pg_proc p"
            " JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'inventory'"
        ).fetchall()
        history: list[tuple[str, str]] = []
        if ("public.schema_migrations",) in tables:
            history = conn.execute(
                "SELECT version, checksum FROM public.schema_migrations ORDER BY version"
            ).fetchall()
    return {
        "tables": [t for (t,) in tables],
        "functions": [f for (f,) in functions],
        "history": history,
    }


def test_create_applies_every_migration_and_answers_success(stack: Stack) -> None:
    # GIVEN an empty database and the function deployed against it
    # WHEN CloudFormation creates the Migrations resource
    answer = stack.send("Create")
    # THEN it answers SUCCESS (with no Content-Type, which the URL is signed for), naming
    # what was applied, under a physical id that stays the same
    assert answer["Status"] == "SUCCESS", answer
    assert (answer["LogicalResourceId"], answer["PhysicalResourceId"]) == ("Migrations",) * 2
    assert answer["Data"]["Applied"] == ",".join(SHIPPED)
    # AND the schema is there: every service's tables, the reservation function, the history
    schema = schema_of(stack.database)
    for table in ("auth.users", "auth.revoked_tokens", "inventory.products", "orders.orders"):
        assert table in schema["tables"]
    assert schema["functions"] == ["inventory.reserve_stock"]
    assert [version for version, _ in schema["history"]] == sorted(SHIPPED)


def test_update_and_delete_change_nothing_once_migrated(stack: Stack) -> None:
    # GIVEN a database the Create already migrated
    stack.send("Create")
    before = schema_of(stack.database)
    # WHEN CloudFormation sends an Update (another property changed) and then a Delete
    update, delete = stack.send("Update"), stack.send("Delete")
    # THEN both answer SUCCESS, apply nothing, keep the physical id, and the schema stays
    assert (update["Status"], update["Data"]["Applied"]) == ("SUCCESS", "")
    assert (delete["Status"], delete["Data"]) == ("SUCCESS", {})
    assert update["PhysicalResourceId"] == delete["PhysicalResourceId"] == "Migrations"
    assert schema_of(stack.database) == before


def test_a_failing_migration_answers_failed_and_leaves_the_database_as_it_was(
    stack: Stack,
) -> None:
    # GIVEN a migrated database
    stack.send("Create")
    before = schema_of(stack.database)
    # WHEN the next deploy ships 0005 (fine) and 0006 (its first statement works, its second
    # does not)
    answer = stack.update_shipping(
        **{
            "0005_wishlist": "CREATE TABLE orders.wishlist (user_id uuid PRIMARY KEY);",
            "0006_broken": "CREATE TABLE orders.broken (id int);\n"
            "ALTER TABLE orders.no_such_table ADD COLUMN x int;",
        }
    )
    # THEN it answers FAILED with PostgreSQL's reason
    assert answer["Status"] == "FAILED"
    assert 'relation "orders.no_such_table" does not exist' in answer["Reason"]
    # AND nothing of the run is kept: not 0005, not 0006's first statement, no history row
    assert schema_of(stack.database) == before


def test_a_changed_repeatable_migration_is_applied_again(stack: Stack) -> None:
    # GIVEN a migrated database
    stack.send("Create")
    # WHEN the next deploy changes the reservation function's file
    current = (MIGRATIONS_DIR / "R__reserve_stock.sql").read_text()
    renamed = current.replace("'UNKNOWN_PRODUCT'::text", "'NO_SUCH_PRODUCT'::text")
    answer = stack.update_shipping(R__reserve_stock=renamed)
    # THEN only that file is applied, and the database runs the new definition
    assert (answer["Status"], answer["Data"]["Applied"]) == ("SUCCESS", "R__reserve_stock")
    with psycopg.connect(stack.database) as conn:
        row = conn.execute(
            "SELECT reason FROM inventory.reserve_stock(gen_random_uuid(), 'nope', 1,"
            " gen_random_uuid())"
        ).fetchone()
    assert row == ("NO_SUCH_PRODUCT",)


def test_an_applied_migration_edited_afterwards_is_refused(stack: Stack) -> None:
    # GIVEN a migrated database
    stack.send("Create")
    before = schema_of(stack.database)
    # WHEN the next deploy ships an applied versioned file edited
    answer = stack.update_shipping(**{"0003_auth": "SELECT 1;"})
    # THEN it answers FAILED naming the file, and the database is as it was
    assert answer["Status"] == "FAILED"
    assert "0003_auth.sql changed after it was applied" in answer["Reason"]
    assert schema_of(stack.database) == before


def test_a_database_already_ahead_is_a_success(stack: Stack) -> None:
    # GIVEN a database a newer deploy migrated further (it recorded 0099, unknown here)
    stack.send("Create")
    with psycopg.connect(stack.database, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO public.schema_migrations (version, checksum) VALUES ('0099_later', 'x')"
        )
    before = schema_of(stack.database)
    # WHEN this (older) code's resource is updated, a rollback say
    answer = stack.send("Update")
    # THEN it answers SUCCESS, says the database is ahead, and changes nothing
    assert answer["Status"] == "SUCCESS", answer
    assert answer["Data"] == {"Applied": "", "Unknown": "0099_later", "Ahead": "true"}
    assert schema_of(stack.database) == before


def test_an_unreachable_database_still_gets_cloudformation_an_answer(
    stack: Stack, tmp_path: Path
) -> None:
    # GIVEN the function deployed against a database that is not there
    stack.database = f"postgresql://nobody@/nowhere?host={tmp_path}"
    stack.ship()
    # WHEN CloudFormation creates the resource
    answer = stack.send("Create")
    # THEN the exception becomes a FAILED answer with the reason, not a stack left waiting
    assert answer["Status"] == "FAILED"
    assert answer["Reason"].startswith("OperationalError")


def test_two_deploys_at_once_apply_each_migration_once(fresh_database: str) -> None:
    # GIVEN two instances migrating one empty database at the same moment
    services = [MigrationService(fresh_database, MIGRATIONS_DIR) for _ in range(2)]
    reports: list[list[str]] = []
    threads = [
        threading.Thread(target=lambda s=s: reports.append(s.migrate(time_left_ms=60_000).applied))
        for s in services
    ]
    # WHEN both run
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # THEN the advisory lock lets one apply everything and the other find nothing to do
    assert sorted(reports) == [[], SHIPPED]


def test_the_cli_runs_the_same_task_and_a_rerun_is_a_no_op(fresh_database: str) -> None:
    # GIVEN an empty database
    def migrate() -> dict[str, str]:
        done = subprocess.run(
            [str(VENDYZ), "migrate", "--database-url", fresh_database],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        result: dict[str, str] = json.loads(done.stdout.strip().splitlines()[-1])
        return result

    # WHEN an operator runs `vendyz migrate --database-url ...` twice
    first, second = migrate(), migrate()
    # THEN the first applies every migration and the second nothing
    assert first["Applied"] == ",".join(SHIPPED)
    assert second["Applied"] == ""
    assert "inventory.products" in schema_of(fresh_database)["tables"]
