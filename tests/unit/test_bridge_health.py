"""The bridge's view of service health: up within 2.5 heartbeat intervals of the last beat."""

from __future__ import annotations

import pytest

from bridge.health import HealthBoard, parse_last_seen, parse_occurred_at
from bridge.settings import Settings, SettingsError

INTERVAL_S = 2.0
NOW_MS = 1_800_000_000_000


def test_a_service_is_up_within_two_and_a_half_intervals_of_its_last_beat() -> None:
    # GIVEN inventory seen just inside the window, orders just outside, auth never
    board = HealthBoard(heartbeat_seconds=INTERVAL_S)
    board.seen("inventory", NOW_MS - 5_000)
    board.seen("orders", NOW_MS - 5_001)
    # WHEN a late, older beat of inventory arrives after the newer one
    board.seen("inventory", NOW_MS - 60_000)

    # THEN the health message lists every service in the original's shape
    assert board.message(NOW_MS) == {
        "type": "health",
        "services": [
            {"service": "auth", "lastSeen": 0, "isUp": False},
            {"service": "inventory", "lastSeen": NOW_MS - 5_000, "isUp": True},
            {"service": "orders", "lastSeen": NOW_MS - 5_001, "isUp": False},
            {"service": "bridge", "lastSeen": 0, "isUp": False},
        ],
    }


def test_event_and_redis_times_read_as_ms_since_the_epoch() -> None:
    # GIVEN an event's occurredAt and a heartbeat key's value (seconds, as functions write it)
    # WHEN parsed
    # THEN both are ms since the epoch; garbage is "unknown", not a crash
    assert parse_occurred_at("2027-01-15T08:00:00.250000Z") == 1_800_000_000_250
    assert parse_occurred_at("yesterday") is None
    assert parse_occurred_at(None) is None
    assert parse_last_seen(b"1800000000.25") == 1_800_000_000_250
    assert parse_last_seen(b"1800000000250") == 1_800_000_000_250
    assert parse_last_seen(None) == 0
    assert parse_last_seen(b"soon") == 0


BASE_ENV = {
    "NATS_URL": "nats://127.0.0.1:4222",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    "DATABASE_URL": "postgresql://postgres@/vendyz",
    "CONNECTIONS_ENDPOINT_URL": "http://127.0.0.1:3000/ws/",
}


def test_settings_come_from_the_environment() -> None:
    # GIVEN the bridge's environment as vendyz up sets it
    env = {**BASE_ENV, "HEARTBEAT_INTERVAL_SECONDS": "2.5", "AWS_REGION": "eu-west-1"}
    # WHEN read
    settings = Settings.from_env(env)
    # THEN every value is taken, the endpoint without a trailing slash
    assert settings.connections_endpoint_url == "http://127.0.0.1:3000/ws"
    assert settings.heartbeat_seconds == 2.5
    assert settings.region == "eu-west-1"
    # AND the heartbeat defaults to AWS's schedule (a minute)
    assert Settings.from_env(BASE_ENV).heartbeat_seconds == 60.0


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"NATS_URL": ""}, "NATS_URL"),
        ({"CONNECTIONS_ENDPOINT_URL": ""}, "CONNECTIONS_ENDPOINT_URL"),
        ({"HEARTBEAT_INTERVAL_SECONDS": "often"}, "HEARTBEAT_INTERVAL_SECONDS"),
        ({"HEARTBEAT_INTERVAL_SECONDS": "0"}, "HEARTBEAT_INTERVAL_SECONDS"),
    ],
)
def test_a_missing_or_bad_variable_is_named(change: dict[str, str], named: str) -> None:
    # GIVEN an environment with one variable missing or garbled
    # WHEN read
    # THEN the error names it
    with pytest.raises(SettingsError, match=named):
        Settings.from_env({**BASE_ENV, **change})
