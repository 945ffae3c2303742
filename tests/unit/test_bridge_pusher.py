"""The bridge's fan-out through the `@connections` API (moto's server mode, tests/apigw.py):
every connection gets the message, a gone one (410) is reported for dropping, and posts are
bounded."""

from __future__ import annotations

import asyncio
import json

from bridge.pusher import MAX_IN_FLIGHT, Pusher
from tests.apigw import client, close_connection, received


def test_a_push_reaches_every_connection_and_a_gone_one_is_reported(
    connections_endpoint: str,
) -> None:
    # GIVEN three connections, the second closed by API Gateway
    close_connection(connections_endpoint, "conn-b")
    gone: list[str] = []

    async def on_gone(connection_id: str) -> None:
        gone.append(connection_id)

    message = {"type": "stock", "productId": "p1", "stock": 3, "soldOut": False, "at": 1}

    # WHEN a message is pushed to all three
    async def push() -> int:
        poster = client(connections_endpoint)
        try:
            return await Pusher(poster, on_gone).push(["conn-a", "conn-b", "conn-c"], message)
        finally:
            await poster.aclose()

    delivered = asyncio.run(push())

    # THEN the open two get exactly that JSON, and the closed one is reported gone (410)
    assert delivered == 2
    assert json.loads(received("conn-a")) == message
    assert json.loads(received("conn-c")) == message
    assert gone == ["conn-b"]


class BlockingPoster:
    """A stand-in at the seam that only counts posts in flight until released."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.in_flight = 0
        self.most_in_flight = 0
        self.posted: list[str] = []

    async def post(self, connection_id: str, data: bytes) -> bool:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        await self.release.wait()
        self.in_flight -= 1
        self.posted.append(connection_id)
        return True

    async def aclose(self) -> None:
        pass


def test_no_more_than_the_bound_of_posts_are_in_flight_across_pushes() -> None:
    # GIVEN two fan-outs at once, to 200 connections each, whose posts hang until released
    poster = BlockingPoster()

    async def on_gone(connection_id: str) -> None:
        raise AssertionError("nothing is gone here")

    async def scenario() -> tuple[int, list[int]]:
        pusher = Pusher(poster, on_gone)
        pushes = [
            asyncio.create_task(pusher.push([f"{kind}-{i}" for i in range(200)], {"type": kind}))
            for kind in ("health", "stock")
        ]
        # WHEN as many posts as it allows have started (and it had every chance to start more)
        while poster.in_flight < MAX_IN_FLIGHT:
            await asyncio.sleep(0.001)
        await asyncio.sleep(0.2)
        most_while_blocked = poster.most_in_flight
        poster.release.set()
        return most_while_blocked, list(await asyncio.gather(*pushes))

    most_while_blocked, delivered = asyncio.run(asyncio.wait_for(scenario(), timeout=30))

    # THEN no more than the bound were ever in flight, and every connection got its post
    assert most_while_blocked == MAX_IN_FLIGHT == 32
    assert poster.most_in_flight == MAX_IN_FLIGHT
    assert delivered == [200, 200]
    assert len(set(poster.posted)) == 400
