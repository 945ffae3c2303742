"""Auth's Lambda entry. Everything here runs once per instance, at import (the JWT key itself
is fetched on first use, not here)."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from vendyz.auth.api import create_auth_app
from vendyz.auth.service import AuthService
from vendyz.core.entry import lambda_entry
from vendyz.core.identity import RevocationList
from vendyz.core.instance import open_instance
from vendyz.core.tokens import Tokens

SERVICE = "auth"

instance = open_instance(SERVICE)
service = AuthService(
    instance.pool,
    instance.cache,
    Tokens.from_settings(instance.settings),
    token_ttl_seconds=instance.settings.jwt_ttl_seconds,
)


def heartbeat() -> dict[str, Any]:
    """The service's heartbeat, plus the revocation upkeep that rides on its schedule."""
    return {**instance.heartbeat(), **service.maintain_revocations()}


def seed_admin() -> dict[str, str]:
    """The admin account a new deployment starts with (the template's SeedAdmin resource)."""
    settings = instance.settings
    if settings.auth_seed_secret_name:
        # Imported here: boto3 (~60 ms of cold start) serves only this task and the JWT key.
        from aws_lambda_powertools.utilities import parameters

        secret = json.loads(str(parameters.get_secret(settings.auth_seed_secret_name)))
        return service.ensure_admin(email=secret["email"], password=secret["password"])
    if not settings.is_local:
        # Never the public local default in AWS.
        return {"admin": "", "created": "false"}
    return service.ensure_admin(
        email=settings.auth_seed_email, password=settings.auth_seed_password.get_secret_value()
    )


def on_seed_admin_resource(_: dict[str, Any], __: LambdaContext) -> dict[str, str]:
    return seed_admin()


handler = lambda_entry(
    instance.obs,
    app=create_auth_app(service, RevocationList(instance.cache)),
    tasks={"heartbeat": heartbeat},
    custom_resource=on_seed_admin_resource,
)
