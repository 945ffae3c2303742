"""What must hold after any fault, once the reconciler had its turn: every unit sold or in
stock, one order per (user, key), nothing left PENDING, each confirmed order's
`inventory.reserved` event published exactly once."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

import nats
import psycopg
from nats.js.api import DeliverPolicy
from nats.js.errors import NotFoundError
from psycopg.rows import dict_row

STREAM = "VENDYZ"  # the shared JetStream contract: name VENDYZ, subjects inventory.> ...


@dataclass(frozen=True)
class Invariants:
    initial_stock: int
    confirmed_units: int
    stock: int
    duplicate_keys: int
    pending: int
    confirmed_without_one_event: int
    events_checked_in: str  # "stream" (JetStream) or "outbox" (until the stream lands)

    @property
    def hold(self) -> bool:
        return (
            self.confirmed_units + self.stock == self.initial_stock
            and self.duplicate_keys == 0
            and self.pending == 0
            and self.confirmed_without_one_event == 0
        )


def _one(conn: psycopg.Connection[dict[str, Any]], sql: str, *params: Any) -> Any:
    row = conn.execute(sql, params).fetchone()
    assert row is not None
    return next(iter(row.values()))


def _events_in_stream(nats_url: str, product_id: str) -> dict[str, int] | None:
    """{orderId: how many inventory.reserved events} for the product; None without a stream."""

    async def read() -> dict[str, int] | None:
        client = await nats.connect(nats_url, connect_timeout=2, max_reconnect_attempts=1)
        try:
            js = client.jetstream()
            try:
                await js.stream_info(STREAM)
            except NotFoundError:
                return None
            sub = await js.subscribe(
                "inventory.reserved", ordered_consumer=True, deliver_policy=DeliverPolicy.ALL
            )
            counts: dict[str, int] = {}
            while True:
                try:
                    message = await sub.next_msg(timeout=1.0)
                except TimeoutError:
                    break
                payload = json.loads(message.data)
                if payload.get("productId") == product_id:
                    counts[payload["orderId"]] = counts.get(payload["orderId"], 0) + 1
            await sub.unsubscribe()
            return counts
        finally:
            await client.close()

    return asyncio.run(read())


def check(database_url: str, nats_url: str, product_id: str, initial_stock: int) -> Invariants:
    with psycopg.connect(database_url, autocommit=True, row_factory=dict_row) as conn:
        confirmed = _one(
            conn,
            "SELECT coalesce(sum(quantity), 0) FROM orders.orders"
            " WHERE product_id = %s AND status = 'CONFIRMED'",
            product_id,
        )
        stock = _one(conn, "SELECT stock FROM inventory.products WHERE product_id = %s", product_id)
        duplicates = _one(
            conn,
            "SELECT count(*) FROM (SELECT 1 FROM orders.orders WHERE product_id = %s"
            " AND idempotency_key IS NOT NULL GROUP BY user_id, idempotency_key"
            " HAVING count(*) > 1) AS d",
            product_id,
        )
        pending = _one(
            conn,
            "SELECT count(*) FROM orders.orders WHERE product_id = %s AND status = 'PENDING'",
            product_id,
        )
        confirmed_ids = [
            r["order_id"]
            for r in conn.execute(
                "SELECT order_id::text FROM orders.orders"
                " WHERE product_id = %s AND status = 'CONFIRMED'",
                (product_id,),
            ).fetchall()
        ]
        in_stream = _events_in_stream(nats_url, product_id)
        if in_stream is None:
            # Until the JetStream stream lands: one published outbox row per confirmed order.
            rows = conn.execute(
                "SELECT payload->>'orderId' AS order_id, count(*) AS n,"
                " count(published_at) AS sent FROM inventory.outbox"
                " WHERE subject = 'inventory.reserved' AND payload->>'productId' = %s"
                " GROUP BY 1",
                (product_id,),
            ).fetchall()
            events = {r["order_id"]: r["n"] if r["n"] == r["sent"] else 0 for r in rows}
        else:
            events = in_stream
    missing = sum(1 for order_id in confirmed_ids if events.get(order_id) != 1)
    return Invariants(
        initial_stock=initial_stock,
        confirmed_units=int(confirmed),
        stock=int(stock),
        duplicate_keys=int(duplicates),
        pending=int(pending),
        confirmed_without_one_event=missing,
        events_checked_in="outbox" if in_stream is None else "stream",
    )
