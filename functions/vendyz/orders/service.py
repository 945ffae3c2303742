"""Orders: placing an order with exact idempotency, reading orders, finishing stale ones.

The order path (ARCHITECTURE.md, "The order path and its guarantees"):
1. a Redis gate in one round trip: the caller's token against the logout denylist, the
   per-user token bucket, the sold-out marker, and whether the Idempotency-Key was seen (a
   replay costs no token; a sold-out answer needs no PostgreSQL when the request has no key
   or Redis holds all the user's keys and not this one, vendyz.orders.gate);
2. claim (user, key) with INSERT ... ON CONFLICT DO NOTHING, status PENDING, with a lease, in
   the same statement as the caller check (account exists and is active, token not revoked:
   PostgreSQL is the record, Redis only its cache);
3. Inventory's ReserveStock through Lambda Invoke (idempotent per order id);
4. finish: CONFIRMED or FAILED plus the outbox event in one statement; publish it and mark it
   sent once JetStream acked it (vendyz.core.outbox); answer.
If the invoke fails the order stays PENDING with its lease released: a retry with the same key
or the reconciler calls ReserveStock again and gets the first outcome. Every statement here is
safe to repeat, so each is retried once on a fresh connection when its connection broke.
While Redis is down the gate is skipped (the claim still checks the caller) and selling goes
on from PostgreSQL alone.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

import redis
from psycopg_pool import ConnectionPool

from vendyz.core.contracts.inventory_pb2 import Outcome, ReserveStockRequest, ReserveStockResponse
from vendyz.core.db import Connection, Row, run_repeatable
from vendyz.core.errors import (
    Conflict,
    NotFound,
    ServiceUnavailable,
    Unauthorized,
    Unprocessable,
)
from vendyz.core.events import EventPublisher, new_event
from vendyz.core.identity import Principal
from vendyz.core.outbox import Outbox
from vendyz.core.rpc import RpcUnavailable
from vendyz.orders import store
from vendyz.orders.gate import OrderGate, RateLimit

ReserveStock = Callable[[ReserveStockRequest], ReserveStockResponse]
T = TypeVar("T")

IN_FLIGHT_WAIT_SECONDS = 5.0
IN_FLIGHT_POLL_SECONDS = 0.05
STALE_PENDING_SECONDS = 3.0

REASON_MESSAGES = {
    "OUT_OF_STOCK": "Out of stock",
    "SALE_NOT_STARTED": "Sale not active: it has not started yet",
    "SALE_ENDED": "Sale not active: it has ended",
    "LIMIT_REACHED": "Limit reached: this product's per-customer limit is used up",
}


@dataclass(frozen=True)
class OrderReply:
    status_code: int
    message: str
    data: dict[str, Any]
    replayed: bool = False


def request_hash(product_id: str, quantity: int) -> str:
    return hashlib.sha256(f"{product_id}\x00{quantity}".encode()).hexdigest()


def order_view(row: Row) -> dict[str, Any]:
    return {
        "order_id": row["order_id"],
        "status": row["status"],
        "product_id": row["product_id"],
        "product_name": row["product_name"],
        "quantity": row["quantity"],
        "user_id": row["user_id"],
        "reason": row["reason"],
        "created_at": row["created_at"].isoformat(),
    }


def _reply_for(row: Row, *, replayed: bool = False) -> OrderReply:
    """The answer for a finished order: derived from the row, so a replay is identical."""
    if row["status"] == "CONFIRMED":
        return OrderReply(
            201,
            "Order confirmed",
            {"orderId": row["order_id"], "status": "CONFIRMED", "message": "Order confirmed"},
            replayed,
        )
    message = REASON_MESSAGES.get(row["reason"] or "", "Order rejected")
    return OrderReply(
        409,
        message,
        {
            "orderId": row["order_id"],
            "status": "FAILED",
            "message": message,
            "reason": row["reason"],
        },
        replayed,
    )


_SOLD_OUT = OrderReply(
    409,
    REASON_MESSAGES["OUT_OF_STOCK"],
    {
        "orderId": None,
        "status": "FAILED",
        "message": REASON_MESSAGES["OUT_OF_STOCK"],
        "reason": "OUT_OF_STOCK",
    },
)


class OrdersService:
    def __init__(
        self,
        pool: ConnectionPool[Connection],
        cache: redis.Redis,
        publisher: EventPublisher,
        reserve_stock: ReserveStock,
        *,
        lease_seconds: float,
        rate_limit: RateLimit = RateLimit(),
    ) -> None:
        self._pool = pool
        self._cache = cache
        self._reserve_stock = reserve_stock
        self._lease_seconds = lease_seconds
        self._outbox = Outbox("orders", pool, publisher)
        self._gate = OrderGate(cache, rate_limit)

    # -- placing an order ---------------------------------------------------------------------
    def place_order(
        self,
        user_id: str,
        token_id: str,
        idempotency_key: str | None,
        product_id: str,
        quantity: int,
    ) -> OrderReply:
        """`token_id`: the caller's token, checked against the logout denylist."""
        verdict = self._gate.check(user_id, token_id, idempotency_key, product_id)
        digest = request_hash(product_id, quantity)
        if verdict.sold_out:
            if idempotency_key is None or verdict.key_is_new:
                return _SOLD_OUT
            # The key may hold a finished order (Redis' memory of keys is only a cache):
            # its stored answer, not "sold out", is the replay.
            allowed, row, keys = self._db(
                lambda c: store.find_for_caller(c, user_id, token_id, idempotency_key)
            )
            if not allowed:
                raise Unauthorized("Account no longer active or token revoked")
            if not verdict.keys_complete:
                self._gate.remember(user_id, keys, complete_as_of=verdict.keys_epoch)
            if row is None:
                return _SOLD_OUT
            if row["status"] != "PENDING" and row["request_hash"] == digest:
                return _reply_for(row, replayed=True)
            # Still in flight, or another body: the claim's conflict path answers it.
        # Twice at most: the key's first order may vanish (unknown product) between the
        # conflicting claim and our look at it.
        for _ in range(2):
            order_id = str(uuid.uuid4())
            allowed, claimed = self._db(
                partial(
                    store.claim,
                    order_id=order_id,
                    user_id=user_id,
                    token_id=token_id,
                    idempotency_key=idempotency_key,
                    request_hash=digest,
                    product_id=product_id,
                    quantity=quantity,
                    lease_seconds=self._lease_seconds,
                )
            )
            if not allowed:
                raise Unauthorized("Account no longer active or token revoked")
            if claimed and idempotency_key is not None:
                # Again, now that the claim is in: Redis may have lost the gate's mark and had
                # the user's keys reloaded before this claim committed.
                self._gate.remember(user_id, [idempotency_key])
            # Without a key only our own order id can conflict: a retried claim that committed.
            if claimed or idempotency_key is None:
                return self._complete(order_id, product_id, quantity, user_id)
            reply = self._existing(user_id, idempotency_key, digest, own_order_id=order_id)
            if reply is not None:
                return reply
        raise Conflict("Idempotency-Key: a request with this key is changing; retry")

    def _db(self, work: Callable[[Connection], T]) -> T:
        return run_repeatable(self._pool, work)

    def _existing(
        self, user_id: str, key: str, digest: str, *, own_order_id: str
    ) -> OrderReply | None:
        """The key is taken: replay its answer, wait for it, or take it over.

        None when the key's order is gone (its product was unknown), so it may be claimed."""
        deadline = time.monotonic() + IN_FLIGHT_WAIT_SECONDS
        while True:
            row = self._db(lambda c: store.find_by_key(c, user_id, key))
            if row is None:
                return None
            if row["request_hash"] != digest:
                raise Unprocessable(
                    "Idempotency-Key: already used with a different request body",
                    data={"errors": [{"field": "Idempotency-Key", "message": "reused"}]},
                )
            if row["status"] != "PENDING":
                return _reply_for(row, replayed=True)
            order_id, lease = row["order_id"], self._lease_seconds
            # Ours: a retried claim whose first attempt committed holds the lease already.
            taken = order_id == own_order_id or (
                row["lease_expired"]
                and self._db(partial(store.take_over, order_id=order_id, lease_seconds=lease))
                is not None
            )
            if taken:
                return self._complete(order_id, row["product_id"], row["quantity"], user_id)
            if time.monotonic() >= deadline:
                raise Conflict(
                    "Idempotency-Key: a request with this key is still in progress",
                    data={"orderId": order_id, "status": "PENDING"},
                )
            time.sleep(IN_FLIGHT_POLL_SECONDS)

    def _complete(self, order_id: str, product_id: str, quantity: int, user_id: str) -> OrderReply:
        """We hold the lease on a PENDING order: reserve, then finish it."""
        request = ReserveStockRequest(
            order_id=order_id, product_id=product_id, quantity=quantity, user_id=user_id
        )
        try:
            reservation = self._reserve_stock(request)
        except RpcUnavailable as exc:
            self._db(lambda c: store.release(c, order_id))
            raise ServiceUnavailable(
                "Inventory did not answer in time; retry with the same Idempotency-Key",
                retry_after=1,
                data={"orderId": order_id, "status": "PENDING"},
            ) from exc
        if reservation.reason == "UNKNOWN_PRODUCT":
            self._db(lambda c: store.delete_pending(c, order_id))
            raise NotFound(f"productId: no product {product_id!r}")
        return _reply_for(self._finish(request, reservation))

    def _finish(self, request: ReserveStockRequest, reservation: ReserveStockResponse) -> Row:
        order_id = request.order_id
        confirmed = reservation.outcome == Outcome.RESERVED
        status = "CONFIRMED" if confirmed else "FAILED"
        reason = None if confirmed else reservation.reason
        # Only a confirmed order is news; a rejected one changed nothing anyone watches.
        event = (
            new_event(
                "order.created",
                {
                    "orderId": order_id,
                    "userId": request.user_id,
                    "productId": request.product_id,
                    "quantity": request.quantity,
                    "status": status,
                },
            )
            if confirmed
            else None
        )
        row = self._db(
            lambda c: store.finish(
                c,
                order_id=order_id,
                status=status,
                reason=reason,
                product_name=reservation.product_name,
                event=event,
            )
        )
        if row is None:
            # Someone else finished it first (or our retried finish had committed): the row
            # as it stands is the answer.
            finished = self._db(lambda c: store.get(c, order_id))
            assert finished is not None
            return finished
        if event is not None:
            self._outbox.publish([event])
        return row

    # -- reading ------------------------------------------------------------------------------
    def list_orders(
        self, user_id: str, *, page: int, limit: int, status: str | None = None
    ) -> tuple[list[dict[str, Any]], int]:
        with self._pool.connection() as conn:
            rows, total = store.list_for_user(
                conn, user_id, offset=(page - 1) * limit, limit=limit, status=status
            )
        return [order_view(r) for r in rows], total

    def get_order(self, principal: Principal, order_id: str) -> dict[str, Any]:
        with self._pool.connection() as conn:
            row = store.get(conn, order_id)
        # Another user's order is "not found", not "forbidden": ids reveal nothing.
        if row is None or (row["user_id"] != principal.user_id and not principal.is_admin):
            raise NotFound(f"id: no order {order_id}")
        return order_view(row)

    # -- scheduled ----------------------------------------------------------------------------
    def reconcile(self) -> dict[str, int]:
        """Finish PENDING orders nobody is working on, then relay unsent events."""
        finished = 0
        with self._pool.connection() as conn:
            stale = store.stale_pending(conn, older_than_seconds=STALE_PENDING_SECONDS, limit=50)
        for order_id in stale:
            with self._pool.connection() as conn:
                row = store.take_over(conn, order_id, self._lease_seconds)
            if row is None:
                continue
            try:
                self._complete(order_id, row["product_id"], row["quantity"], row["user_id"])
                finished += 1
            except (ServiceUnavailable, NotFound):
                continue  # still unreachable (tried again next run) or removed
        relayed = self._outbox.relay()
        return {"finished": finished, "relayed": relayed}
