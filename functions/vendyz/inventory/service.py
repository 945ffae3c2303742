"""Inventory: the catalogue, stock changes and ReserveStock. No FastAPI, no Lambda types.

Redis holds only caches here (product views, the sold-out marker): when it fails, reads come
from PostgreSQL and a committed change is still answered; the caches heal by expiry.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import partial
from typing import Any, Literal

import redis
from aws_lambda_powertools import Logger
from psycopg_pool import ConnectionPool

from vendyz.core.db import Connection, Row, UnitOfWork, run_repeatable
from vendyz.core.errors import NotFound
from vendyz.core.events import Event, EventPublisher
from vendyz.core.markers import SOLD_OUT_TTL_SECONDS, sold_out_key
from vendyz.core.outbox import Outbox
from vendyz.inventory import store

logger = Logger(service="inventory", child=True)

PRODUCT_CACHE_SECONDS = 60
_LIST_VERSION_KEY = "products:version"
# The design's demo sale (the template's DemoProducts resource; on in the local cloud).
DEMO_PRODUCTS = [
    ("product-1", "Limited Sneaker Drop", 1, "129.00"),
    ("product-2", "Signed Vinyl Record", 5, "49.00"),
    ("product-3", "Flash Hoodie", 10, "59.00"),
]

Outcome = Literal["RESERVED", "REJECTED"]


@dataclass(frozen=True)
class NewProduct:
    name: str
    stock: int
    price: Decimal
    starts_at: datetime | None
    ends_at: datetime | None
    max_per_user: int | None


@dataclass(frozen=True)
class Reservation:
    outcome: Outcome
    reason: str
    remaining_stock: int
    product_name: str
    replayed: bool


def _product_key(product_id: str) -> str:
    return f"product:{product_id}"


def _public(row: Row) -> dict[str, Any]:
    """A product as the API shows it, JSON-ready (also the cached form)."""
    return {
        "product_id": row["product_id"],
        "name": row["name"],
        "stock": row["stock"],
        "price": float(row["price"]),
        "starts_at": row["starts_at"].isoformat() if row["starts_at"] else None,
        "ends_at": row["ends_at"].isoformat() if row["ends_at"] else None,
        "max_per_user": row["max_per_user"],
    }


class InventoryService:
    def __init__(
        self,
        pool: ConnectionPool[Connection],
        cache: redis.Redis,
        publisher: EventPublisher,
    ) -> None:
        self._pool = pool
        self._cache = cache
        self._outbox = Outbox("inventory", pool, publisher)

    # -- reads (cached) -----------------------------------------------------------------------
    def list_products(
        self, *, page: int, limit: int, sort: str = "name"
    ) -> tuple[list[dict[str, Any]], int]:
        key: str | None = None
        try:
            version = int(self._cache.get(_LIST_VERSION_KEY) or 0)
            key = f"products:v{version}:{sort}:{page}:{limit}"
            cached = self._cache.get(key)
        except redis.RedisError as exc:
            logger.warning("products read from PostgreSQL: Redis failed", extra={"error": str(exc)})
            key, cached = None, None
        if cached is not None:
            items, total = json.loads(cached)
            return items, total
        rows, total = run_repeatable(
            self._pool,
            partial(store.list_products, offset=(page - 1) * limit, limit=limit, sort=sort),
        )
        items = [_public(r) for r in rows]
        if key is not None:
            page_key, value = key, json.dumps([items, total])
            self._cache_quietly(lambda: self._cache.set(page_key, value, ex=PRODUCT_CACHE_SECONDS))
        return items, total

    def get_product(self, product_id: str) -> dict[str, Any]:
        try:
            cached = self._cache.get(_product_key(product_id))
        except redis.RedisError as exc:
            logger.warning("product read from PostgreSQL: Redis failed", extra={"error": str(exc)})
            cached = None
        if cached is not None:
            product: dict[str, Any] = json.loads(cached)
            return product
        row = run_repeatable(self._pool, partial(store.get_product, product_id=product_id))
        if row is None:
            raise NotFound(f"product_id: no product {product_id!r}")
        product = _public(row)
        self._cache_quietly(
            lambda: self._cache.set(
                _product_key(product_id), json.dumps(product), ex=PRODUCT_CACHE_SECONDS
            )
        )
        return product

    def _cache_quietly(self, write: Callable[[], object]) -> None:
        """A cache write that may fail: the record is in PostgreSQL, and the entry expires."""
        try:
            write()
        except redis.RedisError as exc:
            logger.warning("cache not updated: Redis failed", extra={"error": str(exc)})

    # -- changes ------------------------------------------------------------------------------
    def create_product(self, new: NewProduct) -> dict[str, Any]:
        with UnitOfWork(self._pool) as uow:
            row = store.insert_product(
                uow.conn,
                product_id=str(uuid.uuid4()),
                name=new.name,
                stock=new.stock,
                price=new.price,
                starts_at=new.starts_at,
                ends_at=new.ends_at,
                max_per_user=new.max_per_user,
            )
            event = self._outbox.add(
                uow.conn,
                "product.created",
                {"productId": row["product_id"], "name": row["name"], "stock": row["stock"]},
            )
            uow.commit()
        self._after_change(row["product_id"], [event], sold_out=row["stock"] == 0)
        return _public(row)

    def seed_demo_products(self) -> dict[str, str]:
        """The demo products that are missing; existing ones keep their stock."""
        with UnitOfWork(self._pool) as uow:
            added = store.insert_missing_products(uow.conn, DEMO_PRODUCTS)
            uow.commit()
        if added:
            self._cache.incr(_LIST_VERSION_KEY)
        return {"added": str(added)}

    def set_stock(self, product_id: str, stock: int) -> dict[str, Any]:
        with UnitOfWork(self._pool) as uow:
            row = store.set_stock(uow.conn, product_id, stock)
            if row is None:
                raise NotFound(f"product_id: no product {product_id!r}")
            event = self._outbox.add(
                uow.conn,
                "inventory.updated",
                {"productId": product_id, "name": row["name"], "stock": stock},
            )
            uow.commit()
        self._after_change(product_id, [event], sold_out=stock == 0)
        return _public(row)

    def reserve_stock(
        self, *, order_id: str, product_id: str, quantity: int, user_id: str
    ) -> Reservation:
        """Idempotent per order id: a repeated call returns the first outcome."""
        if quantity < 1:
            raise ValueError("quantity must be positive")
        # Idempotent per order id, so safe to repeat on a fresh connection.
        row = run_repeatable(
            self._pool,
            partial(
                store.reserve_stock,
                order_id=order_id,
                product_id=product_id,
                quantity=quantity,
                user_id=user_id,
            ),
        )
        if row["event_id"] is not None:
            event = Event(str(row["event_id"]), "inventory.reserved", row["event_payload"])
            # A reservation never brings stock back: it sets the marker at most, so it cannot
            # clear one that a concurrent sale of the last unit just set.
            sold_out = True if row["remaining_stock"] == 0 else None
            self._after_change(product_id, [event], sold_out=sold_out)
        elif row["reason"] == "OUT_OF_STOCK" and row["remaining_stock"] == 0:
            self._cache_quietly(
                lambda: self._cache.set(sold_out_key(product_id), b"1", ex=SOLD_OUT_TTL_SECONDS)
            )
        return Reservation(
            outcome=row["status"],
            reason=row["reason"] or "",
            remaining_stock=row["remaining_stock"] or 0,
            product_name=row["product_name"] or "",
            replayed=row["replayed"],
        )

    def _after_change(self, product_id: str, events: list[Event], *, sold_out: bool | None) -> None:
        """After commit, before the reply: publish the events, then drop the product's cached
        views and set (True), clear (False) or leave (None) the sold-out marker, in one Redis
        round trip."""
        self._outbox.publish(events)
        pipe = self._cache.pipeline(transaction=False)
        pipe.delete(_product_key(product_id))
        pipe.incr(_LIST_VERSION_KEY)
        if sold_out:
            pipe.set(sold_out_key(product_id), b"1", ex=SOLD_OUT_TTL_SECONDS)
        elif sold_out is False:
            pipe.delete(sold_out_key(product_id))
        self._cache_quietly(pipe.execute)

    # -- scheduled ----------------------------------------------------------------------------
    def relay_outbox(self) -> int:
        return self._outbox.relay()
