"""Redis keys shared between services: the sold-out marker and service heartbeats.

Inventory sets the sold-out marker when stock reaches zero and clears it on restock; Orders
reads it to answer "sold out" without touching PostgreSQL. It expires on its own, so a marker
left stale by a race with a restock heals within SOLD_OUT_TTL_SECONDS.
"""

from __future__ import annotations

SOLD_OUT_TTL_SECONDS = 10


def sold_out_key(product_id: str) -> str:
    return f"soldout:{product_id}"


def heartbeat_key(service: str) -> str:
    return f"health:{service}"
