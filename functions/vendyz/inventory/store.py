"""SQL for the inventory schema, and nothing else."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from vendyz.core.db import Connection, Row

_COLUMNS = "product_id, name, stock, price, starts_at, ends_at, max_per_user"


# The orders a listing may be sorted in (the original sorted by name).
PRODUCT_ORDERS = {
    "name": "name, product_id",
    "-name": "name DESC, product_id DESC",
    "created": "created_at, product_id",
    "-created": "created_at DESC, product_id DESC",
}


def list_products(
    conn: Connection, *, offset: int, limit: int, sort: str = "name"
) -> tuple[list[Row], int]:
    rows = conn.execute(
        f"SELECT {_COLUMNS}, count(*) OVER () AS total FROM inventory.products"
        f" ORDER BY {PRODUCT_ORDERS[sort]} OFFSET %s LIMIT %s",
        (offset, limit),
    ).fetchall()
    if not rows:  # a page past the end still reports the total
        counted = conn.execute("SELECT count(*) AS total FROM inventory.products").fetchone()
        return [], int(counted["total"]) if counted else 0
    total = int(rows[0]["total"])
    for row in rows:
        del row["total"]
    return rows, total


def get_product(conn: Connection, product_id: str) -> Row | None:
    return conn.execute(
        f"SELECT {_COLUMNS} FROM inventory.products WHERE product_id = %s", (product_id,)
    ).fetchone()


def insert_product(
    conn: Connection,
    *,
    product_id: str,
    name: str,
    stock: int,
    price: Decimal,
    starts_at: datetime | None,
    ends_at: datetime | None,
    max_per_user: int | None,
) -> Row:
    row = conn.execute(
        "INSERT INTO inventory.products"
        " (product_id, name, stock, price, starts_at, ends_at, max_per_user)"
        f" VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING {_COLUMNS}",
        (product_id, name, stock, price, starts_at, ends_at, max_per_user),
    ).fetchone()
    assert row is not None
    return row


def insert_missing_products(conn: Connection, products: list[tuple[str, str, int, str]]) -> int:
    """(product_id, name, stock, price) rows not there yet; returns how many were added."""
    added = 0
    for product in products:
        added += conn.execute(
            "INSERT INTO inventory.products (product_id, name, stock, price)"
            " VALUES (%s, %s, %s, %s) ON CONFLICT (product_id) DO NOTHING",
            product,
        ).rowcount
    return added


def set_stock(conn: Connection, product_id: str, stock: int) -> Row | None:
    return conn.execute(
        "UPDATE inventory.products SET stock = %s, updated_at = now() WHERE product_id = %s"
        f" RETURNING {_COLUMNS}",
        (stock, product_id),
    ).fetchone()


def reserve_stock(
    conn: Connection, *, order_id: str, product_id: str, quantity: int, user_id: str
) -> Row:
    """One round trip: the whole reservation runs in inventory.reserve_stock
    (infra/migrations/R__reserve_stock.sql)."""
    row = conn.execute(
        "SELECT * FROM inventory.reserve_stock(%s, %s, %s, %s)",
        (order_id, product_id, quantity, user_id),
    ).fetchone()
    assert row is not None
    return row
