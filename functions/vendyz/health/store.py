"""Last-seen times of the services, in Redis (`health:{service}`; each heartbeat writes its
own), and the health.ping a recorded beat announces. No SQL: health has no schema."""

from __future__ import annotations

from collections.abc import Sequence

import redis

from vendyz.core.events import EventPublisher, new_event
from vendyz.core.markers import heartbeat_key

# A value this large is milliseconds since the epoch, not seconds (year 5138 in seconds).
_MILLISECONDS_FROM = 1e11


def parse_last_seen(value: bytes | str | None) -> float | None:
    """A last-seen value as seconds since the epoch; None when never seen or unreadable."""
    if value is None:
        return None
    try:
        seen = float(value)
    except ValueError:
        return None
    return seen / 1000 if seen >= _MILLISECONDS_FROM else seen


class RedisHealthStore:
    def __init__(self, cache: redis.Redis) -> None:
        self._cache = cache

    def last_seen(self, services: Sequence[str]) -> list[float | None]:
        """One round trip (MGET)."""
        values = self._cache.mget([heartbeat_key(s) for s in services])
        return [parse_last_seen(v) for v in values]

    def record_seen(self, service: str, seen_at: float) -> None:
        self._cache.set(heartbeat_key(service), str(seen_at))


class PingPublisher:
    def __init__(self, publisher: EventPublisher) -> None:
        self._publisher = publisher

    def __call__(self, service: str) -> bool:
        """A health.ping for `service`, True once the stream holds it."""
        return bool(self._publisher.publish([new_event("health.ping", {"service": service})]))
