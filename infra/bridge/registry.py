"""The WebSocket connections the Realtime function keeps in Redis, as the bridge reads them.

The layout is a contract with functions/vendyz/core/markers.py (an integration test checks
the strings agree): a hash per connection (`userId`, `products` as a JSON list, `[]` = every
product) and a sorted set of connection ids scored by their expiry in ms since the epoch.
Read in one pipelined round trip every refresh, not on every push.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from redis.asyncio import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

CONNECTIONS_KEY = "realtime:conns"


def connection_key(connection_id: str) -> str:
    return f"realtime:conn:{connection_id}"


@dataclass(frozen=True)
class Connection:
    connection_id: str
    user_id: str  # "" for an anonymous watcher
    products: frozenset[str]  # empty: every product

    def watches(self, product_id: str) -> bool:
        return not self.products or product_id in self.products


@dataclass(frozen=True)
class Changes:
    """What a refresh found since the one before."""

    new: list[str] = field(default_factory=list)  # connection ids first seen
    # connections first seen or whose products changed (they may have missed a stock push)
    watching_anew: list[Connection] = field(default_factory=list)


def _products(raw: bytes | None, connection_id: str) -> frozenset[str]:
    try:
        products = json.loads(raw or b"[]")
    except ValueError:
        products = None
    if not isinstance(products, list):
        log.warning("connection %s: products is not a JSON list; watching all", connection_id)
        return frozenset()
    return frozenset(str(p) for p in products)


class ConnectionRegistry:
    """The live connections as of the last refresh()."""

    def __init__(self, redis: Redis, clock: Callable[[], float] = time.time) -> None:
        self._redis = redis
        self._clock = clock
        self._connections: dict[str, Connection] = {}
        self._read_at_ms = 0  # when the read of the current snapshot began
        self._refreshed = asyncio.Event()

    def all(self) -> list[str]:
        return list(self._connections)

    def watching(self, product_id: str) -> list[str]:
        return [c.connection_id for c in self._connections.values() if c.watches(product_id)]

    def of_user(self, user_id: str) -> list[str]:
        if not user_id:
            return []
        return [c.connection_id for c in self._connections.values() if c.user_id == user_id]

    async def refresh(self) -> Changes:
        """Re-read the registry (expired members are pruned on the way)."""
        now_ms = int(self._clock() * 1000)
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.zremrangebyscore(CONNECTIONS_KEY, "-inf", now_ms)
            pipe.zrangebyscore(CONNECTIONS_KEY, now_ms, "+inf")
            _, members = await pipe.execute()
        ids = [m.decode() if isinstance(m, bytes) else str(m) for m in members]
        async with self._redis.pipeline(transaction=False) as pipe:
            for connection_id in ids:
                pipe.hmget(connection_key(connection_id), "userId", "products")
            fields = await pipe.execute() if ids else []
        current: dict[str, Connection] = {}
        for connection_id, (user_id, products) in zip(ids, fields, strict=True):
            if user_id is None and products is None:
                continue  # its hash expired or was deleted; the member goes with its score
            current[connection_id] = Connection(
                connection_id,
                (user_id or b"").decode(),
                _products(products, connection_id),
            )
        before, self._connections = self._connections, current
        self._read_at_ms = now_ms
        self._refreshed.set()  # wakes read_since(); the next refresh gets a fresh event
        self._refreshed = asyncio.Event()
        return Changes(
            new=[c for c in current if c not in before],
            watching_anew=[c for c in current.values() if before.get(c.connection_id) != c],
        )

    async def read_since(self, at_ms: int, timeout: float) -> None:
        """Wait (up to `timeout`) for a snapshot read at or after `at_ms`: one that holds every
        connection registered before then."""
        deadline = time.monotonic() + timeout
        while self._read_at_ms < at_ms:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            try:
                await asyncio.wait_for(self._refreshed.wait(), remaining)
            except TimeoutError:
                return

    async def drop(self, connection_id: str) -> None:
        """Forget a connection API Gateway says is gone (410)."""
        self._connections.pop(connection_id, None)
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.zrem(CONNECTIONS_KEY, connection_id)
                pipe.delete(connection_key(connection_id))
                await pipe.execute()
        except RedisError as error:  # its TTL and score still retire it
            log.warning("could not drop gone connection %s: %s", connection_id, error)
