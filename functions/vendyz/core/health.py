"""A service's heartbeat: check its own PostgreSQL, Redis and NATS, record when it was last
seen (Redis `health:{service}`, read by GET /health) and publish `health.ping` with what the
checks found. A failing check is reported, never raised: the beat is how we learn of it."""

from __future__ import annotations

import logging
import time
from typing import Any

import redis
from psycopg_pool import ConnectionPool

from vendyz.core.db import Connection
from vendyz.core.events import EventPublisher, new_event
from vendyz.core.markers import heartbeat_key

CHECK_TIMEOUT_SECONDS = 2.0

log = logging.getLogger(__name__)


def _postgres_answers(pool: ConnectionPool[Connection]) -> bool:
    try:
        with pool.connection(timeout=CHECK_TIMEOUT_SECONDS) as conn:
            conn.execute("SELECT 1").fetchone()
    except Exception:  # whatever the failure, it is this check's answer
        log.warning("heartbeat: PostgreSQL check failed", exc_info=True)
        return False
    return True


def _record_seen(cache: redis.Redis, service: str, seen_at: float) -> bool:
    """Write last-seen (seconds since the epoch, as text); the write is the Redis check."""
    try:
        cache.set(heartbeat_key(service), str(seen_at))
    except Exception:
        log.warning("heartbeat: Redis check failed", exc_info=True)
        return False
    return True


def beat(
    service: str,
    pool: ConnectionPool[Connection],
    cache: redis.Redis,
    publisher: EventPublisher,
) -> dict[str, Any]:
    """One heartbeat; returns what it found and whether the ping reached the stream."""
    seen_at = time.time()
    checks = {
        "postgres": _postgres_answers(pool),
        "redis": _record_seen(cache, service, seen_at),
        "nats": publisher.reachable(),
    }
    event = new_event("health.ping", {"service": service, "checks": checks})
    published = bool(publisher.publish([event]))
    return {
        "service": service,
        "lastSeen": int(seen_at * 1000),
        "checks": checks,
        "published": published,
    }
