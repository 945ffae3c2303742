"""Redis (ElastiCache / Valkey): one client per instance, with a connection pool sized to it."""

from __future__ import annotations

import redis


def create_redis(url: str, *, max_connections: int = 64) -> redis.Redis:
    pool = redis.BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=5,
        socket_timeout=2,
        socket_connect_timeout=2,
        health_check_interval=30,
    )
    return redis.Redis(connection_pool=pool)
