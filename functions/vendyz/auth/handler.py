"""Auth's Lambda entry. Everything here runs once per instance, at import (the JWT key itself
is fetched on first use, not here)."""

from __future__ import annotations

from typing import Any

from vendyz.auth.api import create_auth_app
from vendyz.auth.service import AuthService
from vendyz.core.cache import create_redis
from vendyz.core.db import create_pool
from vendyz.core.entry import lambda_entry
from vendyz.core.events import EventPublisher
from vendyz.core.health import beat
from vendyz.core.observability import observability
from vendyz.core.settings import get_settings
from vendyz.core.tokens import Tokens

SERVICE = "auth"

settings = get_settings()
obs = observability(SERVICE)
cache = create_redis(settings.redis_url)
publisher = EventPublisher(settings.nats_url)
service = AuthService(
    create_pool(settings.database_url, max_size=settings.db_pool_max_size, name=SERVICE),
    cache,
    Tokens.from_settings(settings),
    token_ttl_seconds=settings.jwt_ttl_seconds,
)


def heartbeat() -> dict[str, Any]:
    """The service's heartbeat, plus the revocation upkeep that rides on its schedule."""
    return {**beat(SERVICE, cache, publisher), **service.maintain_revocations()}


handler = lambda_entry(obs, app=create_auth_app(service), tasks={"heartbeat": heartbeat})
