"""The order path through the local cloud's HTTP API, on real PostgreSQL, Valkey and NATS.

These are the guarantees of ARCHITECTURE.md "The order path and its guarantees": never
oversold, nothing leaked, one order per (user, key), answers that replay exactly.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import nats
import psycopg
import pytest

from localcloud.cloud import LocalCloud
from tests.buyers import buy_concurrently
from tests.helpers import bearer, create_product, register_and_login, stock_of

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def crowd(api: httpx.Client) -> list[str]:
    """Tokens of 100 distinct shoppers."""
    with ThreadPoolExecutor(8) as pool:
        return [token for _, token in pool.map(lambda _: register_and_login(api), range(100))]


@pytest.fixture
def shopper(api: httpx.Client) -> tuple[str, str]:
    return register_and_login(api)


def confirmed_orders(db: psycopg.Connection[Any], product_id: str) -> int:
    row = db.execute(
        "SELECT count(*) AS n FROM orders.orders WHERE product_id = %s AND status = 'CONFIRMED'",
        (product_id,),
    ).fetchone()
    assert row is not None
    return int(row["n"])


def place(
    api: httpx.Client, token: str, product_id: str, quantity: int = 1, key: str | None = None
) -> httpx.Response:
    headers = bearer(token) | ({"Idempotency-Key": key} if key else {})
    return api.post(
        "/orders", json={"productId": product_id, "quantity": quantity}, headers=headers
    )


def test_last_unit_sells_exactly_once_to_500_concurrent_buyers(
    base_url: str,
    api: httpx.Client,
    admin_token: str,
    crowd: list[str],
    db: psycopg.Connection[Any],
) -> None:
    # GIVEN a product with one unit left
    product_id = create_product(api, admin_token, stock=1)
    # WHEN 500 buyers from 100 users try to buy it at once
    replies = buy_concurrently(base_url, crowd, product_id, buyers=500)
    # THEN exactly one order is confirmed, everyone else hears "out of stock", nothing fails
    statuses = Counter(r.status for r in replies)
    assert statuses[201] == 1, statuses
    assert statuses[409] == 499, statuses
    assert all(r.body["data"]["reason"] == "OUT_OF_STOCK" for r in replies if r.status == 409)
    assert stock_of(api, product_id) == 0
    assert confirmed_orders(db, product_id) == 1


def test_1000_buyers_for_100_units_sell_exactly_100(
    base_url: str,
    api: httpx.Client,
    admin_token: str,
    crowd: list[str],
    db: psycopg.Connection[Any],
) -> None:
    # GIVEN 100 units
    product_id = create_product(api, admin_token, stock=100)
    # WHEN 1000 buyers want one each
    replies = buy_concurrently(base_url, crowd, product_id, buyers=1000)
    # THEN exactly 100 are confirmed, the stock is 0, the database agrees, and there is no 5xx
    statuses = Counter(r.status for r in replies)
    assert statuses[201] == 100, statuses
    assert not [s for s in statuses if s >= 500], statuses
    assert stock_of(api, product_id) == 0
    assert confirmed_orders(db, product_id) == 100
    confirmed_ids = {r.body["data"]["orderId"] for r in replies if r.status == 201}
    assert len(confirmed_ids) == 100


def test_the_product_page_and_list_follow_a_burst_of_purchases(
    base_url: str, api: httpx.Client, admin_token: str, crowd: list[str]
) -> None:
    # GIVEN a product with 50 units whose page and list entry are cached
    product_id = create_product(api, admin_token, stock=50)

    def listed_stock() -> int | None:
        # The newest product comes first in the list sorted newest first.
        newest = api.get("/products", params={"limit": 1, "sort": "-created"}).json()["data"]
        return next((p["stock"] for p in newest["items"] if p["product_id"] == product_id), None)

    assert (stock_of(api, product_id), listed_stock()) == (50, 50)
    # WHEN 30 buyers take one each at once
    replies = buy_concurrently(base_url, crowd, product_id, buyers=30)
    assert Counter(r.status for r in replies) == {201: 30}
    # THEN both show the 20 left (the cached views go within moments of the last purchase)
    deadline = time.monotonic() + 5
    while (stock_of(api, product_id), listed_stock()) != (20, 20) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert (stock_of(api, product_id), listed_stock()) == (20, 20)


def test_one_idempotency_key_replayed_50_times_concurrently_makes_one_order(
    base_url: str,
    api: httpx.Client,
    admin_token: str,
    shopper: tuple[str, str],
    db: psycopg.Connection[Any],
) -> None:
    # GIVEN a product with stock 10 and one shopper's key
    product_id = create_product(api, admin_token, stock=10)
    _, token = shopper
    key = str(uuid.uuid4())
    # WHEN the same request with that key is sent 50 times at once, quantity 3
    replies = buy_concurrently(
        base_url, [token], product_id, buyers=50, quantity=3, idempotency_key=key
    )
    # THEN there is one order; every answer carries its id (or is a 409 past the wait)
    order_ids = {r.body["data"]["orderId"] for r in replies if r.status == 201}
    assert len(order_ids) == 1, Counter(r.status for r in replies)
    assert {r.status for r in replies} <= {201, 409}
    for reply in replies:
        if reply.status == 409:
            assert reply.body["data"]["status"] == "PENDING"
    # ... the replays say so, and the stock went down by exactly one order's quantity
    assert sum(1 for r in replies if r.headers.get("Idempotent-Replayed") == "true") >= 1
    assert stock_of(api, product_id) == 7
    rows = db.execute(
        "SELECT count(*) AS n FROM orders.orders WHERE product_id = %s", (product_id,)
    )
    assert rows.fetchone() == {"n": 1}


def test_replay_returns_the_same_status_and_body(
    api: httpx.Client, admin_token: str, shopper: tuple[str, str]
) -> None:
    # GIVEN an order placed with a key
    product_id = create_product(api, admin_token, stock=5)
    _, token = shopper
    first = place(api, token, product_id, 2, key="replay-me")
    assert first.status_code == 201
    # WHEN the same request is sent again later
    again = place(api, token, product_id, 2, key="replay-me")
    # THEN it gets the same status and body, marked as a replay, and buys nothing more
    assert again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert stock_of(api, product_id) == 3


def test_a_replayed_key_still_answers_after_the_product_sold_out(
    api: httpx.Client, admin_token: str, shopper: tuple[str, str]
) -> None:
    # GIVEN the last unit bought with a key, so the product is now marked sold out
    product_id = create_product(api, admin_token, stock=1)
    _, token = shopper
    first = place(api, token, product_id, key="last-unit")
    assert first.status_code == 201
    assert place(api, token, product_id, key="another").status_code == 409
    # WHEN the first request is replayed
    again = place(api, token, product_id, key="last-unit")
    # THEN it still gets its confirmed order back, not "sold out"
    assert again.status_code == 201
    assert again.json() == first.json()


def test_same_key_with_a_different_body_is_rejected_and_writes_nothing(
    api: httpx.Client, admin_token: str, shopper: tuple[str, str]
) -> None:
    # GIVEN an order placed with a key
    product_id = create_product(api, admin_token, stock=5)
    _, token = shopper
    assert place(api, token, product_id, 1, key="k-1").status_code == 201
    # WHEN the key is reused with another quantity
    reused = place(api, token, product_id, 2, key="k-1")
    # THEN 422 names the key, and the stock only reflects the first order
    assert reused.status_code == 422
    assert "Idempotency-Key" in reused.json()["message"]
    assert stock_of(api, product_id) == 4


def test_keys_belong_to_their_user(
    api: httpx.Client, admin_token: str, shopper: tuple[str, str]
) -> None:
    # GIVEN a key used by one shopper
    product_id = create_product(api, admin_token, stock=5)
    _, token = shopper
    _, other_token = register_and_login(api)
    mine = place(api, token, product_id, key="shared-key-string")
    # WHEN another shopper uses the same key string
    theirs = place(api, other_token, product_id, key="shared-key-string")
    # THEN each gets an order of their own
    assert mine.status_code == theirs.status_code == 201
    assert mine.json()["data"]["orderId"] != theirs.json()["data"]["orderId"]
    assert stock_of(api, product_id) == 3


def test_no_key_means_a_new_order_every_time(
    api: httpx.Client, admin_token: str, shopper: tuple[str, str]
) -> None:
    product_id = create_product(api, admin_token, stock=5)
    _, token = shopper
    first, second = place(api, token, product_id), place(api, token, product_id)
    assert first.status_code == second.status_code == 201
    assert first.json()["data"]["orderId"] != second.json()["data"]["orderId"]


@contextmanager
def reservation_committed_but_unanswered(
    local_cloud: LocalCloud, product_id: str, seconds: float
) -> Iterator[None]:
    """The next ReserveStock of `product_id` commits, but its Inventory instance answers only
    `seconds` after: the instance is frozen while PostgreSQL still waits on a row lock, then
    the lock goes and PostgreSQL commits the (autocommit) reservation on its own."""
    assert local_cloud.urls is not None
    inventory = local_cloud.runtimes["InventoryFunction"]
    lock = psycopg.connect(local_cloud.urls.database_url)
    lock.execute("SELECT 1 FROM inventory.products WHERE product_id = %s FOR UPDATE", (product_id,))
    watcher = psycopg.connect(local_cloud.urls.database_url, autocommit=True)

    def freeze_once_waiting() -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            waiting = watcher.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                " AND query LIKE '%%reserve_stock%%'"
            ).fetchone()
            if waiting and waiting[0]:
                break
            time.sleep(0.01)
        frozen = inventory.instance_pids
        for pid in frozen:  # the busy one stays frozen; an idle one thaws when next used
            os.kill(pid, signal.SIGSTOP)
        lock.commit()
        time.sleep(seconds)
        for pid in frozen:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)

    thread = threading.Thread(target=freeze_once_waiting)
    thread.start()
    try:
        yield
    finally:
        thread.join()
        lock.close()
        watcher.close()


def test_reserve_timeout_after_commit_then_retry_yields_one_confirmed_order(
    api: httpx.Client,
    admin_token: str,
    shopper: tuple[str, str],
    local_cloud: LocalCloud,
    db: psycopg.Connection[Any],
) -> None:
    # GIVEN ReserveStock that commits, then stalls past the orders function's RPC timeout
    product_id = create_product(api, admin_token, stock=5)
    _, token = shopper
    # WHEN the shopper orders
    with reservation_committed_but_unanswered(local_cloud, product_id, 4.0):
        first = place(api, token, product_id, 2, key="slow-1")
    # THEN they are told to retry, and the order is PENDING while the stock is reserved
    assert first.status_code == 503
    assert int(first.headers["Retry-After"]) >= 1
    order_id = first.json()["data"]["orderId"]
    assert stock_of(api, product_id) == 3
    # WHEN they retry with the same key
    retry = place(api, token, product_id, 2, key="slow-1")
    # THEN the same order is confirmed, and stock and orders agree
    assert retry.status_code == 201, retry.text
    assert retry.json()["data"]["orderId"] == order_id
    assert stock_of(api, product_id) == 3
    assert confirmed_orders(db, product_id) == 1


def test_reserve_timeout_after_commit_is_finished_by_the_reconciler(
    api: httpx.Client,
    admin_token: str,
    shopper: tuple[str, str],
    local_cloud: LocalCloud,
    db: psycopg.Connection[Any],
) -> None:
    # GIVEN an order left PENDING by a ReserveStock that timed out after committing
    product_id = create_product(api, admin_token, stock=5)
    _, token = shopper
    with reservation_committed_but_unanswered(local_cloud, product_id, 4.0):
        first = place(api, token, product_id, 1, key="slow-2")
    assert first.status_code == 503
    order_id = first.json()["data"]["orderId"]
    # WHEN nobody retries, and the scheduled reconciler runs
    deadline = time.monotonic() + 20
    status = "PENDING"
    while status == "PENDING" and time.monotonic() < deadline:
        time.sleep(0.5)
        status = api.get(f"/orders/{order_id}", headers=bearer(token)).json()["data"]["status"]
    # THEN the order is confirmed once, and the stock agrees
    assert status == "CONFIRMED"
    assert stock_of(api, product_id) == 4
    assert confirmed_orders(db, product_id) == 1


def test_events_one_per_committed_change_and_none_for_a_rejection(
    local_cloud: LocalCloud, api: httpx.Client, admin_token: str, shopper: tuple[str, str]
) -> None:
    assert local_cloud.urls is not None
    nats_url = local_cloud.urls.nats_url
    _, token = shopper
    seen: list[tuple[str, dict[str, Any]]] = []

    async def record(msg: Any) -> None:
        seen.append((msg.subject, json.loads(msg.data)))

    async def watch(ready: threading.Event, done: threading.Event) -> None:
        client = await nats.connect(nats_url)
        for subject in ("product.created", "inventory.>", "order.created"):
            await client.subscribe(subject, cb=record)
        await client.flush()
        ready.set()
        while not done.is_set():
            await asyncio.sleep(0.05)
        await client.drain()

    ready, done = threading.Event(), threading.Event()
    watcher = threading.Thread(target=lambda: asyncio.run(watch(ready, done)))
    watcher.start()
    assert ready.wait(5)
    try:
        # GIVEN a new product with 2 units (one product.created)
        product_id = create_product(api, admin_token, stock=2)
        # WHEN three orders come (two confirmed, one rejected) and the admin restocks once
        statuses = [place(api, token, product_id).status_code for _ in range(3)]
        api.post(f"/products/{product_id}/stock", json={"stock": 7}, headers=bearer(admin_token))
        # An instance is frozen once it answers: what it left to publish goes out with its
        # next invocation or the scheduled relay, so wait for that, then for any stray event.
        deadline = time.monotonic() + 15
        while len([1 for _, body in seen if body.get("productId") == product_id]) < 6:
            assert time.monotonic() < deadline, seen
            time.sleep(0.1)
        time.sleep(1.5)
    finally:
        done.set()
        watcher.join(10)
    assert statuses == [201, 201, 409]
    # THEN exactly one event per committed change, none for the rejected order
    mine = Counter(subject for subject, body in seen if body.get("productId") == product_id)
    assert mine == {
        "product.created": 1,
        "inventory.reserved": 2,
        "order.created": 2,
        "inventory.updated": 1,
    }
    event_ids = [body["eventId"] for _, body in seen if body.get("productId") == product_id]
    assert len(set(event_ids)) == len(event_ids)


def test_sale_window_is_enforced(
    api: httpx.Client, admin_token: str, shopper: tuple[str, str]
) -> None:
    _, token = shopper
    now = datetime.now(UTC)
    # GIVEN a sale that has not started and one that has ended
    upcoming = create_product(api, admin_token, starts_at=(now + timedelta(hours=1)).isoformat())
    over = create_product(
        api,
        admin_token,
        starts_at=(now - timedelta(hours=2)).isoformat(),
        ends_at=(now - timedelta(hours=1)).isoformat(),
    )
    # WHEN a shopper tries to buy either
    early, late = place(api, token, upcoming), place(api, token, over)
    # THEN both are 409 with the reason, and no stock moved
    assert early.status_code == late.status_code == 409
    assert early.json()["data"]["reason"] == "SALE_NOT_STARTED"
    assert late.json()["data"]["reason"] == "SALE_ENDED"
    assert "not active" in early.json()["message"]
    assert stock_of(api, upcoming) == stock_of(api, over) == 10


def test_max_per_user_holds_under_concurrency(
    base_url: str, api: httpx.Client, admin_token: str, shopper: tuple[str, str]
) -> None:
    # GIVEN a product limited to 2 per customer
    product_id = create_product(api, admin_token, stock=50, max_per_user=2)
    _, token = shopper
    # WHEN one shopper fires 15 different orders at once
    replies = buy_concurrently(base_url, [token], product_id, buyers=15, concurrency=15)
    # THEN exactly 2 are confirmed and the rest hit the limit
    statuses = Counter(r.status for r in replies)
    assert statuses[201] == 2, statuses
    assert {r.body["data"]["reason"] for r in replies if r.status == 409} == {"LIMIT_REACHED"}
    assert stock_of(api, product_id) == 48


def test_orders_are_listed_newest_first_and_private(
    api: httpx.Client, admin_token: str, shopper: tuple[str, str]
) -> None:
    # GIVEN a shopper with three orders and another shopper
    product_id = create_product(api, admin_token, stock=10)
    user_id, token = shopper
    placed = [place(api, token, product_id).json()["data"]["orderId"] for _ in range(3)]
    _, stranger = register_and_login(api)
    # WHEN they list their orders two per page
    page1 = api.get("/orders", params={"page": 1, "limit": 2}, headers=bearer(token)).json()["data"]
    page2 = api.get("/orders", params={"page": 2, "limit": 2}, headers=bearer(token)).json()["data"]
    # THEN they see their own, newest first, with the original wire names
    assert [o["order_id"] for o in page1["items"] + page2["items"]] == placed[::-1]
    assert page1["total"] == 3
    first = page1["items"][0]
    assert {
        "order_id",
        "status",
        "product_id",
        "product_name",
        "quantity",
        "user_id",
    } <= first.keys()
    assert first["user_id"] == user_id
    # ... another shopper cannot read them, an admin can
    assert api.get(f"/orders/{placed[0]}", headers=bearer(stranger)).status_code == 404
    assert api.get(f"/orders/{placed[0]}", headers=bearer(admin_token)).status_code == 200
    assert (
        api.get(f"/orders/{placed[0]}", headers=bearer(token)).json()["data"]["status"]
        == "CONFIRMED"
    )


def test_failed_orders_are_listed_only_when_asked_for(
    api: httpx.Client, admin_token: str, shopper: tuple[str, str]
) -> None:
    # GIVEN a shopper with one confirmed order and one that failed (more than the stock left)
    product_id = create_product(api, admin_token, stock=2)
    _, token = shopper
    confirmed = place(api, token, product_id, 1, key="listed-ok")
    failed = place(api, token, product_id, 2, key="listed-failed")
    assert (confirmed.status_code, failed.status_code) == (201, 409), failed.text

    def listed(**params: str) -> list[str]:
        reply = api.get("/orders", params=params, headers=bearer(token))
        assert reply.status_code == 200, reply.text
        return [o["status"] for o in reply.json()["data"]["items"]]

    # WHEN they list their orders as the original's app does, and with a status filter
    # THEN the default shows what the original showed (not FAILED); the filter shows the rest
    assert listed() == ["CONFIRMED"]
    assert listed(status="FAILED") == ["FAILED"]
    assert listed(status="CONFIRMED") == ["CONFIRMED"]
