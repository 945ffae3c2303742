"""HealthService with fakes at its seams: a dict for Redis, a list for the pings, a clock."""

from __future__ import annotations

from collections.abc import Sequence
from typing import get_args

import pytest

from vendyz.core.errors import Unprocessable
from vendyz.health.api import ServiceName
from vendyz.health.service import SERVICES, HealthService
from vendyz.health.store import parse_last_seen

INTERVAL = 60.0
NOW = 1_764_547_200.0  # 2025-12-01T00:00:00Z


class FakeStore:
    def __init__(self, seen: dict[str, float] | None = None) -> None:
        self.seen = dict(seen or {})

    def last_seen(self, services: Sequence[str]) -> list[float | None]:
        return [self.seen.get(s) for s in services]

    def record_seen(self, service: str, seen_at: float) -> None:
        self.seen[service] = seen_at


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def health(
    seen: dict[str, float] | None = None, now: float = NOW
) -> tuple[HealthService, FakeStore, list[str]]:
    store, pings = FakeStore(seen), []

    def publish(service: str) -> bool:
        pings.append(service)
        return True

    service = HealthService(
        store, publish, heartbeat_interval_seconds=INTERVAL, clock=FakeClock(now)
    )
    return service, store, pings


def status_of(service: HealthService, name: str) -> dict[str, object]:
    (entry,) = [s for s in service.statuses() if s["service"] == name]
    return entry


def test_every_service_is_listed_in_order_and_a_never_seen_one_is_down_with_lastseen_0() -> None:
    # GIVEN no heartbeat ever
    service, _, _ = health()
    # WHEN the statuses are read
    # THEN all four services are there, in the design's order, down, lastSeen 0
    assert service.statuses() == [
        {"service": name, "lastSeen": 0, "isUp": False}
        for name in ("auth", "inventory", "orders", "bridge")
    ]
    assert SERVICES == ("auth", "inventory", "orders", "bridge")


@pytest.mark.parametrize(
    ("age_seconds", "is_up"),
    [
        (0.0, True),  # just seen
        (INTERVAL, True),  # one interval: the next beat is due
        (2.5 * INTERVAL - 0.001, True),
        (2.5 * INTERVAL, True),  # the edge itself still counts as seen within the window
        (2.5 * INTERVAL + 0.001, False),  # a moment past it: down
        (10 * INTERVAL, False),  # stale
        (-5.0, True),  # a beat from a host whose clock is a little ahead
    ],
    ids=["just", "one-interval", "inside-edge", "edge", "past-edge", "stale", "clock-ahead"],
)
def test_up_means_seen_within_two_and_a_half_intervals(age_seconds: float, is_up: bool) -> None:
    # GIVEN orders last seen `age_seconds` ago
    service, _, _ = health({"orders": NOW - age_seconds})
    # WHEN its status is read  THEN it is up exactly when inside the window
    entry = status_of(service, "orders")
    assert entry["isUp"] is is_up
    assert entry["lastSeen"] == round((NOW - age_seconds) * 1000)


def test_last_seen_is_in_milliseconds_since_the_epoch() -> None:
    # GIVEN a beat at a fractional second
    service, _, _ = health({"auth": NOW - 1.2345})
    # WHEN read  THEN lastSeen is the ms since the epoch, rounded
    assert status_of(service, "auth")["lastSeen"] == 1_764_547_198_766


def test_a_service_turns_down_when_its_beats_stop() -> None:
    # GIVEN inventory just seen
    clock = FakeClock(NOW)
    store = FakeStore({"inventory": NOW})
    service = HealthService(store, lambda _: True, heartbeat_interval_seconds=INTERVAL, clock=clock)
    assert status_of(service, "inventory")["isUp"] is True
    # WHEN no beat comes for 2.5 intervals and a moment  THEN it is down, lastSeen unchanged
    clock.now = NOW + 2.5 * INTERVAL + 1
    assert status_of(service, "inventory") == {
        "service": "inventory",
        "lastSeen": round(NOW * 1000),
        "isUp": False,
    }
    # AND a new beat brings it back up
    store.record_seen("inventory", clock.now)
    assert status_of(service, "inventory")["isUp"] is True


def test_a_ping_records_a_beat_now_and_announces_it() -> None:
    # GIVEN the bridge never seen
    service, store, pings = health()
    # WHEN an admin pings it
    entry = service.ping("bridge")
    # THEN it is recorded as seen now, announced once, and shows up
    assert entry == {"service": "bridge", "lastSeen": round(NOW * 1000), "isUp": True}
    assert store.seen == {"bridge": NOW}
    assert pings == ["bridge"]
    assert status_of(service, "bridge")["isUp"] is True


def test_a_ping_for_an_unknown_service_names_the_field_and_records_nothing() -> None:
    service, store, pings = health()
    # WHEN a service that does not exist is pinged  THEN a 422 names the field, nothing written
    with pytest.raises(Unprocessable) as refused:
        service.ping("payments")
    assert refused.value.message.startswith("service:")
    assert store.seen == {}
    assert pings == []


def test_a_shorter_interval_shortens_the_window() -> None:
    # GIVEN the local cloud's 2 s heartbeats and a beat 6 s ago (more than 2.5 x 2 s)
    store = FakeStore({"auth": NOW - 6})
    service = HealthService(
        store, lambda _: True, heartbeat_interval_seconds=2, clock=FakeClock(NOW)
    )
    # THEN auth is down
    assert status_of(service, "auth")["isUp"] is False


@pytest.mark.parametrize(
    ("stored", "seconds"),
    [
        (None, None),  # never written
        (b"1764547200.5", 1_764_547_200.5),  # seconds, as the heartbeats write it
        (b"1764547200500", 1_764_547_200.5),  # milliseconds, as another writer may
        (b"not a time", None),  # unreadable: treated as never seen
    ],
    ids=["missing", "seconds", "milliseconds", "garbage"],
)
def test_stored_last_seen_values_are_read_as_seconds(
    stored: bytes | None, seconds: float | None
) -> None:
    assert parse_last_seen(stored) == seconds


def test_the_ping_route_accepts_exactly_the_services_health_reports() -> None:
    # GIVEN the names POST /health/ping validates against, and the services GET /health lists
    # THEN they are the same four
    assert get_args(ServiceName) == SERVICES
