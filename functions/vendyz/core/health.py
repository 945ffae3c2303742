"""Service heartbeats: last-seen time in Redis (for GET /health) and a health.ping event."""

from __future__ import annotations

import time

import redis

from vendyz.core.events import EventPublisher, new_event
from vendyz.core.markers import heartbeat_key


def beat(service: str, cache: redis.Redis, publisher: EventPublisher) -> dict[str, str]:
    event = new_event("health.ping", {"service": service})
    cache.set(heartbeat_key(service), str(time.time()))
    publisher.publish_confirmed([event])
    return {"service": service, "lastSeen": event.payload["occurredAt"]}
