"""The seed data of the design: the admin account and three products. Safe to re-run."""

from __future__ import annotations

import psycopg
from argon2 import PasswordHasher

SEED_PRODUCTS = (
    ("product-1", "Limited Sneaker Drop", 1, "129.00"),
    ("product-2", "Signed Vinyl Record", 5, "49.00"),
    ("product-3", "Flash Hoodie", 10, "59.00"),
)


def seed(database_url: str, admin_email: str, admin_password: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn, conn.transaction():
        exists = conn.execute(
            "SELECT 1 FROM auth.users WHERE email = %s", (admin_email.strip().lower(),)
        ).fetchone()
        if exists is None:
            conn.execute(
                "INSERT INTO auth.users (email, password_hash, first_name, last_name, role)"
                " VALUES (%s, %s, 'Lead', 'Admin', 'ADMIN') ON CONFLICT (email) DO NOTHING",
                (admin_email.strip().lower(), PasswordHasher().hash(admin_password)),
            )
        conn.cursor().executemany(
            "INSERT INTO inventory.products (product_id, name, stock, price)"
            " VALUES (%s, %s, %s, %s) ON CONFLICT (product_id) DO NOTHING",
            SEED_PRODUCTS,
        )
