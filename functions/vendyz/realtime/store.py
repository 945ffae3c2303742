"""The connection registry in Redis (shared with the NATS bridge, see vendyz.core.markers) and
the one read this service makes of the inventory schema: which product ids exist."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING

import redis

from vendyz.core.markers import CONNECTION_TTL_SECONDS, CONNECTIONS_KEY, connection_key

if TYPE_CHECKING:  # psycopg is imported with the pool, on the first subscription to products
    from vendyz.core.db import Connection

_TTL_MS = CONNECTION_TTL_SECONDS * 1000


def register(cache: redis.Redis, connection_id: str, *, user_id: str, connected_at_ms: int) -> None:
    """A new connection watching every product; members already past their expiry are pruned
    from the set on the way (readers skip them anyway, this keeps the set small)."""
    key = connection_key(connection_id)
    pipe = cache.pipeline(transaction=True)
    pipe.hset(
        key, mapping={"userId": user_id, "products": "[]", "connectedAt": str(connected_at_ms)}
    )
    pipe.expire(key, CONNECTION_TTL_SECONDS)
    pipe.zadd(CONNECTIONS_KEY, {connection_id: connected_at_ms + _TTL_MS})
    pipe.zremrangebyscore(CONNECTIONS_KEY, "-inf", connected_at_ms)
    pipe.execute()


def refresh(
    cache: redis.Redis,
    connection_id: str,
    *,
    user_id: str,
    connected_at_ms: int,
    now_ms: int,
    products: Sequence[str] | None = None,
) -> None:
    """Push the connection's expiry out again, and set what it watches when `products` is given.
    Writes every field, so an entry lost to Redis (a flush, an eviction) comes back whole."""
    key = connection_key(connection_id)
    pipe = cache.pipeline(transaction=True)
    pipe.hset(key, mapping={"userId": user_id, "connectedAt": str(connected_at_ms)})
    if products is None:
        pipe.hsetnx(key, "products", "[]")
    else:
        pipe.hset(key, "products", json.dumps(list(products)))
    pipe.expire(key, CONNECTION_TTL_SECONDS)
    pipe.zadd(CONNECTIONS_KEY, {connection_id: now_ms + _TTL_MS})
    pipe.execute()


def unregister(cache: redis.Redis, connection_id: str) -> None:
    pipe = cache.pipeline(transaction=True)
    pipe.delete(connection_key(connection_id))
    pipe.zrem(CONNECTIONS_KEY, connection_id)
    pipe.execute()


def existing_products(conn: Connection, product_ids: Sequence[str]) -> set[str]:
    """Read only; the inventory schema stays Inventory's to change."""
    rows = conn.execute(
        "SELECT product_id FROM inventory.products WHERE product_id = ANY(%s)",
        (list(product_ids),),
    ).fetchall()
    return {str(row["product_id"]) for row in rows}
