"""Redis (ElastiCache / Valkey): one client per instance, with a connection pool sized to it."""

from __future__ import annotations

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

# One quick retry of a dropped connection (a restarted Redis), and no more: redis-py's default
# (ten, backing off up to a second each) turns a Redis outage into ~4 s per call, where every
# caller here has an answer without Redis. A timeout is not retried: it already waited.
_RETRY = Retry(
    ExponentialBackoff(cap=0.05, base=0.01), 1, supported_errors=(redis.ConnectionError,)
)


def create_redis(url: str, *, max_connections: int = 64) -> redis.Redis:
    pool = redis.BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=5,
        socket_timeout=2,
        socket_connect_timeout=2,
        health_check_interval=30,
        retry=_RETRY,
    )
    return redis.Redis(connection_pool=pool, retry=_RETRY)
