"""NATS killed mid-sale and brought back: orders go on, and no committed event is lost
(the relay on the reconcile schedule sends what JetStream did not ack, stored once)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest

from localcloud.cloud import LocalCloud
from tests.helpers import bearer, create_product, register_and_login
from tests.stream import stored_ids

pytestmark = pytest.mark.slow

# The relay leaves rows alone for 5 s and runs every 2 s in the test cloud; generous on top.
RELAY_DEADLINE_SECONDS = 40.0


def buy(api: httpx.Client, token: str, product_id: str, count: int) -> list[str]:
    order_ids = []
    for _ in range(count):
        reply = api.post(
            "/orders", json={"productId": product_id, "quantity": 1}, headers=bearer(token)
        )
        assert reply.status_code == 201, reply.text
        order_ids.append(reply.json()["data"]["orderId"])
    return order_ids


def outbox_rows(db: psycopg.Connection[Any], order_ids: list[str]) -> list[dict[str, Any]]:
    return db.execute(
        "SELECT 'inventory.reserved' AS subject, event_id::text, published_at"
        " FROM inventory.outbox WHERE payload->>'orderId' = ANY(%s)"
        " UNION ALL SELECT 'order.created', event_id::text, published_at"
        " FROM orders.outbox WHERE payload->>'orderId' = ANY(%s)",
        (order_ids, order_ids),
    ).fetchall()


def test_killing_nats_mid_sale_loses_no_committed_event(
    local_cloud: LocalCloud, api: httpx.Client, admin_token: str, db: psycopg.Connection[Any]
) -> None:
    assert local_cloud.urls is not None
    product_id = create_product(api, admin_token, stock=20)
    _, token = register_and_login(api, prefix="outage")
    since = datetime.now(UTC) - timedelta(seconds=1)
    # GIVEN a sale under way
    order_ids = buy(api, token, product_id, 3)
    # WHEN NATS is killed, orders go on meanwhile, and it comes back
    local_cloud.services.kill("nats")
    try:
        during = buy(api, token, product_id, 3)
        # (their events could not be acked, so they wait in the outboxes)
        assert all(r["published_at"] is None for r in outbox_rows(db, during))
    finally:
        local_cloud.services.revive("nats")
    order_ids += during
    order_ids += buy(api, token, product_id, 3)
    # THEN the relay sends whatever was left: every event of every order ends up marked sent
    deadline = time.monotonic() + RELAY_DEADLINE_SECONDS
    rows = outbox_rows(db, order_ids)
    while any(r["published_at"] is None for r in rows) and time.monotonic() < deadline:
        time.sleep(0.5)
        rows = outbox_rows(db, order_ids)
    assert len(rows) == 2 * len(order_ids)
    assert [r for r in rows if r["published_at"] is None] == []
    # AND the stream holds each of those events exactly once
    nats_url = local_cloud.urls.nats_url
    for subject in ("inventory.reserved", "order.created"):
        stored = stored_ids(nats_url, subject, since)
        assert {r["event_id"]: stored[r["event_id"]] for r in rows if r["subject"] == subject} == {
            r["event_id"]: 1 for r in rows if r["subject"] == subject
        }
