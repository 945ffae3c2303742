"""Stock pushes, coalesced per product.

Events from concurrent reservations can reach the stream out of commit order, so an event's
own figure may be older than another's that arrived first. An event only marks its product
due; when the product's turn comes (at most PUSHES_PER_SECOND times a second), its stock is
read from PostgreSQL, after the event's commit, so the last push always shows the last stock.
The events are acknowledged only once that push is done: a bridge stopped in between gets
them again, and pushes again. A connection that starts watching a product after its last
push (seen at the next registry read) is sent the current figure of products pushed lately.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg
from redis.asyncio import Redis
from redis.exceptions import RedisError

from bridge.pusher import Pusher
from bridge.registry import Connection, ConnectionRegistry
from bridge.store import Database

log = logging.getLogger(__name__)

PUSHES_PER_SECOND = 4
MIN_PUSH_INTERVAL_SECONDS = 1 / PUSHES_PER_SECOND
# A product pushed within this long is caught up on for connections that start watching it.
RECENT_PUSH_SECONDS = 60.0

Ack = Callable[[], Awaitable[None]]


# Inventory's cached views: a product's own entry, and the version the list pages are
# cached under (vendyz.inventory.service; a test checks the bridge's drop reaches them).
PRODUCT_LIST_VERSION_KEY = "products:version"


def product_key(product_id: str) -> str:
    return f"product:{product_id}"


class StockFeed:
    def __init__(
        self,
        database: Database,
        cache: Redis,
        registry: ConnectionRegistry,
        pusher: Pusher,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._database = database
        self._cache = cache
        self._registry = registry
        self._pusher = pusher
        self._clock = clock
        self._due: dict[str, list[Ack]] = {}  # product -> acks of the events awaiting a push
        self._pushed_at: dict[str, float] = {}
        self._welcomed: list[Connection] = []

    def changed(self, product_id: str, ack: Ack) -> None:
        """An event says the product's stock changed; `ack` once a later push went out."""
        self._due.setdefault(product_id, []).append(ack)

    def welcome(self, connections: list[Connection]) -> None:
        """Connections that started watching since the last registry read."""
        self._welcomed.extend(connections)

    async def tick(self) -> int:
        """Push every product whose turn has come, and catch up welcomed connections on the
        products pushed lately; how many products were pushed to their watchers. Pushes to
        one connection never overlap, so each sees the figures in order."""
        now = self._clock()
        ready = [
            product
            for product in self._due
            if now - self._pushed_at.get(product, float("-inf")) >= MIN_PUSH_INTERVAL_SECONDS
        ]
        welcomed, self._welcomed = self._welcomed, []
        catch_up = self._catch_up(welcomed, now, exclude=set(ready))
        if not ready and not catch_up:
            return 0
        acks = {product: self._due.pop(product) for product in ready}
        try:
            stock = await self._database.stock_of([*ready, *catch_up])
        except psycopg.Error as error:
            log.warning("could not read stock of %d product(s): %s", len(ready), error)
            for product, waiting in acks.items():  # due again on the next tick
                self._due.setdefault(product, []).extend(waiting)
            self._welcomed.extend(welcomed)
            return 0
        at_ms = int(time.time() * 1000)
        if ready:
            await self._drop_cached_views(ready)
        for product in ready:
            self._pushed_at[product] = now
        targets = {p: self._registry.watching(p) for p in ready} | catch_up
        await asyncio.gather(
            *(
                self._pusher.push(connections, stock_message(p, stock[p], at_ms))
                for p, connections in targets.items()
                if p in stock  # a product removed since is nobody's to watch
            )
        )
        for waiting in acks.values():
            for ack in waiting:
                await ack()
        return len(ready)

    def _catch_up(
        self, welcomed: list[Connection], now: float, exclude: set[str]
    ) -> dict[str, list[str]]:
        """product -> welcomed connections watching it, for products pushed lately (those
        pushed this tick reach them anyway)."""
        recent = [
            p
            for p, at in self._pushed_at.items()
            if now - at <= RECENT_PUSH_SECONDS and p not in exclude
        ]
        targets: dict[str, list[str]] = {}
        for connection in welcomed:
            for product in recent:
                if connection.watches(product):
                    targets.setdefault(product, []).append(connection.connection_id)
        return targets

    async def _drop_cached_views(self, products: list[str]) -> None:
        """Inventory drops these itself, but a frozen Lambda may hold a gathered invalidation
        until its next invocation; the next read refills them from PostgreSQL."""
        try:
            async with self._cache.pipeline(transaction=False) as pipe:
                pipe.incr(PRODUCT_LIST_VERSION_KEY)
                pipe.delete(*(product_key(p) for p in products))
                await pipe.execute()
        except RedisError as error:  # their TTL still bounds how stale they get
            log.warning("could not drop cached product views: %s", error)


def stock_message(product_id: str, stock: int, at_ms: int) -> dict[str, Any]:
    return {
        "type": "stock",
        "productId": product_id,
        "stock": stock,
        "soldOut": stock == 0,
        "at": at_ms,
    }
