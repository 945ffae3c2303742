"""The migrate function as CloudFormation drives it: Create / Update / Delete events of the
Custom::Migrations resource, against a fresh PostgreSQL database each, with the ResponseURL
served by the test (as CloudFormation's pre-signed S3 URL would receive the answer)."""

from __future__ import annotations

import importlib
import json
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from localcloud.cloud import LocalCloud
from localcloud.runtime import LambdaContext
from vendyz.migrate.service import MIGRATIONS_DIR, MigrationService

ROOT = Path(__file__).resolve().parents[2]
VENDYZ = ROOT / ".venv" / "bin" / "vendyz"
SHIPPED = ["0001_schemas", "0003_auth", "R__reserve_stock"]
Uses = Callable[..., None]
Invokes = Callable[[dict[str, Any]], Any]


@dataclass
class CloudFormation:
    """Stands where CloudFormation's ResponseURL points: records each PUT."""

    base_url: str
    answers: list[dict[str, Any]] = field(default_factory=list)
    content_types: list[str | None] = field(default_factory=list)

    def event(self, request_type: str, **extra: Any) -> dict[str, Any]:
        request_id = str(uuid.uuid4())
        return {
            "RequestType": request_type,
            "ServiceToken": "arn:aws:lambda:us-east-1:000000000000:function:MigrateFunction",
            "ResponseURL": f"{self.base_url}/cfn-response/{request_id}",
            "StackId": "arn:aws:cloudformation:us-east-1:000000000000:stack/vendyz-test/1",
            "RequestId": request_id,
            "ResourceType": "Custom::Migrations",
            "LogicalResourceId": "Migrations",
            "ResourceProperties": {"MigrationsHash": "abc"},
            **extra,
        }


@pytest.fixture
def cloudformation() -> Iterator[CloudFormation]:
    received = CloudFormation("")

    class Receiver(BaseHTTPRequestHandler):
        def do_PUT(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.answers.append(json.loads(body))
            received.content_types.append(self.headers.get("Content-Type"))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    received.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    yield received
    server.shutdown()
    server.server_close()


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


@pytest.fixture
def migrate_function(local_cloud: LocalCloud) -> ModuleType:
    """MigrateFunction's handler module, imported once its environment is set (as in Lambda;
    the local cloud has imported it already)."""
    return importlib.import_module("vendyz.migrate.handler")


@pytest.fixture
def use_database(
    migrate_function: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., None]:
    """use_database(url, directory): the function's instance as deployed against `url` (its
    DATABASE_URL), shipping `directory` as its migrations."""

    def use(url: str, directory: Path = MIGRATIONS_DIR) -> None:
        monkeypatch.setattr(migrate_function, "service", MigrationService(url, directory))

    return use


@pytest.fixture
def invoke(migrate_function: ModuleType) -> Callable[[dict[str, Any]], Any]:
    """invoke(event): one invocation of the function, with a minute to run."""

    def run(event: dict[str, Any]) -> Any:
        return _invoke(migrate_function, event)

    return run


def _invoke(function: ModuleType, event: dict[str, Any], timeout_seconds: float = 60) -> Any:
    context = LambdaContext(
        function_name="MigrateFunction",
        memory_limit_in_mb=512,
        invoked_function_arn="arn:aws:lambda:us-east-1:000000000000:function:MigrateFunction",
        aws_request_id=str(uuid.uuid4()),
        deadline=time.monotonic() + timeout_seconds,
    )
    return function.handler(event, context)


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


def shipped_copy(tmp_path: Path) -> Path:
    directory = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, directory)
    return directory


def test_create_applies_every_migration_and_answers_success(
    cloudformation: CloudFormation, fresh_database: str, use_database: Uses, invoke: Invokes
) -> None:
    # GIVEN an empty database and the function deployed against it
    use_database(fresh_database)
    # WHEN CloudFormation creates the Migrations resource
    event = cloudformation.event("Create")
    invoke(event)
    # THEN it got one SUCCESS answer for this request, naming what was applied
    (answer,) = cloudformation.answers
    assert answer["Status"] == "SUCCESS", answer
    assert answer["RequestId"] == event["RequestId"]
    assert answer["StackId"] == event["StackId"]
    assert answer["LogicalResourceId"] == "Migrations"
    assert answer["PhysicalResourceId"] == "Migrations"
    assert answer["Data"]["Applied"] == ",".join(SHIPPED)
    # (the pre-signed URL is signed for an empty Content-Type)
    assert cloudformation.content_types == [""]
    # AND the schema is there: every service's tables, the reservation function, the history
    schema = schema_of(fresh_database)
    for table in ("auth.users", "auth.revoked_tokens", "inventory.products", "orders.orders"):
        assert table in schema["tables"]
    assert schema["functions"] == ["inventory.reserve_stock"]
    assert [version for version, _ in schema["history"]] == sorted(SHIPPED)


def test_update_and_delete_change_nothing_once_migrated(
    cloudformation: CloudFormation, fresh_database: str, use_database: Uses, invoke: Invokes
) -> None:
    # GIVEN a database the Create already migrated
    use_database(fresh_database)
    invoke(cloudformation.event("Create"))
    before = schema_of(fresh_database)
    # WHEN CloudFormation sends an Update (another property changed) and then a Delete
    invoke(cloudformation.event("Update", PhysicalResourceId="Migrations"))
    invoke(cloudformation.event("Delete", PhysicalResourceId="Migrations"))
    # THEN both answer SUCCESS, apply nothing, keep the physical id, and the schema stays
    _, update, delete = cloudformation.answers
    assert (update["Status"], update["Data"]["Applied"]) == ("SUCCESS", "")
    assert (delete["Status"], delete["Data"]) == ("SUCCESS", {})
    assert update["PhysicalResourceId"] == delete["PhysicalResourceId"] == "Migrations"
    assert schema_of(fresh_database) == before


def test_a_failing_migration_answers_failed_and_leaves_the_database_as_it_was(
    cloudformation: CloudFormation,
    fresh_database: str,
    use_database: Uses,
    invoke: Invokes,
    tmp_path: Path,
) -> None:
    # GIVEN a migrated database, then a deploy whose new migrations are 0004 (fine) and
    # 0005 (fails half-way: its first statement works, its second does not)
    use_database(fresh_database)
    invoke(cloudformation.event("Create"))
    before = schema_of(fresh_database)
    directory = shipped_copy(tmp_path)
    (directory / "0004_wishlist.sql").write_text(
        "CREATE TABLE orders.wishlist (user_id uuid PRIMARY KEY);"
    )
    (directory / "0005_broken.sql").write_text(
        "CREATE TABLE orders.broken (id int);\nALTER TABLE orders.no_such_table ADD COLUMN x int;"
    )
    use_database(fresh_database, directory)
    # WHEN CloudFormation updates the resource
    invoke(cloudformation.event("Update", PhysicalResourceId="Migrations"))
    # THEN it answers FAILED with PostgreSQL's reason
    answer = cloudformation.answers[-1]
    assert answer["Status"] == "FAILED"
    assert 'relation "orders.no_such_table" does not exist' in answer["Reason"]
    # AND nothing of the run is kept: not 0004, not 0005's first statement, no history row
    assert schema_of(fresh_database) == before


def test_a_changed_repeatable_migration_is_applied_again(
    cloudformation: CloudFormation,
    fresh_database: str,
    use_database: Uses,
    invoke: Invokes,
    tmp_path: Path,
) -> None:
    # GIVEN a migrated database, then a deploy that changes the reservation function's file
    use_database(fresh_database)
    invoke(cloudformation.event("Create"))
    directory = shipped_copy(tmp_path)
    changed = directory / "R__reserve_stock.sql"
    changed.write_text(
        changed.read_text().replace("'UNKNOWN_PRODUCT'::text", "'NO_SUCH_PRODUCT'::text")
    )
    use_database(fresh_database, directory)
    # WHEN CloudFormation updates the resource
    invoke(cloudformation.event("Update", PhysicalResourceId="Migrations"))
    # THEN only that file is applied, and the database runs the new definition
    answer = cloudformation.answers[-1]
    assert (answer["Status"], answer["Data"]["Applied"]) == ("SUCCESS", "R__reserve_stock")
    with psycopg.connect(fresh_database) as conn:
        row = conn.execute(
            "SELECT reason FROM inventory.reserve_stock(gen_random_uuid(), 'nope', 1,"
            " gen_random_uuid())"
        ).fetchone()
    assert row == ("NO_SUCH_PRODUCT",)


def test_an_applied_migration_edited_afterwards_is_refused(
    cloudformation: CloudFormation,
    fresh_database: str,
    use_database: Uses,
    invoke: Invokes,
    tmp_path: Path,
) -> None:
    # GIVEN a migrated database, then a deploy in which an applied versioned file was edited
    use_database(fresh_database)
    invoke(cloudformation.event("Create"))
    before = schema_of(fresh_database)
    directory = shipped_copy(tmp_path)
    (directory / "0003_auth.sql").write_text("SELECT 1;")
    use_database(fresh_database, directory)
    # WHEN CloudFormation updates the resource
    invoke(cloudformation.event("Update", PhysicalResourceId="Migrations"))
    # THEN it answers FAILED naming the file, and the database is as it was
    answer = cloudformation.answers[-1]
    assert answer["Status"] == "FAILED"
    assert "0003_auth.sql changed after it was applied" in answer["Reason"]
    assert schema_of(fresh_database) == before


def test_a_database_already_ahead_is_a_success(
    cloudformation: CloudFormation, fresh_database: str, use_database: Uses, invoke: Invokes
) -> None:
    # GIVEN a database a newer deploy migrated further (it recorded 0099, unknown here)
    use_database(fresh_database)
    invoke(cloudformation.event("Create"))
    with psycopg.connect(fresh_database, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO public.schema_migrations (version, checksum) VALUES ('0099_later', 'x')"
        )
    before = schema_of(fresh_database)
    # WHEN this (older) code's resource is updated, a rollback say
    invoke(cloudformation.event("Update", PhysicalResourceId="Migrations"))
    # THEN it answers SUCCESS, says the database is ahead, and changes nothing
    answer = cloudformation.answers[-1]
    assert answer["Status"] == "SUCCESS", answer
    assert answer["Data"] == {"Applied": "", "Unknown": "0099_later", "Ahead": "true"}
    assert schema_of(fresh_database) == before


def test_an_unreachable_database_still_gets_cloudformation_an_answer(
    cloudformation: CloudFormation, use_database: Uses, invoke: Invokes, tmp_path: Path
) -> None:
    # GIVEN the function deployed against a database that is not there
    use_database(f"postgresql://nobody@/nowhere?host={tmp_path}")
    # WHEN CloudFormation creates the resource
    invoke(cloudformation.event("Create"))
    # THEN the exception becomes a FAILED answer with the reason, not a stack left waiting
    (answer,) = cloudformation.answers
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
