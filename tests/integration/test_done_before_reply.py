"""What an order leaves done by the time it is answered (a Lambda instance is frozen once it
replies, so nothing may be left for later): the product's cached views dropped, the sold-out
marker set, both events in the stream and marked sent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import redis

from localcloud.cloud import LocalCloud
from tests.helpers import bearer, create_product, register_and_login, stock_of
from tests.stream import stored_ids


def order(api: httpx.Client, token: str, product_id: str) -> httpx.Response:
    return api.post("/orders", json={"productId": product_id, "quantity": 1}, headers=bearer(token))


def test_back_to_back_orders_each_drop_the_cached_product_before_their_reply(
    api: httpx.Client, admin_token: str, cache: redis.Redis
) -> None:
    # GIVEN a product whose view is cached, and a shopper
    product_id = create_product(api, admin_token, stock=10)
    _, token = register_and_login(api)
    assert stock_of(api, product_id) == 10
    assert cache.exists(f"product:{product_id}")
    for expected in (9, 8, 7):
        version = int(cache.get("products:version") or 0)
        # WHEN an order is answered, right after the one before (a burst)
        assert order(api, token, product_id).status_code == 201
        # THEN its reply finds the cached view gone and the product list's version bumped
        assert not cache.exists(f"product:{product_id}")
        assert int(cache.get("products:version") or 0) > version
        # AND a shopper reading the product now sees the new stock (and caches it again)
        assert stock_of(api, product_id) == expected


def test_selling_the_last_unit_sets_the_sold_out_marker_before_the_reply(
    api: httpx.Client, admin_token: str, cache: redis.Redis
) -> None:
    # GIVEN a product with one unit
    product_id = create_product(api, admin_token, stock=1)
    _, token = register_and_login(api)
    # WHEN its last unit is sold
    assert order(api, token, product_id).status_code == 201
    # THEN the reply finds it marked sold out, so the next buyer is answered from Redis
    assert cache.exists(f"soldout:{product_id}")
    assert order(api, token, product_id).json()["data"]["reason"] == "OUT_OF_STOCK"


def test_an_answered_order_has_both_events_in_the_stream_and_marked_sent(
    local_cloud: LocalCloud, api: httpx.Client, admin_token: str, db: psycopg.Connection[Any]
) -> None:
    assert local_cloud.urls is not None
    # GIVEN a product and a shopper
    product_id = create_product(api, admin_token, stock=3)
    _, token = register_and_login(api)
    since = datetime.now(UTC) - timedelta(seconds=1)
    # WHEN an order is confirmed
    reply = order(api, token, product_id)
    assert reply.status_code == 201
    order_id = reply.json()["data"]["orderId"]
    # THEN, as it is answered, Inventory's and Orders' events are marked sent
    rows = db.execute(
        "SELECT 'inventory.reserved' AS subject, event_id::text, published_at"
        " FROM inventory.outbox WHERE payload->>'orderId' = %s"
        " UNION ALL SELECT 'order.created', event_id::text, published_at"
        " FROM orders.outbox WHERE payload->>'orderId' = %s",
        (order_id, order_id),
    ).fetchall()
    assert sorted(r["subject"] for r in rows) == ["inventory.reserved", "order.created"]
    assert all(r["published_at"] is not None for r in rows)
    # AND the stream holds each of them once
    nats_url = local_cloud.urls.nats_url
    for row in rows:
        assert stored_ids(nats_url, row["subject"], since)[row["event_id"]] == 1
