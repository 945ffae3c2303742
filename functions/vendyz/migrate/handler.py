"""MigrateFunction's entry: applies the migrations shipped beside it (./migrations) and creates
the JetStream stream.

Run by the template's `Custom::Migrations` resource on every deploy that changes a migration
(its MigrationsHash property), and as the task `{"task": "migrate"}` (`vendyz migrate`).
Nothing here can fail at import: whatever goes wrong happens inside the invocation, where
CloudFormation still gets its answer. It needs only DATABASE_URL (and NATS_URL for the
stream), not the settings of the services, which also demand Redis.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from vendyz.core.entry import lambda_entry
from vendyz.core.jetstream import ensure_stream
from vendyz.core.observability import observability
from vendyz.migrate.service import MIGRATIONS_DIR, MigrationService

SERVICE = "migrate"
# The task's budget when no CloudFormation deadline applies: within the template's Timeout.
TASK_TIME_LEFT_MS = 240_000

obs = observability(SERVICE)


def stream_setup() -> Callable[[], object] | None:
    """ensure_stream for NATS_URL (none without it)."""
    nats_url = os.environ.get("NATS_URL", "")
    if not nats_url:
        return None
    return lambda: ensure_stream(nats_url)


service = MigrationService(os.environ.get("DATABASE_URL", ""), MIGRATIONS_DIR, stream_setup())


def migrate_task() -> dict[str, Any]:
    return dict(service.migrate(time_left_ms=TASK_TIME_LEFT_MS).as_data())


def on_migrations_resource(_: dict[str, Any], context: LambdaContext) -> dict[str, str]:
    return service.migrate(time_left_ms=context.get_remaining_time_in_millis()).as_data()


handler = lambda_entry(obs, tasks={"migrate": migrate_task}, custom_resource=on_migrations_resource)
