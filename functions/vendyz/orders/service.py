"""Orders: placing an order with exact idempotency, reading orders, finishing stale ones.

The order path (ARCHITECTURE.md, "The order path and its guarantees"):
1. a Redis gate in one round trip: the caller's token against the logout denylist, the
   per-user token bucket, the sold-out marker, and the first-use mark of the Idempotency-Key
   (a sold-out answer needs no PostgreSQL at all);
2. claim (user, key) with INSERT ... ON CONFLICT DO NOTHING, status PENDING, with a lease;
3. Inventory's ReserveStock through Lambda Invoke (idempotent per order id);
4. finish: CONFIRMED or FAILED plus the outbox event in one statement; publish it and mark it
   sent once JetStream acked it (vendyz.core.outbox); answer.
If the invoke fails the order stays PENDING with its lease released: a retry with the same key
or the reconciler calls ReserveStock again and gets the first outcome.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis
from psycopg_pool import ConnectionPool

from vendyz.core.contracts.inventory_pb2 import Outcome, ReserveStockRequest, ReserveStockResponse
from vendyz.core.db import Connection, Row
from vendyz.core.errors import (
    Conflict,
    NotFound,
    ServiceUnavailable,
    TooManyRequests,
    Unauthorized,
    Unprocessable,
)
from vendyz.core.events import EventPublisher, new_event
from vendyz.core.identity import Principal
from vendyz.core.markers import revoked_key, sold_out_key
from vendyz.core.outbox import Outbox
from vendyz.core.rpc import RpcUnavailable
from vendyz.orders import store

ReserveStock = Callable[[ReserveStockRequest], ReserveStockResponse]

IDEMPOTENCY_KEY_TTL_SECONDS = 24 * 3600
IN_FLIGHT_WAIT_SECONDS = 5.0
IN_FLIGHT_POLL_SECONDS = 0.05
STALE_PENDING_SECONDS = 3.0

REASON_MESSAGES = {
    "OUT_OF_STOCK": "Out of stock",
    "SALE_NOT_STARTED": "Sale not active: it has not started yet",
    "SALE_ENDED": "Sale not active: it has ended",
    "LIMIT_REACHED": "Limit reached: this product's per-customer limit is used up",
}

# The whole Redis gate in one round trip. KEYS: the caller's token on the logout denylist, the
# user's token bucket, the sold-out marker, and (optional) the Idempotency-Key's first-use
# mark. A revoked token touches nothing; a replayed key costs no token. Runs on Redis' clock
# so every instance agrees. Returns {allowed, wait_ms, first_use, sold_out, revoked}.
# (One script over several keys: a non-cluster Redis, as the template deploys.)
_GATE_SCRIPT = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  return {0, 0, 0, 0, 1}
end
local sold_out = redis.call('EXISTS', KEYS[3])
if KEYS[4] and not redis.call('SET', KEYS[4], 1, 'NX', 'EX', ARGV[3]) then
  return {1, 0, 0, sold_out, 0}
end
local capacity, rate = tonumber(ARGV[1]), tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local state = redis.call('HMGET', KEYS[2], 'tokens', 'ts')
local tokens, ts = tonumber(state[1]), tonumber(state[2])
if tokens == nil then tokens, ts = capacity, now end
tokens = math.min(capacity, tokens + (now - ts) * rate / 1000)
local allowed, wait = 0, 0
if tokens >= 1 then
  tokens, allowed = tokens - 1, 1
else
  wait = math.ceil((1 - tokens) * 1000 / rate)
end
redis.call('HSET', KEYS[2], 'tokens', tokens, 'ts', now)
redis.call('PEXPIRE', KEYS[2], math.ceil(capacity * 1000 / rate) + 1000)
return {allowed, wait, 1, sold_out, 0}
"""


@dataclass(frozen=True)
class RateLimit:
    """Per-user bucket on POST /orders: `burst` at once, then `per_second` sustained."""

    burst: int = 20
    per_second: float = 2.0


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
        self._rate_limit = rate_limit
        self._outbox = Outbox("orders", pool, publisher)
        self._gate_script = cache.register_script(_GATE_SCRIPT)

    # -- placing an order ---------------------------------------------------------------------
    def place_order(
        self,
        user_id: str,
        token_id: str,
        idempotency_key: str | None,
        product_id: str,
        quantity: int,
    ) -> OrderReply:
        """`token_id`: the caller's token, checked against the logout denylist in the gate."""
        first_use_of_key = self._gate(user_id, token_id, idempotency_key, product_id)
        if first_use_of_key is None:
            return _SOLD_OUT
        digest = request_hash(product_id, quantity)
        # Twice at most: the key's first order may vanish (unknown product) between the
        # conflicting claim and our look at it.
        for _ in range(2):
            order_id = str(uuid.uuid4())
            with self._pool.connection() as conn:
                claimed = store.claim(
                    conn,
                    order_id=order_id,
                    user_id=user_id,
                    idempotency_key=idempotency_key,
                    request_hash=digest,
                    product_id=product_id,
                    quantity=quantity,
                    lease_seconds=self._lease_seconds,
                )
            if claimed:
                return self._complete(order_id, product_id, quantity, user_id)
            assert idempotency_key is not None  # only a key can conflict
            reply = self._existing(user_id, idempotency_key, digest)
            if reply is not None:
                return reply
        raise Conflict("Idempotency-Key: a request with this key is changing; retry")

    def _gate(self, user_id: str, token_id: str, key: str | None, product_id: str) -> bool | None:
        """One Redis round trip: logout denylist, throttle, sold-out marker, first use of the
        key.

        Returns None to answer "sold out" at once; otherwise whether the key is new."""
        keys = [revoked_key(token_id), f"bucket:orders:{user_id}", sold_out_key(product_id)]
        if key is not None:
            keys.append(f"idem:{user_id}:{key}")
        args = [self._rate_limit.burst, self._rate_limit.per_second, IDEMPOTENCY_KEY_TTL_SECONDS]
        allowed, wait_ms, first, marked, revoked = self._gate_script(keys=keys, args=args)
        if revoked:
            raise Unauthorized("Token revoked")
        if not allowed:
            raise TooManyRequests(
                "Too many orders: slow down", retry_after=-(-int(wait_ms) // 1000)
            )
        sold_out = bool(marked)
        first_use = bool(first)
        # A sold-out product with a key seen before goes on to PostgreSQL: that key may hold a
        # finished order whose stored answer must be replayed.
        if sold_out and first_use:
            return None
        return first_use

    def _existing(self, user_id: str, key: str, digest: str) -> OrderReply | None:
        """The key is taken: replay its answer, wait for it, or take it over.

        None when the key's order is gone (its product was unknown), so it may be claimed."""
        deadline = time.monotonic() + IN_FLIGHT_WAIT_SECONDS
        while True:
            with self._pool.connection() as conn:
                row = store.find_by_key(conn, user_id, key)
                if row is None:
                    return None
                if row["request_hash"] != digest:
                    raise Unprocessable(
                        "Idempotency-Key: already used with a different request body",
                        data={"errors": [{"field": "Idempotency-Key", "message": "reused"}]},
                    )
                if row["status"] != "PENDING":
                    return _reply_for(row, replayed=True)
                taken = row["lease_expired"] and store.take_over(
                    conn, row["order_id"], self._lease_seconds
                )
            # Outside the `with`: completing needs connections of its own.
            if taken:
                return self._complete(row["order_id"], row["product_id"], row["quantity"], user_id)
            if time.monotonic() >= deadline:
                raise Conflict(
                    "Idempotency-Key: a request with this key is still in progress",
                    data={"orderId": row["order_id"], "status": "PENDING"},
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
            with self._pool.connection() as conn:
                store.release(conn, order_id)
            raise ServiceUnavailable(
                "Inventory did not answer in time; retry with the same Idempotency-Key",
                retry_after=1,
                data={"orderId": order_id, "status": "PENDING"},
            ) from exc
        if reservation.reason == "UNKNOWN_PRODUCT":
            with self._pool.connection() as conn:
                store.delete_pending(conn, order_id)
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
        with self._pool.connection() as conn:
            row = store.finish(
                conn,
                order_id=order_id,
                status=status,
                reason=reason,
                product_name=reservation.product_name,
                event=event,
            )
            if row is None:  # someone else finished it first; theirs is the answer
                finished = store.get(conn, order_id)
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
