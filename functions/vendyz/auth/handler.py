"""Auth's Lambda entry. Everything here runs once per instance, at import (the JWT key itself
is fetched on first use, not here)."""

from __future__ import annotations

from typing import Any

from vendyz.auth.api import create_auth_app
from vendyz.auth.service import AuthService, Limit, LoginLimits
from vendyz.core.entry import lambda_entry
from vendyz.core.identity import Sessions
from vendyz.core.instance import open_instance
from vendyz.core.tokens import Tokens

SERVICE = "auth"

instance = open_instance(SERVICE)
service = AuthService(
    instance.pool,
    instance.cache,
    Tokens.from_settings(instance.settings),
    token_ttl_seconds=instance.settings.jwt_ttl_seconds,
    limits=LoginLimits(
        registrations=Limit(instance.settings.registrations_per_address_per_hour, 3600)
    ),
)


def heartbeat() -> dict[str, Any]:
    """The service's heartbeat, plus the revocation upkeep that rides on its schedule."""
    return {**instance.heartbeat(), **service.maintain_revocations()}


handler = lambda_entry(
    instance.obs,
    app=create_auth_app(service, Sessions(instance.cache, instance.pool)),
    tasks={"heartbeat": heartbeat},
)
