"""What a WebSocket connection may do: register, watch products, stay alive, leave. No Lambda
types: the handler and api.py turn API Gateway's events into these calls."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import redis

from vendyz.realtime import store

if TYPE_CHECKING:
    from psycopg_pool import ConnectionPool

    from vendyz.core.db import Connection


class UnknownProduct(ValueError):
    """A subscription names a product that does not exist."""

    def __init__(self, product_id: str) -> None:
        super().__init__(f"unknown product: {product_id}")
        self.product_id = product_id


@dataclass(frozen=True)
class Peer:
    """One WebSocket connection as API Gateway describes it on every event."""

    connection_id: str
    user_id: str  # "" for an anonymous watcher
    connected_at_ms: int


class RealtimeService:
    def __init__(
        self,
        cache: redis.Redis,
        pool: Callable[[], ConnectionPool[Connection]],
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`pool` is opened on first call: only a subscription to named products needs it."""
        self._cache = cache
        self._pool = pool
        self._clock = clock

    def connect(self, peer: Peer) -> None:
        store.register(
            self._cache,
            peer.connection_id,
            user_id=peer.user_id,
            connected_at_ms=peer.connected_at_ms,
        )

    def disconnect(self, connection_id: str) -> None:
        store.unregister(self._cache, connection_id)

    def touch(self, peer: Peer) -> None:
        """Any message keeps the connection's registry entry alive."""
        self._refresh(peer)

    def subscribe(self, peer: Peer, product_ids: Sequence[str]) -> list[str]:
        """Watch these products ([] = every product); UnknownProduct, with nothing changed, when
        one does not exist."""
        if product_ids:
            with self._pool().connection() as conn:
                existing = store.existing_products(conn, product_ids)
            for product_id in product_ids:
                if product_id not in existing:
                    raise UnknownProduct(product_id)
        self._refresh(peer, product_ids)
        return list(product_ids)

    def _refresh(self, peer: Peer, products: Sequence[str] | None = None) -> None:
        store.refresh(
            self._cache,
            peer.connection_id,
            user_id=peer.user_id,
            connected_at_ms=peer.connected_at_ms,
            now_ms=int(self._clock() * 1000),
            products=products,
        )
