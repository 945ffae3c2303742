"""Redis is a cache, never the record: losing its data changes no answer."""

from __future__ import annotations

import base64
import json
import socket
import time
import uuid
from functools import partial
from urllib.parse import urlsplit

import httpx
import pytest
import redis
from psycopg_pool import PoolClosed

from localcloud.cloud import LocalCloud
from tests.helpers import bearer, create_product, register_and_login
from tests.severable import severable
from vendyz.core.cache import create_redis
from vendyz.core.db import create_pool
from vendyz.core.events import EventPublisher
from vendyz.core.markers import REVOCATIONS_LOADED_KEY
from vendyz.inventory.api import reserve_stock_rpc
from vendyz.inventory.service import InventoryService
from vendyz.orders.gate import KEYS_COMPLETE, REDIS_BACKOFF_SECONDS, key_field, keys_hash
from vendyz.orders.service import OrdersService


def place(api: httpx.Client, token: str, product_id: str, key: str | None) -> httpx.Response:
    headers = bearer(token) | ({"Idempotency-Key": key} if key else {})
    return api.post("/orders", json={"productId": product_id, "quantity": 1}, headers=headers)


def jti_of(token: str) -> str:
    jti: str = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))["jti"]
    return jti


def test_a_replay_after_redis_lost_the_keys_answers_as_the_first_time(
    api: httpx.Client, admin_token: str, cache: redis.Redis
) -> None:
    # GIVEN a confirmed order for the last unit, then the product marked sold out
    user_id, token = register_and_login(api, prefix="replay")
    _, other = register_and_login(api, prefix="replay-other")
    product_id = create_product(api, admin_token, stock=1)
    first = place(api, token, product_id, "last-unit")
    assert first.status_code == 201, first.text
    assert place(api, other, product_id, "too-late").status_code == 409
    # AND Redis lost its memory of the shopper's keys (a restart, an eviction)
    cache.delete(keys_hash(user_id))

    # WHEN the key is replayed
    replay = place(api, token, product_id, "last-unit")

    # THEN the same status and body as the first answer, not "sold out"
    assert (replay.status_code, replay.json()) == (201, first.json())
    assert replay.headers["Idempotent-Replayed"] == "true"


def test_a_throttled_key_retried_at_once_meets_the_throttle_again(
    api: httpx.Client, admin_token: str
) -> None:
    # GIVEN a shopper who used up the burst of the order throttle
    _, token = register_and_login(api, prefix="bucket")
    product_id = create_product(api, admin_token, stock=100)
    statuses = [place(api, token, product_id, None).status_code for _ in range(25)]
    assert 429 in statuses, statuses
    throttled = place(api, token, product_id, "after-429")
    assert throttled.status_code == 429, throttled.text

    # WHEN the same key is retried at once
    retry = place(api, token, product_id, "after-429")

    # THEN it is throttled again: the 429 left nothing that lets the key skip the bucket
    assert retry.status_code == 429, retry.text
    assert int(retry.headers["Retry-After"]) >= 1


def test_a_logged_out_token_stays_refused_after_redis_lost_the_denylist(
    api: httpx.Client, admin_token: str, cache: redis.Redis
) -> None:
    # GIVEN a logged-out token, and Redis that lost the denylist (and its "complete" mark)
    _, token = register_and_login(api, prefix="lost-denylist")
    product_id = create_product(api, admin_token, stock=5)
    assert api.post("/auth/logout", headers=bearer(token)).status_code == 200
    cache.delete(f"revoked:{jti_of(token)}", REVOCATIONS_LOADED_KEY)

    # WHEN the token is used for a read and for an order
    me = api.get("/auth/me", headers=bearer(token))
    order = place(api, token, product_id, "after-logout")

    # THEN both are refused: PostgreSQL, the record, is asked
    assert me.status_code == 401, me.text
    assert order.status_code == 401, order.text


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_selling_and_reading_go_on_from_postgresql_while_redis_refuses(
    api: httpx.Client, admin_token: str, local_cloud: LocalCloud
) -> None:
    # GIVEN Inventory and Orders on the real PostgreSQL and NATS, but a Redis that refuses
    assert local_cloud.urls is not None
    product_id = create_product(api, admin_token, stock=3)
    user_id, _ = register_and_login(api, prefix="no-redis")
    pool = create_pool(local_cloud.urls.database_url, max_size=2, name="test-no-redis")
    dead = create_redis(f"redis://127.0.0.1:{_closed_port()}/0")  # the functions' own client
    publisher = EventPublisher(local_cloud.urls.nats_url)
    inventory = InventoryService(pool, dead, publisher)
    orders = OrdersService(
        pool, dead, publisher, partial(reserve_stock_rpc, inventory), lease_seconds=5
    )
    try:
        # WHEN a shopper reads the product and the list, and buys
        product = inventory.get_product(product_id)
        listed, _ = inventory.list_products(page=1, limit=50)
        reply = orders.place_order(user_id, str(uuid.uuid4()), "no-redis", product_id, 1)
        # THEN the reads come from PostgreSQL and the order is confirmed
        assert product["stock"] == 3
        assert isinstance(listed, list)
        assert reply.status_code == 201, reply
        assert inventory.get_product(product_id)["stock"] == 2
    finally:
        pool.close()


def test_once_redis_holds_a_shoppers_keys_a_new_key_is_answered_sold_out_without_postgresql(
    api: httpx.Client, admin_token: str, local_cloud: LocalCloud, cache: redis.Redis
) -> None:
    # GIVEN a sold-out product, and Orders' service on the real data services
    assert local_cloud.urls is not None
    product_id = create_product(api, admin_token, stock=1)
    buyer_id, buyer = register_and_login(api, prefix="keys-known")
    assert place(api, buyer, product_id, "the-last-one").status_code == 201
    pool = create_pool(local_cloud.urls.database_url, max_size=2, name="test-keys-known")
    publisher = EventPublisher(local_cloud.urls.nats_url)

    def no_reservation(_: object) -> None:
        raise AssertionError("a sold-out product needs no reservation")

    orders = OrdersService(pool, cache, publisher, no_reservation, lease_seconds=5)
    try:
        # WHEN the shopper's first keyed order after the sell-out is answered
        first = orders.place_order(buyer_id, str(uuid.uuid4()), "first-try", product_id, 1)
        # AND then PostgreSQL is out of reach for the next ones
        pool.close()
        later = orders.place_order(buyer_id, str(uuid.uuid4()), "second-try", product_id, 1)
        # THEN the first read PostgreSQL (and loaded the shopper's keys), the next did not
        assert (first.status_code, first.data["reason"]) == (409, "OUT_OF_STOCK")
        assert (later.status_code, later.data["reason"]) == (409, "OUT_OF_STOCK")
        assert cache.hexists(keys_hash(buyer_id), key_field("the-last-one"))
        # AND a replay of the confirmed key still goes to PostgreSQL for its own answer
        with pytest.raises(PoolClosed):
            orders.place_order(buyer_id, str(uuid.uuid4()), "the-last-one", product_id, 1)
    finally:
        publisher.close()


def test_keys_loaded_on_another_redis_server_are_not_trusted_after_a_failover(
    api: httpx.Client, admin_token: str, cache: redis.Redis
) -> None:
    # GIVEN a shopper's confirmed order, the product sold out, and the shopper's keys known
    user_id, token = register_and_login(api, prefix="failover")
    product_id = create_product(api, admin_token, stock=1)
    first = place(api, token, product_id, "bought")
    assert first.status_code == 201, first.text
    assert place(api, token, product_id, "loads-the-keys").status_code == 409
    assert cache.hget(keys_hash(user_id), KEYS_COMPLETE) is not None
    # AND a failover to a replica that has the hash as another server loaded it, without the
    # write that added the confirmed key (asynchronous replication lost it)
    cache.hset(keys_hash(user_id), KEYS_COMPLETE, "0" * 40)
    cache.hdel(keys_hash(user_id), key_field("bought"))

    # WHEN the confirmed key is replayed
    replay = place(api, token, product_id, "bought")

    # THEN PostgreSQL answers it as the first time, not "sold out"
    assert (replay.status_code, replay.json()) == (201, first.json())


def test_a_key_bought_while_one_instance_could_not_reach_redis_is_replayed_as_first_answered(
    api: httpx.Client, admin_token: str, local_cloud: LocalCloud, cache: redis.Redis
) -> None:
    # GIVEN a shopper whose keys Redis holds as complete (a sold-out order loaded them)
    assert local_cloud.urls is not None
    user_id, token = register_and_login(api, prefix="missed-key")
    other_id, other = register_and_login(api, prefix="missed-key-other")
    gone = create_product(api, admin_token, stock=1)
    assert place(api, other, gone, None).status_code == 201
    assert place(api, token, gone, "loads-the-keys").status_code == 409
    assert cache.hget(keys_hash(user_id), KEYS_COMPLETE) is not None
    # AND an Orders instance whose link to Redis breaks while Redis keeps its data
    product_id = create_product(api, admin_token, stock=1)
    valkey = urlsplit(local_cloud.urls.redis_url)
    pool = create_pool(local_cloud.urls.database_url, max_size=2, name="test-missed-key")
    publisher = EventPublisher(local_cloud.urls.nats_url)
    inventory = InventoryService(pool, create_redis(local_cloud.urls.redis_url), publisher)
    try:
        with severable(valkey.hostname or "127.0.0.1", valkey.port or 6379) as link:
            orders = OrdersService(
                pool,
                create_redis(f"redis://127.0.0.1:{link.port}/0"),
                publisher,
                partial(reserve_stock_rpc, inventory),
                lease_seconds=5,
            )
            link.cut()
            bought = orders.place_order(user_id, jti_of(token), "while-cut", product_id, 1)
            assert bought.status_code == 201, bought
            # WHEN the link is mended and the instance serves its next order, another shopper's
            link.mend()
            time.sleep(REDIS_BACKOFF_SECONDS)
            assert orders.place_order(other_id, jti_of(other), None, gone, 1).status_code == 409
            # AND the shopper replays the key through the API, to other instances
            replay = place(api, token, product_id, "while-cut")
    finally:
        publisher.close()
        pool.close()

    # THEN it is answered as the first time, from PostgreSQL, not "sold out"
    assert replay.status_code == 201, replay.text
    assert replay.json()["data"]["orderId"] == bought.data["orderId"]
    assert replay.headers["Idempotent-Replayed"] == "true"
