"""Health's Lambda entry. Everything here runs once per instance, at import.

It reads and writes Redis and publishes to NATS only: no PostgreSQL pool to open."""

from __future__ import annotations

from vendyz.core.cache import create_redis
from vendyz.core.entry import lambda_entry
from vendyz.core.events import EventPublisher
from vendyz.core.identity import RevocationList
from vendyz.core.observability import observability
from vendyz.core.settings import get_settings
from vendyz.health.api import create_health_app
from vendyz.health.service import HealthService
from vendyz.health.store import PingPublisher, RedisHealthStore

settings = get_settings()
cache = create_redis(settings.redis_url, max_connections=8)
service = HealthService(
    RedisHealthStore(cache),
    PingPublisher(EventPublisher(settings.nats_url)),
    heartbeat_interval_seconds=settings.heartbeat_interval_seconds,
)

handler = lambda_entry(
    observability("health"),
    app=create_health_app(service, RevocationList(cache)),
)
