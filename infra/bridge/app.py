"""The bridge's loops, wired together: consume events, watch the connections and health,
push stock, beat."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from datetime import UTC, datetime

import nats
import nats.errors
import redis.asyncio
from nats.aio.client import Client as Nats
from redis.exceptions import RedisError

from bridge.connections_client import ConnectionsClient
from bridge.consumer import Delivery, DurableConsumer
from bridge.health import SERVICES, HealthBoard, heartbeat_key, parse_last_seen, parse_occurred_at
from bridge.pusher import Poster, Pusher
from bridge.registry import Changes, ConnectionRegistry
from bridge.settings import Settings
from bridge.sigv4 import credential_chain
from bridge.stock import StockFeed
from bridge.store import Database
from bridge.timing import every

log = logging.getLogger(__name__)

SERVICE = "bridge"
# How often the connection registry is re-read and health re-evaluated (a change of a
# service's up/down state is pushed within this).
WATCH_SECONDS = 0.5
# Every connection gets the whole health list this often, changed or not.
HEALTH_PUSH_SECONDS = 5.0
STOCK_TICK_SECONDS = 0.025


def _now_ms() -> int:
    return int(time.time() * 1000)


class Bridge:
    def __init__(self, settings: Settings, poster: Poster | None = None) -> None:
        self._settings = settings
        self._poster = poster or ConnectionsClient(
            settings.connections_endpoint_url, settings.region, credential_chain()
        )
        self._redis = redis.asyncio.from_url(
            settings.redis_url, socket_timeout=2, socket_connect_timeout=2
        )
        self._database = Database(settings.database_url)
        self._registry = ConnectionRegistry(self._redis)
        self._pusher = Pusher(self._poster, self._registry.drop)
        self._board = HealthBoard(settings.heartbeat_seconds)
        self._stock = StockFeed(self._database, self._redis, self._registry, self._pusher)
        self._order_pushes: set[asyncio.Task[None]] = set()
        self._health_pushed_at = float("-inf")
        self._health_pushed_up: tuple[bool, ...] = ()
        self._nats: Nats | None = None

    async def run(self, stop: asyncio.Event) -> None:
        """Until `stop` is set; everything it opened is closed on the way out."""
        try:
            self._nats = await _connect_nats(self._settings.nats_url, stop)
            if self._nats is None:
                return
            await self._seed_health()
            consumer = DurableConsumer(self._nats.jetstream(), self._handle)
            log.info("bridge running (heartbeat every %ss)", self._settings.heartbeat_seconds)
            await asyncio.gather(
                consumer.run(stop),
                every(WATCH_SECONDS, stop, self._watch),
                every(STOCK_TICK_SECONDS, stop, self._stock.tick),
                every(self._settings.heartbeat_seconds, stop, self._beat),
            )
        finally:
            for task in self._order_pushes:
                task.cancel()  # unacknowledged: delivered again to the next bridge
            if self._nats is not None:
                await self._nats.close()
            await self._poster.aclose()
            await self._database.close()
            await self._redis.aclose()
            log.info("bridge stopped")

    async def _handle(self, delivery: Delivery) -> None:
        subject, payload = delivery.subject, delivery.payload
        if subject == "health.ping":
            at_ms = parse_occurred_at(payload.get("occurredAt")) or _now_ms()
            self._board.seen(str(payload.get("service")), min(at_ms, _now_ms()))
            await delivery.ack()
        elif subject.startswith(("inventory.", "product.")) and payload.get("productId"):
            self._stock.changed(str(payload["productId"]), delivery.ack)
        elif subject.startswith("order.") and payload.get("orderId"):
            task = asyncio.create_task(self._push_order(delivery))
            self._order_pushes.add(task)
            task.add_done_callback(self._order_pushes.discard)
        else:
            await delivery.ack()

    async def _push_order(self, delivery: Delivery) -> None:
        payload = delivery.payload
        message = {
            "type": "order",
            "orderId": payload["orderId"],
            "status": payload.get("status"),
            "productId": payload.get("productId"),
            "quantity": payload.get("quantity"),
            "reason": payload.get("reason") or None,
        }
        # A buyer who connected just before ordering may not be in the last registry read.
        occurred_ms = parse_occurred_at(payload.get("occurredAt")) or 0
        await self._registry.read_since(occurred_ms, timeout=2 * WATCH_SECONDS)
        await self._pusher.push(self._registry.of_user(str(payload.get("userId") or "")), message)
        await delivery.ack()

    async def _seed_health(self) -> None:
        """Last-seen times written before this bridge started (its consumer resumes after
        them)."""
        try:
            values = await self._redis.mget([heartbeat_key(s) for s in SERVICES])
        except RedisError as error:
            log.warning("could not read last-seen times: %s", error)
            return
        self._board.seed(dict(zip(SERVICES, map(parse_last_seen, values), strict=True)))

    async def _watch(self) -> None:
        """Re-read the registry; push health to all on a change or when due, else to the
        connections that are new since the last look."""
        try:
            changes = await self._registry.refresh()
        except RedisError as error:
            log.warning("could not read the connection registry: %s", error)
            changes = Changes()
        self._stock.welcome(changes.watching_anew)
        new = changes.new
        now_ms = _now_ms()
        up = self._board.up(now_ms)
        due = time.monotonic() - self._health_pushed_at >= HEALTH_PUSH_SECONDS
        if up != self._health_pushed_up or due:
            self._health_pushed_up = up
            self._health_pushed_at = time.monotonic()
            await self._pusher.push(self._registry.all(), self._board.message(now_ms))
        elif new:
            await self._pusher.push(new, self._board.message(now_ms))

    async def _beat(self) -> None:
        """Check our own dependencies, record our last-seen time and publish `health.ping`."""
        assert self._nats is not None
        checks = {
            "postgres": await self._database.ping(),
            "redis": True,
            "nats": self._nats.is_connected,
        }
        seen = time.time()
        try:
            await self._redis.set(heartbeat_key(SERVICE), str(seen))
        except RedisError:
            checks["redis"] = False
        event_id = str(uuid.uuid4())
        occurred_at = datetime.fromtimestamp(seen, UTC).isoformat(timespec="microseconds")
        payload = {
            "eventId": event_id,
            "occurredAt": occurred_at.replace("+00:00", "Z"),
            "service": SERVICE,
            "checks": checks,
        }
        try:
            await self._nats.jetstream().publish(
                "health.ping",
                json.dumps(payload, separators=(",", ":")).encode(),
                headers={"Nats-Msg-Id": event_id},
                timeout=2,
            )
        except (nats.errors.Error, TimeoutError) as error:
            log.warning("could not publish the bridge's heartbeat: %s", error)
        self._board.seen(SERVICE, int(seen * 1000))


async def _connect_nats(url: str, stop: asyncio.Event) -> Nats | None:
    """Connected, waiting for the server if it is not up yet (nats-py retries on its own, then
    and after a disconnect); None if `stop` comes first."""

    async def on_error(error: Exception) -> None:
        log.warning("NATS: %s", error or type(error).__name__)

    connecting = asyncio.create_task(
        nats.connect(
            url,
            connect_timeout=2,
            reconnect_time_wait=0.5,
            max_reconnect_attempts=-1,
            error_cb=on_error,
        )
    )
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait({connecting, stopping}, return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    if not connecting.done():
        connecting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await connecting
        return None
    client: Nats = connecting.result()
    return client
