"""Health: which services are up, from their last heartbeats. No FastAPI, no Lambda types."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from vendyz.core.errors import Unprocessable

SERVICES = ("auth", "inventory", "orders", "bridge")
# Up = seen within this many heartbeat intervals: one late or lost beat is not an outage.
UP_WITHIN_INTERVALS = 2.5


class HealthStore(Protocol):
    def last_seen(self, services: Sequence[str]) -> list[float | None]: ...

    def record_seen(self, service: str, seen_at: float) -> None: ...


class HealthService:
    def __init__(
        self,
        store: HealthStore,
        publish_ping: Callable[[str], bool],
        *,
        heartbeat_interval_seconds: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`publish_ping(service)`: a health.ping for a recorded beat, True once stored."""
        self._store = store
        self._publish_ping = publish_ping
        self._window = UP_WITHIN_INTERVALS * heartbeat_interval_seconds
        self._clock = clock

    def statuses(self) -> list[dict[str, Any]]:
        """`[{service, lastSeen, isUp}]` for every service, in a fixed order; lastSeen in ms
        since the epoch, 0 = never."""
        now = self._clock()
        seen = self._store.last_seen(SERVICES)
        return [self._status(s, t, now) for s, t in zip(SERVICES, seen, strict=True)]

    def ping(self, service: str) -> dict[str, Any]:
        """Record a beat for `service` now (as its heartbeat would) and announce it."""
        if service not in SERVICES:
            raise Unprocessable(
                f"service: not one of {', '.join(SERVICES)}",
                data={"errors": [{"field": "service", "message": "unknown service"}]},
            )
        now = self._clock()
        self._store.record_seen(service, now)
        self._publish_ping(service)
        return self._status(service, now, now)

    def _status(self, service: str, seen_at: float | None, now: float) -> dict[str, Any]:
        # A beat from a host whose clock runs a little ahead (seen_at > now) counts as up.
        is_up = seen_at is not None and now - seen_at <= self._window
        last_seen = round(seen_at * 1000) if seen_at is not None else 0
        return {"service": service, "lastSeen": last_seen, "isUp": is_up}
