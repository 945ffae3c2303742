"""Redis keys shared between services: the sold-out marker, service heartbeats, the
denylist of logged-out tokens and the registry of WebSocket connections.

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


def revoked_key(jti: str) -> str:
    """The key that denylists a logged-out token (auth writes it with a TTL ending at the
    token's exp; the authorizer and every service read it)."""
    return f"revoked:{jti}"


# The WebSocket connection registry: written by the Realtime function, read by the NATS bridge
# (infra/bridge defines the same strings; an integration test checks they agree).
CONNECTIONS_KEY = "realtime:conns"
# API Gateway closes a connection after 2 hours, so an entry outlives every live connection;
# $disconnect is delivered only best effort, so entries also expire on their own.
CONNECTION_TTL_SECONDS = 7_800


def connection_key(connection_id: str) -> str:
    """The hash of one connection: userId ("" when anonymous), products (JSON list; [] = every
    product) and connectedAt (ms since the epoch)."""
    return f"realtime:conn:{connection_id}"
