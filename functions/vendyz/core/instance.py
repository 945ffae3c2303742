"""What one Lambda instance of a service opens once, at import, and keeps while warm."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import redis
from psycopg_pool import ConnectionPool

from vendyz.core.cache import create_redis
from vendyz.core.db import Connection, create_pool
from vendyz.core.events import EventPublisher
from vendyz.core.health import beat
from vendyz.core.observability import Observability, observability
from vendyz.core.settings import Settings, get_settings


@dataclass(frozen=True)
class Instance:
    service: str
    settings: Settings
    obs: Observability
    cache: redis.Redis
    publisher: EventPublisher
    pool: ConnectionPool[Connection]

    def heartbeat(self) -> dict[str, Any]:
        return beat(self.service, self.pool, self.cache, self.publisher)


def open_instance(service: str) -> Instance:
    settings = get_settings()
    return Instance(
        service=service,
        settings=settings,
        obs=observability(service),
        cache=create_redis(settings.redis_url),
        publisher=EventPublisher(settings.nats_url),
        pool=create_pool(
            settings.database_url,
            max_size=settings.db_pool_max_size,
            name=service,
            prepared_statements=settings.db_prepared_statements,
        ),
    )
