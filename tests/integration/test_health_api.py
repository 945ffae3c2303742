"""GET /api/v1/health and POST /api/v1/health/ping through the local cloud, fed by the
functions' real scheduled heartbeats (every 2 s in the test cloud)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import redis
from google.protobuf import json_format

from localcloud.cloud import LocalCloud
from tests.helpers import bearer, invoke, register_and_login
from tests.stream import stored_messages
from vendyz.core.contracts import events_pb2

FUNCTION_SERVICES = ("auth", "inventory", "orders")
# Generous: a few 2 s schedule intervals, on a busy machine.
DEADLINE_SECONDS = 20.0


def statuses(api: httpx.Client) -> dict[str, dict[str, Any]]:
    reply = api.get("/health")
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["success"] is True
    return {entry["service"]: entry for entry in body["data"]}


def wait_until(
    api: httpx.Client, done: Callable[[dict[str, dict[str, Any]]], bool]
) -> dict[str, dict[str, Any]]:
    deadline = time.monotonic() + DEADLINE_SECONDS
    current = statuses(api)
    while not done(current) and time.monotonic() < deadline:
        time.sleep(0.25)
        current = statuses(api)
    return current


def test_every_functions_service_shows_up_from_its_heartbeats(
    api: httpx.Client, cache: redis.Redis
) -> None:
    # GIVEN no service seen (their last-seen records wiped)
    wiped_at_ms = time.time() * 1000
    cache.delete(*(f"health:{s}" for s in FUNCTION_SERVICES))

    # WHEN the schedules run for a few intervals
    def all_freshly_up(now: dict[str, dict[str, Any]]) -> bool:
        return all(now[s]["isUp"] and now[s]["lastSeen"] >= wiped_at_ms for s in FUNCTION_SERVICES)

    seen = wait_until(api, all_freshly_up)
    # THEN GET /health lists the four services, each function's up with a fresh lastSeen
    assert list(seen) == ["auth", "inventory", "orders", "bridge"]
    for service in FUNCTION_SERVICES:
        assert seen[service]["isUp"] is True, seen
        assert seen[service]["lastSeen"] >= wiped_at_ms


def test_a_service_whose_schedule_stops_turns_down_and_back_up(
    local_cloud: LocalCloud, api: httpx.Client
) -> None:
    assert wait_until(api, lambda now: now["auth"]["isUp"])["auth"]["isUp"]
    # GIVEN auth's heartbeat schedule stopped
    local_cloud.pause_schedule("AuthFunction.Heartbeat")
    try:
        # WHEN 2.5 intervals pass without a beat
        down = wait_until(api, lambda now: not now["auth"]["isUp"])
        # THEN auth is down, and the others are still up
        assert down["auth"]["isUp"] is False
        assert down["auth"]["lastSeen"] > 0
        assert all(down[s]["isUp"] for s in ("inventory", "orders"))
    finally:
        local_cloud.resume_schedule("AuthFunction.Heartbeat")
    # AND once its schedule runs again it is back up
    assert wait_until(api, lambda now: now["auth"]["isUp"])["auth"]["isUp"] is True


def test_a_heartbeat_checks_its_dependencies_and_publishes_them_in_its_ping(
    local_cloud: LocalCloud, lambda_client: Any
) -> None:
    assert local_cloud.urls is not None
    since = datetime.now(UTC) - timedelta(seconds=1)
    # WHEN inventory's heartbeat task runs (invoked as its schedule invokes it)
    result = invoke(lambda_client, "InventoryFunction", {"task": "heartbeat"})
    # THEN it found PostgreSQL, Redis and NATS up and its ping is in the stream, with them
    assert result["service"] == "inventory"
    assert result["checks"] == {"postgres": True, "redis": True, "nats": True}
    assert result["published"] is True
    pings = stored_messages(local_cloud.urls.nats_url, "health.ping", since)
    mine = [p for _, p in pings if p["service"] == "inventory" and p["checks"] == result["checks"]]
    assert mine
    # AND the ping is the HealthPing message of proto/vendyz/events.proto, nothing more
    ping = json_format.ParseDict(mine[-1], events_pb2.HealthPing())
    assert ping.checks == events_pb2.HealthPing.Checks(postgres=True, redis=True, nats=True)


def test_an_admin_ping_records_a_beat_for_that_service(
    local_cloud: LocalCloud, api: httpx.Client, admin_token: str, cache: redis.Redis
) -> None:
    assert local_cloud.urls is not None
    # GIVEN the bridge not seen lately
    cache.delete("health:bridge")
    before_ms = time.time() * 1000
    since = datetime.now(UTC) - timedelta(seconds=1)
    # WHEN an admin pings it
    reply = api.post("/health/ping", json={"service": "bridge"}, headers=bearer(admin_token))
    # THEN it is recorded as seen now, shows up in GET /health, and its ping is in the stream
    assert reply.status_code == 200, reply.text
    entry = reply.json()["data"]
    assert entry["service"] == "bridge"
    assert entry["isUp"] is True
    assert entry["lastSeen"] >= before_ms - 1000
    assert statuses(api)["bridge"]["isUp"] is True
    pings = stored_messages(local_cloud.urls.nats_url, "health.ping", since)
    assert [p for _, p in pings if p["service"] == "bridge"]


def test_ping_refuses_unknown_services_non_admins_and_anonymous_callers(
    api: httpx.Client, admin_token: str, cache: redis.Redis
) -> None:
    _, shopper = register_and_login(api, prefix="health")
    # WHEN an admin pings a service that does not exist  THEN 422 names the field
    unknown = api.post("/health/ping", json={"service": "payments"}, headers=bearer(admin_token))
    assert unknown.status_code == 422, unknown.text
    assert [e["field"] for e in unknown.json()["data"]["errors"]] == ["service"]
    # AND a body without the field, or with extra ones, is refused the same way
    missing = api.post("/health/ping", json={}, headers=bearer(admin_token))
    assert missing.status_code == 422
    assert [e["field"] for e in missing.json()["data"]["errors"]] == ["service"]
    # WHEN a shopper pings  THEN 403; WHEN nobody logged in does  THEN 401
    assert (
        api.post("/health/ping", json={"service": "bridge"}, headers=bearer(shopper)).status_code
        == 403
    )
    assert api.post("/health/ping", json={"service": "bridge"}).status_code == 401
    # AND the unknown service got no record
    assert not cache.exists("health:payments")
