"""The NATS bridge against real NATS JetStream, Valkey and PostgreSQL, pushing to moto's
`@connections` API (tests/apigw.py).

The module runs its own data services, so its bridges hold the only durable consumer on
that stream. Connections are registered in Redis by the Realtime function's own store, so
the bridge is checked to read what Realtime writes.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nats
import psycopg
import pytest
import redis
from nats.js.api import StorageType, StreamConfig

from bridge.app import Bridge
from bridge.consumer import DURABLE, STREAM
from bridge.registry import CONNECTIONS_KEY, connection_key
from bridge.settings import Settings
from bridge.stock import PRODUCT_LIST_VERSION_KEY, product_key
from localcloud.bridge_process import BridgeProcess, bridge_environment
from localcloud.services import DataServices, DataServiceUrls
from tests.apigw import REGION, RecordingPoster, client, close_connection
from vendyz.migrate.service import MIGRATIONS_DIR, MigrationService
from vendyz.realtime import store as realtime

pytestmark = pytest.mark.slow

HEARTBEAT_S = 1.0
WAIT_S = 15.0
AWS_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


# -- the world around the bridge --------------------------------------------------------------
@pytest.fixture(scope="module")
def urls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DataServiceUrls]:
    services = DataServices(tmp_path_factory.mktemp("bridge"), env={}, log=lambda _: None)
    started = services.start()
    try:
        MigrationService(started.database_url, MIGRATIONS_DIR).migrate(time_left_ms=60_000)
        asyncio.run(_create_stream(started.nats_url))
        yield started
    finally:
        services.stop()


async def _create_stream(nats_url: str) -> None:
    """The stream as vendyz.core.jetstream.ensure_stream creates it (BRIEF contract 1)."""
    client = await nats.connect(nats_url)
    await client.jetstream().add_stream(
        StreamConfig(
            name=STREAM,
            subjects=["inventory.>", "product.>", "order.>", "health.>"],
            storage=StorageType.FILE,
            duplicate_window=120,
            max_age=7 * 24 * 3600,
        )
    )
    await client.close()


@pytest.fixture
def cache(urls: DataServiceUrls) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(urls.redis_url)
    client.delete(CONNECTIONS_KEY)  # each test registers its own connections
    yield client
    client.close()


@pytest.fixture
def poster(connections_endpoint: str) -> RecordingPoster:
    return RecordingPoster(client(connections_endpoint))


def settings(urls: DataServiceUrls) -> Settings:
    return Settings(
        nats_url=urls.nats_url,
        redis_url=urls.redis_url,
        database_url=urls.database_url,
        connections_endpoint_url="http://unused.invalid",  # the poster is given
        heartbeat_seconds=HEARTBEAT_S,
        region=REGION,
    )


class RunningBridge:
    """A bridge on an event loop of its own thread, stopped as SIGTERM stops it."""

    def __init__(self, urls: DataServiceUrls, poster: RecordingPoster) -> None:
        self._loop = asyncio.new_event_loop()
        self._stop = asyncio.Event()
        bridge = Bridge(settings(urls), poster)
        self._thread = threading.Thread(
            target=self._loop.run_until_complete, args=(bridge.run(self._stop),), daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=WAIT_S)
        assert not self._thread.is_alive(), "the bridge did not stop"
        self._loop.close()


@pytest.fixture
def start_bridge(
    urls: DataServiceUrls, poster: RecordingPoster
) -> Iterator[Callable[[], RunningBridge]]:
    bridges: list[RunningBridge] = []

    def start() -> RunningBridge:
        bridges.append(RunningBridge(urls, poster))
        return bridges[-1]

    yield start
    wait_until(lambda: consumer_idle(urls), "the bridge acknowledged every event")
    for bridge in bridges:
        bridge.stop()


# -- helpers ----------------------------------------------------------------------------------
def wait_until(condition: Callable[[], object], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"not within {WAIT_S:.0f}s: {what}")
        time.sleep(0.05)


def register(
    cache: redis.Redis, connection_id: str, user_id: str = "", products: tuple[str, ...] = ()
) -> None:
    """Record a connection as the Realtime function does: on $connect, then on subscribe."""
    now_ms = int(time.time() * 1000)
    realtime.register(cache, connection_id, user_id=user_id, connected_at_ms=now_ms)
    if products:
        realtime.refresh(
            cache,
            connection_id,
            user_id=user_id,
            connected_at_ms=now_ms,
            now_ms=now_ms,
            products=products,
        )


def publish(
    nats_url: str,
    events: list[tuple[str, dict[str, Any]]],
    *,
    pause_s: float = 0,
    commit: Callable[[], object] | None = None,
) -> None:
    """Publish to the stream as the outbox does: JSON payload, Nats-Msg-Id = event id;
    `commit` runs before each (the change the event tells of)."""

    async def run() -> None:
        client = await nats.connect(nats_url)
        js = client.jetstream()
        for subject, fields in events:
            if commit is not None:
                commit()
            event_id = str(uuid.uuid4())
            payload = {"eventId": event_id, "occurredAt": _now_iso(), **fields}
            await js.publish(
                subject, json.dumps(payload).encode(), headers={"Nats-Msg-Id": event_id}
            )
            if pause_s:
                await asyncio.sleep(pause_s)
        await client.close()

    asyncio.run(run())


def _now_iso() -> str:
    """RFC 3339 to the microsecond, as vendyz.core.events writes occurredAt."""
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def consumer_idle(urls: DataServiceUrls) -> bool:
    async def run() -> bool:
        client = await nats.connect(urls.nats_url)
        info = await client.jetstream().consumer_info(STREAM, DURABLE)
        await client.close()
        return info.num_pending == 0 and info.num_ack_pending == 0

    return asyncio.run(run())


def add_product(urls: DataServiceUrls, product_id: str, stock: int) -> None:
    with psycopg.connect(urls.database_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO inventory.products (product_id, name, stock) VALUES (%s, %s, %s)",
            (product_id, product_id, stock),
        )


def reserve(conn: psycopg.Connection[Any], product_id: str) -> None:
    """One unit sold, as a reservation commits it."""
    conn.execute(
        "UPDATE inventory.products SET stock = stock - 1 WHERE product_id = %s", (product_id,)
    )


def stock_values(poster: RecordingPoster, connection_id: str, product_id: str) -> list[int]:
    return [
        m["stock"] for m in poster.messages(connection_id, "stock") if m["productId"] == product_id
    ]


# -- the tests --------------------------------------------------------------------------------
def services_up(message: dict[str, Any]) -> dict[str, bool]:
    return {s["service"]: s["isUp"] for s in message["services"]}


def test_a_connection_gets_health_as_it_changes_and_a_gone_one_is_dropped(
    urls: DataServiceUrls,
    connections_endpoint: str,
    cache: redis.Redis,
    poster: RecordingPoster,
    start_bridge: Callable[[], RunningBridge],
) -> None:
    # GIVEN inventory's heartbeat written before the bridge starts, and two connections, one
    # already closed
    inventory_seen_at = time.time()
    cache.set("health:inventory", str(inventory_seen_at))
    register(cache, "health-open")
    register(cache, "health-closed")
    close_connection(connections_endpoint, "health-closed")

    # WHEN the bridge runs, and inventory's and orders' heartbeat events come in
    start_bridge()
    wait_until(lambda: poster.messages("health-open", "health"), "a first health push")
    publish(
        urls.nats_url,
        [("health.ping", {"service": "inventory"}), ("health.ping", {"service": "orders"})],
    )

    # THEN the open connection is told, in pushes on each change, that inventory, orders and
    # the bridge itself are up (auth never beat), in the original's shape
    expected = {"auth": False, "inventory": True, "orders": True, "bridge": True}
    wait_until(
        lambda: any(services_up(m) == expected for m in poster.messages("health-open", "health")),
        f"a health push showing {expected}",
    )
    first = poster.messages("health-open", "health")[0]
    assert [s["service"] for s in first["services"]] == ["auth", "inventory", "orders", "bridge"]
    assert all(set(s) == {"service", "lastSeen", "isUp"} for s in first["services"])
    # AND the first push already knew inventory's beat from before the bridge started
    seeded = next(s["lastSeen"] for s in first["services"] if s["service"] == "inventory")
    assert abs(seeded - inventory_seen_at * 1000) < 1
    # AND the closed one (410) is gone from the registry
    wait_until(
        lambda: (
            cache.zscore(CONNECTIONS_KEY, "health-closed") is None
            and not cache.exists(connection_key("health-closed"))
        ),
        "the gone connection dropped from the registry",
    )
    assert cache.zscore(CONNECTIONS_KEY, "health-open") is not None
    # AND the bridge recorded its own heartbeat where GET /health reads it
    assert float(cache.get("health:bridge") or 0) > time.time() - 10 * HEARTBEAT_S


def test_stock_pushes_are_coalesced_and_the_last_one_is_the_final_stock(
    urls: DataServiceUrls,
    cache: redis.Redis,
    poster: RecordingPoster,
    start_bridge: Callable[[], RunningBridge],
) -> None:
    # GIVEN a product with stock 100, a watcher of it, a watcher of everything, a watcher
    # of another product, and a stale cached view of the product
    add_product(urls, "coalesce-1", 100)
    register(cache, "watch-one", products=("coalesce-1",))
    register(cache, "watch-all")
    register(cache, "watch-other", products=("product-elsewhere",))
    cache.set(product_key("coalesce-1"), json.dumps({"product_id": "coalesce-1", "stock": 100}))
    version_before = int(cache.get(PRODUCT_LIST_VERSION_KEY) or 0)
    start_bridge()
    wait_until(lambda: poster.messages("watch-one", "health"), "the bridge to see the watchers")

    # WHEN 100 reservations commit within about a second, their events carrying figures out
    # of commit order (as concurrent reservations' events may arrive)
    figures = list(range(100))
    random.shuffle(figures)
    events = [
        ("inventory.reserved", {"productId": "coalesce-1", "remainingStock": remaining})
        for remaining in figures
    ]
    with psycopg.connect(urls.database_url, autocommit=True) as conn:
        publish(urls.nats_url, events, pause_s=0.01, commit=lambda: reserve(conn, "coalesce-1"))
    wait_until(lambda: stock_values(poster, "watch-one", "coalesce-1")[-1:] == [0], "stock 0")
    wait_until(lambda: consumer_idle(urls), "every event handled")

    # THEN its watchers got a handful of pushes, at most 4 a second, the last the final stock
    pushes = [m for m in poster.messages("watch-one", "stock") if m["productId"] == "coalesce-1"]
    span_ms = pushes[-1]["at"] - pushes[0]["at"]
    assert 2 <= len(pushes) <= 2 + span_ms / 250, [(p["stock"], p["at"]) for p in pushes]
    assert len(pushes) < 20
    assert pushes[-1] == {
        "type": "stock",
        "productId": "coalesce-1",
        "stock": 0,
        "soldOut": True,
        "at": pushes[-1]["at"],
    }
    stocks = [p["stock"] for p in pushes]
    assert stocks == sorted(stocks, reverse=True)
    assert stock_values(poster, "watch-all", "coalesce-1")[-1] == 0
    # AND the watcher of another product got none of them
    assert stock_values(poster, "watch-other", "coalesce-1") == []
    # AND the product's cached views were dropped, to be refilled from PostgreSQL
    assert not cache.exists(product_key("coalesce-1"))
    assert int(cache.get(PRODUCT_LIST_VERSION_KEY) or 0) > version_before


def test_an_order_is_pushed_to_its_buyers_own_connections_only(
    urls: DataServiceUrls,
    cache: redis.Redis,
    poster: RecordingPoster,
    start_bridge: Callable[[], RunningBridge],
) -> None:
    # GIVEN a buyer on two connections, another user, and an anonymous watcher
    register(cache, "buyer-a-phone", user_id="user-a")
    register(cache, "buyer-a-laptop", user_id="user-a")
    register(cache, "buyer-b", user_id="user-b")
    register(cache, "anonymous")
    start_bridge()
    wait_until(lambda: poster.messages("anonymous", "health"), "the bridge to see the watchers")

    # WHEN each user's order is recorded
    order_a, order_b = str(uuid.uuid4()), str(uuid.uuid4())
    publish(
        urls.nats_url,
        [
            (
                "order.created",
                {
                    "orderId": order_a,
                    "userId": "user-a",
                    "productId": "product-2",
                    "quantity": 2,
                    "status": "CONFIRMED",
                },
            ),
            (
                "order.created",
                {
                    "orderId": order_b,
                    "userId": "user-b",
                    "productId": "product-1",
                    "quantity": 1,
                    "status": "FAILED",
                    "reason": "OUT_OF_STOCK",
                },
            ),
        ],
    )
    wait_until(lambda: poster.messages("buyer-b", "order"), "user b's order push")
    wait_until(lambda: consumer_idle(urls), "every event handled")

    # THEN each buyer's connections got their own order, and nobody else did
    pushed_a = {
        "type": "order",
        "orderId": order_a,
        "status": "CONFIRMED",
        "productId": "product-2",
        "quantity": 2,
        "reason": None,
    }
    assert poster.messages("buyer-a-phone", "order") == [pushed_a]
    assert poster.messages("buyer-a-laptop", "order") == [pushed_a]
    assert poster.messages("buyer-b", "order") == [
        {
            "type": "order",
            "orderId": order_b,
            "status": "FAILED",
            "productId": "product-1",
            "quantity": 1,
            "reason": "OUT_OF_STOCK",
        }
    ]
    assert poster.messages("anonymous", "order") == []


def test_a_buyer_who_connects_just_before_ordering_gets_the_order_push(
    urls: DataServiceUrls,
    cache: redis.Redis,
    poster: RecordingPoster,
    start_bridge: Callable[[], RunningBridge],
) -> None:
    # GIVEN a running bridge that has read the registry
    register(cache, "early-watcher")
    start_bridge()
    wait_until(
        lambda: poster.messages("early-watcher", "health"), "the bridge to read the registry"
    )

    # WHEN a buyer connects and their order is recorded at once, before the bridge's next read
    register(cache, "quick-buyer", user_id="user-quick")
    order_id = str(uuid.uuid4())
    publish(
        urls.nats_url,
        [("order.created", {"orderId": order_id, "userId": "user-quick", "status": "CONFIRMED"})],
    )

    # THEN the buyer's connection still gets the push
    wait_until(lambda: poster.messages("quick-buyer", "order"), "the quick buyer's order push")
    assert [m["orderId"] for m in poster.messages("quick-buyer", "order")] == [order_id]


def test_a_connection_that_starts_watching_after_a_push_is_sent_the_current_stock(
    urls: DataServiceUrls,
    cache: redis.Redis,
    poster: RecordingPoster,
    start_bridge: Callable[[], RunningBridge],
) -> None:
    # GIVEN a product whose stock change was pushed to its watcher
    add_product(urls, "late-1", 8)
    register(cache, "first-watcher", products=("late-1",))
    start_bridge()
    wait_until(
        lambda: poster.messages("first-watcher", "health"), "the bridge to read the registry"
    )
    with psycopg.connect(urls.database_url, autocommit=True) as conn:
        publish(
            urls.nats_url,
            [("inventory.reserved", {"productId": "late-1"})],
            commit=lambda: reserve(conn, "late-1"),
        )
    wait_until(lambda: stock_values(poster, "first-watcher", "late-1") == [7], "the push of 7")

    # WHEN another connection subscribes to it, with no change after
    register(cache, "late-watcher", products=("late-1",))

    # THEN it is sent the current stock too
    wait_until(lambda: stock_values(poster, "late-watcher", "late-1") == [7], "a catch-up push")
    assert stock_values(poster, "first-watcher", "late-1") == [7]


def test_a_killed_bridge_restarted_resumes_from_its_durable_consumer(
    urls: DataServiceUrls,
    cache: redis.Redis,
    poster: RecordingPoster,
    start_bridge: Callable[[], RunningBridge],
    tmp_path: Path,
) -> None:
    # GIVEN a bridge process (as vendyz up runs it) that handled a buyer's first orders
    add_product(urls, "resume-1", 50)
    register(cache, "resume-buyer", user_id="user-resume")
    register(cache, "resume-watcher", products=("resume-1",))
    process = BridgeProcess(tmp_path / "bridge.log")
    # (its pushes go nowhere: only what it acknowledged matters here)
    process.start(bridge_environment(AWS_ENV, urls, "http://127.0.0.1:9", HEARTBEAT_S))
    before = [str(uuid.uuid4()) for _ in range(5)]
    publish(urls.nats_url, [("order.created", order(o)) for o in before])
    wait_until(lambda: consumer_idle(urls), "the first bridge acknowledged the first orders")

    # WHEN it is killed outright, events keep coming while it is down, and a bridge starts again
    assert process.pid is not None
    os.kill(process.pid, signal.SIGKILL)
    process.stop()
    during = [str(uuid.uuid4()) for _ in range(5)]
    publish(urls.nats_url, [("order.created", order(o)) for o in during])
    reserved = [("inventory.reserved", {"productId": "resume-1"})] * 20
    with psycopg.connect(urls.database_url, autocommit=True) as conn:
        publish(urls.nats_url, reserved, commit=lambda: reserve(conn, "resume-1"))
    start_bridge()

    # THEN it pushes every order that came while it was down, and none handled before
    wait_until(
        lambda: {m["orderId"] for m in poster.messages("resume-buyer", "order")} == set(during),
        "the orders placed while the bridge was down",
    )
    # AND the watcher ends on the final stock
    wait_until(lambda: stock_values(poster, "resume-watcher", "resume-1")[-1:] == [30], "stock 30")
    wait_until(lambda: consumer_idle(urls), "every event handled")
    assert sorted(m["orderId"] for m in poster.messages("resume-buyer", "order")) == sorted(during)


def order(order_id: str) -> dict[str, Any]:
    return {
        "orderId": order_id,
        "userId": "user-resume",
        "productId": "resume-1",
        "quantity": 1,
        "status": "CONFIRMED",
    }
