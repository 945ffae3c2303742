"""Live health and stock through the whole local cloud: a shopper's browser socket on `/ws`,
the Realtime function, the outbox to JetStream, the NATS bridge and `@connections`."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import websockets

from localcloud.cloud import LocalCloud
from tests.helpers import bearer, create_product, register_and_login

SERVICES = {"auth", "inventory", "orders", "bridge"}
Message = dict[str, Any]


def ws_url(local_cloud: LocalCloud, token: str | None = None) -> str:
    url = local_cloud.base_url.replace("http://", "ws://", 1) + "/ws"
    return f"{url}?token={token}" if token else url


async def wait_for(
    socket: Any, matches: Callable[[Message], bool], timeout: float, seen: list[Message]
) -> Message:
    """The first message that matches, within `timeout`; every message read goes to `seen`."""
    async with asyncio.timeout(timeout):
        while True:
            message: Message = json.loads(await socket.recv())
            seen.append(message)
            if matches(message):
                return message


def all_up(message: Message) -> bool:
    if message.get("type") != "health":
        return False
    up = {s["service"] for s in message["services"] if s["isUp"]}
    return up >= SERVICES


def test_a_watcher_gets_health_pushes_showing_every_service_up(local_cloud: LocalCloud) -> None:
    # GIVEN an anonymous watcher on the WebSocket API
    async def scenario() -> Message:
        async with websockets.connect(ws_url(local_cloud)) as socket:
            # WHEN it waits a few schedule intervals (the test cloud beats every 2 s)
            return await wait_for(socket, all_up, timeout=20, seen=[])

    # THEN a health push lists every service up, in the original's shape
    health = asyncio.run(scenario())
    for service in health["services"]:
        assert set(service) >= {"service", "lastSeen", "isUp"}
        assert service["lastSeen"] > 0


def test_a_watcher_sees_the_stock_fall_to_sold_out_as_others_buy(
    local_cloud: LocalCloud, api: httpx.Client, admin_token: str
) -> None:
    # GIVEN a product with 3 units and a watcher subscribed to it
    product_id = create_product(api, admin_token, stock=3)
    _, token = register_and_login(api)

    async def scenario() -> list[Message]:
        seen: list[Message] = []
        async with websockets.connect(ws_url(local_cloud)) as socket:
            await socket.send(json.dumps({"action": "subscribe", "products": [product_id]}))
            await wait_for(socket, lambda m: m.get("type") == "subscribed", 10, seen)
            # WHEN a shopper buys all three units, one at a time
            async with httpx.AsyncClient(base_url=f"{local_cloud.base_url}/api/v1") as client:
                for n in range(3):
                    reply = await client.post(
                        "/orders",
                        json={"productId": product_id, "quantity": 1},
                        headers={**bearer(token), "Idempotency-Key": f"live-{n}"},
                    )
                    assert reply.status_code == 201, reply.text

            # THEN the watcher's pushes end on stock 0, sold out
            def sold_out(message: Message) -> bool:
                return (
                    message.get("type") == "stock"
                    and message["productId"] == product_id
                    and (message["soldOut"])
                )

            await wait_for(socket, sold_out, 10, seen)
        return seen

    stock_pushes = [m for m in asyncio.run(scenario()) if m.get("type") == "stock"]
    assert stock_pushes[-1]["stock"] == 0
    assert all(m["productId"] == product_id for m in stock_pushes)
    shown = [m["stock"] for m in stock_pushes]
    assert shown == sorted(shown, reverse=True), "stock never goes back up during the sale"


def test_a_buyer_gets_an_order_push_for_their_own_order_and_never_for_anothers(
    local_cloud: LocalCloud, api: httpx.Client, admin_token: str
) -> None:
    # GIVEN two signed-in shoppers, each with a socket carrying their token
    product_id = create_product(api, admin_token, stock=5)
    _, buyer_token = register_and_login(api)
    _, other_token = register_and_login(api)

    async def scenario() -> tuple[Message, list[Message]]:
        async with (
            websockets.connect(ws_url(local_cloud, buyer_token)) as buyer,
            websockets.connect(ws_url(local_cloud, other_token)) as other,
        ):
            for socket in (buyer, other):
                await socket.send(json.dumps({"action": "ping"}))
                await wait_for(socket, lambda m: m.get("type") == "pong", 10, [])
            # WHEN the first one buys
            async with httpx.AsyncClient(base_url=f"{local_cloud.base_url}/api/v1") as client:
                reply = await client.post(
                    "/orders",
                    json={"productId": product_id, "quantity": 2},
                    headers={**bearer(buyer_token), "Idempotency-Key": "own-order"},
                )
            assert reply.status_code == 201, reply.text
            order_id = reply.json()["data"]["orderId"]
            # THEN the buyer's socket gets the order push
            push = await wait_for(
                buyer, lambda m: m.get("type") == "order" and m["orderId"] == order_id, 10, []
            )
            # AND the other shopper's socket, read for as long again, gets no order push
            others: list[Message] = []
            with pytest.raises(TimeoutError):
                await wait_for(other, lambda m: m.get("type") == "order", 2, others)
            return push, others

    push, others = asyncio.run(scenario())
    assert push["status"] == "CONFIRMED"
    assert push["productId"] == product_id
    assert push["quantity"] == 2
    assert not [m for m in others if m.get("type") == "order"]
