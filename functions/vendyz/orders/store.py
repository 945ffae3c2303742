"""SQL for the orders schema, and nothing else.

The hot-path writes are single statements on autocommit connections: one statement is one
transaction and one round trip.
"""

from __future__ import annotations

from psycopg.types.json import Jsonb

from vendyz.core.db import Connection, Row
from vendyz.core.events import Event

_COLUMNS = (
    "order_id::text, user_id::text, idempotency_key, request_hash, product_id, product_name,"
    " quantity, status, reason, lease_until < now() AS lease_expired, created_at"
)
# A finished order has no lease left to expire.
_FINISHED_COLUMNS = _COLUMNS.replace("lease_until < now()", "false")


def claim(
    conn: Connection,
    *,
    order_id: str,
    user_id: str,
    token_id: str,
    idempotency_key: str | None,
    request_hash: str,
    product_id: str,
    quantity: int,
    lease_seconds: float,
) -> tuple[bool, bool]:
    """(caller allowed, claimed): record a PENDING order for a caller whose account exists and
    is active and whose token is not revoked, in the one round trip the claim costs anyway.
    Not claimed when (user, key) is taken, or when `order_id` is already there (a retried
    claim whose first attempt committed)."""
    row = conn.execute(
        "WITH caller AS ("
        " SELECT u.active AND NOT EXISTS"
        " (SELECT 1 FROM auth.revoked_tokens r WHERE r.jti = %s) AS allowed"
        " FROM auth.users u WHERE u.user_id = %s),"
        " claimed AS ("
        " INSERT INTO orders.orders (order_id, user_id, idempotency_key, request_hash,"
        " product_id, quantity, lease_until)"
        " SELECT %s, %s, %s, %s, %s, %s, now() + make_interval(secs => %s)"
        " FROM caller WHERE allowed"
        " ON CONFLICT DO NOTHING RETURNING 1)"
        " SELECT coalesce((SELECT allowed FROM caller), false) AS allowed,"
        " EXISTS (SELECT 1 FROM claimed) AS claimed",
        (
            token_id,
            user_id,
            order_id,
            user_id,
            idempotency_key,
            request_hash,
            product_id,
            quantity,
            lease_seconds,
        ),
    ).fetchone()
    assert row is not None
    return bool(row["allowed"]), bool(row["claimed"])


def find_for_caller(
    conn: Connection, user_id: str, token_id: str, idempotency_key: str
) -> tuple[bool, Row | None, list[str]]:
    """(caller allowed, the key's order if any, every key the user has an order for), in one
    round trip: the claim's caller check for a request that will not claim (its product is
    sold out), and what reloads the gate's memory of the user's keys."""
    row = conn.execute(
        "WITH caller AS ("
        " SELECT u.active AND NOT EXISTS"
        " (SELECT 1 FROM auth.revoked_tokens r WHERE r.jti = %s) AS allowed"
        " FROM auth.users u WHERE u.user_id = %s)"
        " SELECT coalesce((SELECT allowed FROM caller), false) AS caller_allowed,"
        " array(SELECT k.idempotency_key FROM orders.orders k WHERE k.user_id = %s"
        " AND k.idempotency_key IS NOT NULL) AS user_keys, o.*"
        f" FROM (SELECT 1) AS one LEFT JOIN (SELECT {_COLUMNS} FROM orders.orders"
        " WHERE user_id = %s AND idempotency_key = %s) AS o ON true",
        (token_id, user_id, user_id, user_id, idempotency_key),
    ).fetchone()
    assert row is not None
    allowed = bool(row.pop("caller_allowed"))
    keys = list(row.pop("user_keys"))
    return allowed, (row if row["order_id"] is not None else None), keys


def find_by_key(conn: Connection, user_id: str, idempotency_key: str) -> Row | None:
    return conn.execute(
        f"SELECT {_COLUMNS} FROM orders.orders WHERE user_id = %s AND idempotency_key = %s",
        (user_id, idempotency_key),
    ).fetchone()


def get(conn: Connection, order_id: str) -> Row | None:
    return conn.execute(
        f"SELECT {_COLUMNS} FROM orders.orders WHERE order_id = %s", (order_id,)
    ).fetchone()


def take_over(conn: Connection, order_id: str, lease_seconds: float) -> Row | None:
    """Take a PENDING order whose owner's lease ran out; None if someone else has it."""
    return conn.execute(
        "UPDATE orders.orders SET lease_until = now() + make_interval(secs => %s)"
        " WHERE order_id = %s AND status = 'PENDING' AND lease_until < now()"
        f" RETURNING {_COLUMNS}",
        (lease_seconds, order_id),
    ).fetchone()


def release(conn: Connection, order_id: str) -> None:
    """Give up the lease at once, so a retry or the reconciler need not wait for it."""
    conn.execute(
        "UPDATE orders.orders SET lease_until = now() WHERE order_id = %s AND status = 'PENDING'",
        (order_id,),
    )


def delete_pending(conn: Connection, order_id: str) -> None:
    conn.execute(
        "DELETE FROM orders.orders WHERE order_id = %s AND status = 'PENDING'", (order_id,)
    )


def finish(
    conn: Connection,
    *,
    order_id: str,
    status: str,
    reason: str | None,
    product_name: str,
    event: Event | None,
) -> Row | None:
    """Mark a PENDING order final and write its outbox event (if any) in the same statement.

    None when it was no longer PENDING (another worker finished it first)."""
    update = (
        "UPDATE orders.orders SET status = %s, reason = %s, product_name = %s, updated_at = now()"
        " WHERE order_id = %s AND status = 'PENDING'"
        f" RETURNING {_FINISHED_COLUMNS}"
    )
    params = (status, reason, product_name, order_id)
    if event is None:
        return conn.execute(update, params).fetchone()
    return conn.execute(
        f"WITH done AS ({update}), event AS ("
        " INSERT INTO orders.outbox (event_id, subject, payload) SELECT %s, %s, %s FROM done)"
        " SELECT * FROM done",
        (*params, event.event_id, event.subject, Jsonb(event.payload)),
    ).fetchone()


def stale_pending(conn: Connection, *, older_than_seconds: float, limit: int) -> list[str]:
    rows = conn.execute(
        "SELECT order_id::text FROM orders.orders"
        " WHERE status = 'PENDING' AND created_at < now() - make_interval(secs => %s)"
        " AND lease_until < now() ORDER BY created_at LIMIT %s",
        (older_than_seconds, limit),
    ).fetchall()
    return [r["order_id"] for r in rows]


def list_for_user(
    conn: Connection, user_id: str, *, offset: int, limit: int, status: str | None
) -> tuple[list[Row], int]:
    """The user's orders of `status`, or (None) all but the FAILED ones, as the original."""
    where = "user_id = %s AND " + ("status = %s" if status else "status <> %s")
    params = (user_id, status or "FAILED")
    rows = conn.execute(
        f"SELECT {_COLUMNS}, count(*) OVER () AS total FROM orders.orders WHERE {where}"
        " ORDER BY created_at DESC, order_id DESC OFFSET %s LIMIT %s",
        (*params, offset, limit),
    ).fetchall()
    if not rows:
        counted = conn.execute(
            f"SELECT count(*) AS total FROM orders.orders WHERE {where}",
            params,
        ).fetchone()
        return [], int(counted["total"]) if counted else 0
    total = int(rows[0]["total"])
    for row in rows:
        del row["total"]
    return rows, total
