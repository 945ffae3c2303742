"""Last-seen per service from `health.ping` events, and the `health` message built from it."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

SERVICES = ("auth", "inventory", "orders", "bridge")
# A service is up when seen within this many heartbeat intervals (a late or lost beat or
# two is not an outage).
UP_WITHIN_INTERVALS = 2.5


def heartbeat_key(service: str) -> str:
    """The Redis key where a service writes its last-seen time (as the functions do)."""
    return f"health:{service}"


def parse_occurred_at(text: object) -> int | None:
    """An event's RFC 3339 `occurredAt` in ms since the epoch; None if it is not one."""
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    return int(moment.timestamp() * 1000)


def parse_last_seen(raw: bytes | str | None) -> int:
    """A `health:{service}` value in ms (0 if absent or garbled): written as seconds since the
    epoch (a float); a value that large already is taken as ms."""
    try:
        value = float(raw or 0)
    except ValueError:
        return 0
    return int(value if value > 1e11 else value * 1000)


class HealthBoard:
    def __init__(self, heartbeat_seconds: float) -> None:
        self._window_ms = UP_WITHIN_INTERVALS * heartbeat_seconds * 1000
        self._last_seen = dict.fromkeys(SERVICES, 0)

    def seen(self, service: str, at_ms: int) -> None:
        """Record a beat; an older one arriving late changes nothing."""
        if service in self._last_seen:
            self._last_seen[service] = max(self._last_seen[service], at_ms)

    def seed(self, last_seen: Mapping[str, int]) -> None:
        for service, at_ms in last_seen.items():
            self.seen(service, at_ms)

    def up(self, now_ms: int) -> tuple[bool, ...]:
        return tuple(now_ms - seen <= self._window_ms for seen in self._last_seen.values())

    def message(self, now_ms: int) -> dict[str, Any]:
        services = [
            {"service": service, "lastSeen": seen, "isUp": is_up}
            for (service, seen), is_up in zip(self._last_seen.items(), self.up(now_ms), strict=True)
        ]
        return {"type": "health", "services": services}
