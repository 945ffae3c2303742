"""The live-updates journey over the WebSocket API, to the documented contract (design,
"Realtime"): connect, get a `health` push, subscribe, ping -> pong, a stock push after a
change. The WebSocket URL is VENDYZ_WS_URL (in AWS the WebSocket API has its own host), by
default the base URL's `/ws` (the local cloud's).

The pushes (health, stock) come from the NATS bridge.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from websockets.sync.client import ClientConnection, connect

from tests.acceptance.journey import Shopper, data, new_product

WAIT_SECONDS = 15.0


@pytest.fixture
def ws_url(deployment_url: str) -> str:
    explicit = os.environ.get("VENDYZ_WS_URL")
    if explicit:
        return explicit
    return deployment_url.replace("http://", "ws://").replace("https://", "wss://") + "/ws"


@pytest.fixture
def live(ws_url: str) -> Iterator[ClientConnection]:
    with connect(ws_url, open_timeout=WAIT_SECONDS) as connection:
        yield connection


def next_of_type(connection: ClientConnection, kind: str) -> dict[str, Any]:
    """The next message of `kind`, skipping the pushes of other kinds in between."""
    deadline = time.monotonic() + WAIT_SECONDS
    while (left := deadline - time.monotonic()) > 0:
        message: dict[str, Any] = json.loads(connection.recv(timeout=left))
        if message.get("type") == kind:
            return message
    raise AssertionError(f"no {kind!r} message within {WAIT_SECONDS:.0f} s")


def test_a_watcher_gets_health_on_connect(live: ClientConnection) -> None:
    # GIVEN an anonymous connection  WHEN it opens
    health = next_of_type(live, "health")
    # THEN it is told each service's health, in the original's shape
    services = {s["service"]: s for s in health["services"]}
    assert {"auth", "inventory", "orders", "bridge"} <= set(services)
    for service in services.values():
        assert isinstance(service["lastSeen"], int)
        assert isinstance(service["isUp"], bool)


def test_subscribe_and_ping_are_answered(live: ClientConnection) -> None:
    # GIVEN an open connection
    # WHEN it subscribes to two products and pings
    live.send(json.dumps({"action": "subscribe", "products": ["product-1", "product-2"]}))
    subscribed = next_of_type(live, "subscribed")
    live.send(json.dumps({"action": "ping"}))
    # THEN the subscription is confirmed and the ping gets a pong
    assert subscribed["products"] == ["product-1", "product-2"]
    assert next_of_type(live, "pong") == {"type": "pong"}
    # AND an unknown action is an error message, the connection staying open
    live.send(json.dumps({"action": "dance"}))
    assert next_of_type(live, "error")["message"]
    live.send(json.dumps({"action": "ping"}))
    assert next_of_type(live, "pong") == {"type": "pong"}


def test_a_subscriber_sees_the_stock_change(
    live: ClientConnection, client: httpx.Client, admin: Shopper
) -> None:
    # GIVEN a connection subscribed to a new product
    product = new_product(client, admin, stock=3)
    live.send(json.dumps({"action": "subscribe", "products": [product["productId"]]}))
    next_of_type(live, "subscribed")
    # WHEN the admin restocks it
    path = f"/products/{product['productId']}/stock"
    data(client.post(path, json={"stock": 12}, headers=admin.headers), 200)
    # THEN a stock push for it with the new value arrives
    while (stock := next_of_type(live, "stock"))["productId"] != product["productId"]:
        pass
    assert (stock["stock"], stock["soldOut"]) == (12, False)
