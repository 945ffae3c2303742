"""The bridge's fan-out through boto3's `apigatewaymanagementapi` (moto): every connection
gets the message, a gone one (410) is reported for dropping, and posts are bounded."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator

import pytest
from moto.apigatewaymanagementapi.models import apigatewaymanagementapi_backends

from bridge.pusher import MAX_IN_FLIGHT, ManagementApi, Pusher
from tests.apigw import ENDPOINT_URL, REGION, close_connection, mocked_connections_api

MOTO_ACCOUNT = "123456789012"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    with mocked_connections_api(monkeypatch):
        yield


def received(connection_id: str) -> bytes:
    backend = apigatewaymanagementapi_backends[MOTO_ACCOUNT][REGION]
    return backend.connections[connection_id].data


def test_a_push_reaches_every_connection_and_a_gone_one_is_reported(aws: None) -> None:
    # GIVEN three connections, the second closed by API Gateway
    close_connection("conn-b")
    gone: list[str] = []

    async def on_gone(connection_id: str) -> None:
        gone.append(connection_id)

    pusher = Pusher(ManagementApi(ENDPOINT_URL, REGION), on_gone)
    message = {"type": "stock", "productId": "p1", "stock": 3, "soldOut": False, "at": 1}

    # WHEN a message is pushed to all three
    delivered = asyncio.run(pusher.push(["conn-a", "conn-b", "conn-c"], message))
    pusher.close()

    # THEN the open two get exactly that JSON, and the closed one is reported gone (410)
    assert delivered == 2
    assert json.loads(received("conn-a")) == message
    assert json.loads(received("conn-c")) == message
    assert gone == ["conn-b"]


class BlockingPoster:
    """A stand-in at the seam that only counts posts in flight until released."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self._lock = threading.Lock()
        self.in_flight = 0
        self.most_in_flight = 0
        self.reached = threading.Condition(self._lock)

    def post(self, connection_id: str, data: bytes) -> bool:
        with self._lock:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
            self.reached.notify_all()
        self.release.wait(timeout=30)
        with self._lock:
            self.in_flight -= 1
        return True


def test_no_more_than_the_bound_of_posts_are_in_flight() -> None:
    # GIVEN a fan-out to 200 connections whose posts all hang until released
    poster = BlockingPoster()

    async def on_gone(connection_id: str) -> None:
        raise AssertionError("nothing is gone here")

    pusher = Pusher(poster, on_gone)
    message = {"type": "health", "services": []}
    outcome: list[int] = []
    thread = threading.Thread(
        target=lambda: outcome.append(
            asyncio.run(pusher.push([f"conn-{i}" for i in range(200)], message))
        )
    )
    thread.start()

    # WHEN as many posts as it allows have started
    with poster.reached:
        assert poster.reached.wait_for(lambda: poster.in_flight == MAX_IN_FLIGHT, timeout=30)
    # (and the pusher had every chance to start more)
    threading.Event().wait(0.2)
    most_while_blocked = poster.most_in_flight
    poster.release.set()
    thread.join(timeout=30)
    pusher.close()

    # THEN no more than the bound were ever in flight, and every connection got its post
    assert most_while_blocked == MAX_IN_FLIGHT == 32
    assert poster.most_in_flight == MAX_IN_FLIGHT
    assert outcome == [200]
