"""`vendyz migrate`: the template's migrate task, run from here against any database.

It runs the function behind the template's Custom::Migrations resource, its handler as the
template declares it, with the task event `{"task": "migrate"}`: the code a deploy runs, for
LocalStack and for operators. It also keeps the resource's MigrationsHash property in step
with the migration files.
"""

from __future__ import annotations

import os
import re
import time
import uuid
from pathlib import Path
from typing import Any

from localcloud.sandbox import LambdaContext, load_handler
from localcloud.template import LOCAL_ACCOUNT, LOCAL_REGION, AppTemplate, load_template

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"
MIGRATIONS_TYPE = "Custom::Migrations"
_HASH_LINE = re.compile(r"^(\s+MigrationsHash: )(\S+)$", re.MULTILINE)


def _migrate_function(template: AppTemplate) -> str:
    (resource,) = [r for r in template.custom_resources if r.type == MIGRATIONS_TYPE]
    return resource.function


def run_migrate(database_url: str, nats_url: str = "", template_path: Path = TEMPLATE) -> Any:
    """Migrate `database_url` (and create the stream on `nats_url`, if given)."""
    template = load_template(template_path, {"DatabaseUrl": database_url, "NatsUrl": nats_url})
    spec = template.functions[_migrate_function(template)]
    # The handler reads its environment at import, as in Lambda; no X-Ray or CloudWatch here.
    os.environ.update(spec.environment)
    os.environ.update(POWERTOOLS_TRACE_DISABLED="true", POWERTOOLS_METRICS_DISABLED="true")
    handler = load_handler(spec.handler)
    context = LambdaContext(
        function_name=spec.name,
        memory_limit_in_mb=512,
        invoked_function_arn=f"arn:aws:lambda:{LOCAL_REGION}:{LOCAL_ACCOUNT}:function:{spec.name}",
        aws_request_id=str(uuid.uuid4()),
        deadline=time.monotonic() + spec.timeout_seconds,
    )
    return handler({"task": "migrate"}, context)


def migrations_hash() -> str:
    from vendyz.migrate.service import MIGRATIONS_DIR, load_migrations, migrations_hash

    return migrations_hash(load_migrations(MIGRATIONS_DIR))


def stamp_template(template_path: Path = TEMPLATE) -> str:
    """Write the current hash into the template; returns it."""
    current = migrations_hash()
    text = template_path.read_text()
    if _HASH_LINE.search(text) is None:
        raise ValueError(f"{template_path.name} has no MigrationsHash property")
    template_path.write_text(_HASH_LINE.sub(lambda m: m.group(1) + current, text, count=1))
    return current
