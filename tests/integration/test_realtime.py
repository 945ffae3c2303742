"""Live updates end to end: browsers' WebSocket connections through the local cloud, the
Realtime function's connection registry in Valkey (the contract the NATS bridge reads), the
$connect authorizer, bad input on the socket, and the @connections management API through
boto3's `apigatewaymanagementapi` client, as the bridge calls it."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import boto3
import httpx
import pytest
import redis
import websockets
from botocore.config import Config
from botocore.exceptions import ClientError
from websockets.asyncio.client import ClientConnection

from localcloud.cloud import LocalCloud
from tests.helpers import bearer, register_and_login, signed_headers
from tests.integration.test_auth_api import forged_tokens
from vendyz.core.markers import CONNECTION_TTL_SECONDS, CONNECTIONS_KEY, connection_key


@pytest.fixture(scope="module")
def cache(local_cloud: LocalCloud) -> Iterator[redis.Redis]:
    assert local_cloud.urls is not None
    client = redis.Redis.from_url(local_cloud.urls.redis_url, decode_responses=True)
    yield client
    client.close()


def management_client(cloud: LocalCloud) -> Any:
    """boto3's management API client on the local stage URL, with the cloud's credentials."""
    assert cloud.secrets is not None
    return boto3.client(
        "apigatewaymanagementapi",
        endpoint_url=f"{cloud.base_url}/ws",
        region_name="us-east-1",
        aws_access_key_id=cloud.secrets.access_key_id,
        aws_secret_access_key=cloud.secrets.secret_access_key,
        config=Config(retries={"max_attempts": 1}),
    )


@pytest.fixture(scope="module")
def connections(local_cloud: LocalCloud) -> Any:
    return management_client(local_cloud)


def run(test: Callable[[], Awaitable[Any]]) -> Any:
    return asyncio.run(asyncio.wait_for(test(), timeout=60))


async def open_watcher(
    cloud: LocalCloud, cache: redis.Redis, query: str = "", headers: dict[str, str] | None = None
) -> tuple[ClientConnection, str]:
    """A connection and its id, found as the one entry it added to the registry."""
    before = set(cache.zrange(CONNECTIONS_KEY, 0, -1))
    ws = await websockets.connect(f"{cloud.websocket_url}{query}", additional_headers=headers)
    added = set(cache.zrange(CONNECTIONS_KEY, 0, -1)) - before
    assert len(added) == 1, added
    return ws, added.pop()


PUSHES = {"health", "stock", "order"}  # what the bridge may send at any moment


async def ask(ws: ClientConnection, message: Any) -> Any:
    """The answer to `message`: the next frame that is not one of the bridge's pushes."""
    await ws.send(message if isinstance(message, str) else json.dumps(message))
    async with asyncio.timeout(10):
        while True:
            reply = json.loads(await ws.recv())
            if not (isinstance(reply, dict) and reply.get("type") in PUSHES):
                return reply


async def until_closed(ws: ClientConnection) -> None:
    """Returns once the gateway closed the connection; pushes before the close are skipped."""
    async with asyncio.timeout(10):
        while True:
            await ws.recv()  # raises ConnectionClosed


def wait_until_gone(cache: redis.Redis, connection_id: str) -> None:
    deadline = time.monotonic() + 10
    while cache.exists(connection_key(connection_id)) or cache.zscore(
        CONNECTIONS_KEY, connection_id
    ):
        assert time.monotonic() < deadline, f"{connection_id} is still registered"
        time.sleep(0.05)


# -- the registry -------------------------------------------------------------------------------
def test_anonymous_watcher_is_registered_for_every_product_until_it_leaves(
    local_cloud: LocalCloud, cache: redis.Redis
) -> None:
    # GIVEN a browser connecting without a token
    async def scenario() -> tuple[str, dict[str, str], int, float | None]:
        ws, connection_id = await open_watcher(local_cloud, cache)
        entry = cache.hgetall(connection_key(connection_id))
        ttl = cache.ttl(connection_key(connection_id))
        score = cache.zscore(CONNECTIONS_KEY, connection_id)
        await ws.close()
        return connection_id, entry, ttl, score

    # WHEN it connects and later closes
    now_ms = time.time() * 1000
    connection_id, entry, ttl, score = run(scenario)

    # THEN while connected it is an anonymous watcher of every product, expiring on its own
    assert entry["userId"] == ""
    assert json.loads(entry["products"]) == []
    assert abs(int(entry["connectedAt"]) - now_ms) < 60_000
    assert CONNECTION_TTL_SECONDS - 60 < ttl <= CONNECTION_TTL_SECONDS
    assert score is not None
    assert abs(score - (now_ms + CONNECTION_TTL_SECONDS * 1000)) < 60_000
    # AND $disconnect removes it
    wait_until_gone(cache, connection_id)


@pytest.mark.parametrize("carrier", ["query", "header"])
def test_a_valid_token_binds_the_connection_to_its_user(
    local_cloud: LocalCloud, cache: redis.Redis, api: httpx.Client, carrier: str
) -> None:
    # GIVEN a logged-in shopper
    user_id, token = register_and_login(api, prefix="watcher")

    # WHEN their browser connects with ?token= (another client may send a bearer header)
    async def scenario() -> str:
        if carrier == "query":
            ws, connection_id = await open_watcher(local_cloud, cache, f"?token={token}")
        else:
            ws, connection_id = await open_watcher(local_cloud, cache, headers=bearer(token))
        user = cache.hget(connection_key(connection_id), "userId")
        await ws.close()
        return str(user)

    # THEN the registry knows the connection is theirs (order pushes go to it)
    assert run(scenario) == user_id


def test_bad_or_revoked_tokens_are_refused_with_401_and_the_gateway_serves_on(
    local_cloud: LocalCloud, cache: redis.Redis, api: httpx.Client
) -> None:
    # GIVEN forgeries of a valid token, and a token whose user logged out
    _, token = register_and_login(api, prefix="forger")
    assert local_cloud.secrets is not None
    bad = forged_tokens(token, local_cloud.secrets.jwt_key)
    _, revoked = register_and_login(api, prefix="leaver")
    assert api.post("/auth/logout", headers=bearer(revoked)).status_code == 200
    bad["revoked"] = revoked

    async def scenario() -> tuple[dict[str, int], Any]:
        statuses = {}
        for name, forged in bad.items():
            # WHEN a connection presents each
            with pytest.raises(websockets.InvalidStatus) as refused:
                await websockets.connect(f"{local_cloud.websocket_url}?token={forged}")
            statuses[name] = refused.value.response.status_code
        ws, _ = await open_watcher(local_cloud, cache)
        async with ws:
            return statuses, await ask(ws, {"action": "ping"})

    statuses, pong = run(scenario)

    # THEN every handshake is refused with 401, and the next watcher is served
    assert statuses == dict.fromkeys(bad, 401)
    assert pong == {"type": "pong"}


# -- messages ---------------------------------------------------------------------------------
def test_messages_get_answers_and_bad_ones_a_clear_error_on_an_open_socket(
    local_cloud: LocalCloud, cache: redis.Redis
) -> None:
    # GIVEN a connected watcher
    async def scenario() -> tuple[list[Any], str, list[str]]:
        ws, connection_id = await open_watcher(local_cloud, cache)
        key = connection_key(connection_id)
        async with ws:
            replies = []
            # WHEN it sends the design's messages, then malformed ones, on the same socket
            for message in (
                {"action": "ping"},
                {"action": "subscribe", "products": ["product-1", "product-2", "product-1"]},
                {"action": "subscribe", "products": ["product-3", "no-such-product"]},
                {"action": "subscribe", "products": "product-1"},
                {"action": "subscribe", "products": ["product-1", 7]},
                {"action": "subscribe", "products": [f"p-{n}" for n in range(101)]},
                "this is not JSON",
                '["a", "list"]',
                {"action": "dance"},
                {"products": ["product-1"]},
            ):
                replies.append(await ask(ws, message))
            watched = str(cache.hget(key, "products"))
            replies.append(await ask(ws, {"action": "subscribe"}))
            everything = [watched, str(cache.hget(key, "products"))]
            return replies, connection_id, everything

    replies, connection_id, watched = run(scenario)

    # THEN ping and subscribe are answered as designed (each product once, in order)
    assert replies[0] == {"type": "pong"}
    assert replies[1] == {"type": "subscribed", "products": ["product-1", "product-2"]}
    # AND each bad message gets an error naming what was wrong
    errors = [r["message"] for r in replies[2:10]]
    assert [r["type"] for r in replies[2:10]] == ["error"] * 8
    assert errors[0] == "unknown product: no-such-product"
    assert errors[1] == "products: expected a list of product ids"
    assert errors[2].startswith("products[1]: ")
    assert errors[3] == "products: at most 100 product ids"
    assert errors[4].startswith("body: expected a JSON object")
    assert errors[5].startswith("body: expected a JSON object")
    assert errors[6].startswith('action: unknown action "dance"')
    assert errors[7].startswith("action: missing")
    # AND a refused subscription changed nothing; one without products watches everything
    assert json.loads(watched[0]) == ["product-1", "product-2"]
    assert replies[10] == {"type": "subscribed", "products": []}
    assert json.loads(watched[1]) == []
    wait_until_gone(cache, connection_id)


def test_a_message_pushes_the_registry_expiry_out_again(
    local_cloud: LocalCloud, cache: redis.Redis
) -> None:
    # GIVEN a watcher whose registry entry is about to expire
    async def scenario() -> tuple[int, float | None]:
        ws, connection_id = await open_watcher(local_cloud, cache)
        async with ws:
            key = connection_key(connection_id)
            cache.expire(key, 30)
            cache.zadd(CONNECTIONS_KEY, {connection_id: time.time() * 1000 + 30_000})
            # WHEN it sends a message
            assert await ask(ws, {"action": "ping"}) == {"type": "pong"}
            return cache.ttl(key), cache.zscore(CONNECTIONS_KEY, connection_id)

    ttl, score = run(scenario)

    # THEN its entry lives the full TTL again, in the hash and the set alike
    assert ttl > CONNECTION_TTL_SECONDS - 60
    assert score is not None
    assert score > (time.time() + CONNECTION_TTL_SECONDS - 60) * 1000


def test_oversize_frame_closes_1009_and_the_watcher_is_unregistered(
    local_cloud: LocalCloud, cache: redis.Redis
) -> None:
    # GIVEN a watcher
    async def scenario() -> tuple[str, int | None, Any]:
        ws, connection_id = await open_watcher(local_cloud, cache)
        # WHEN it sends a 40 KB frame (API Gateway's limit is 32 KB)
        await ws.send(json.dumps({"action": "ping", "pad": "x" * 40_000}))
        with pytest.raises(websockets.ConnectionClosed):
            await until_closed(ws)
        again, _ = await open_watcher(local_cloud, cache)
        async with again:
            return connection_id, ws.close_code, await ask(again, {"action": "ping"})

    connection_id, code, pong = run(scenario)

    # THEN the gateway closes it with 1009, $disconnect cleans up, and the server serves on
    assert code == 1009
    wait_until_gone(cache, connection_id)
    assert pong == {"type": "pong"}


# -- @connections -------------------------------------------------------------------------------
def test_management_api_posts_describes_and_closes_a_connection(
    local_cloud: LocalCloud, cache: redis.Redis, connections: Any
) -> None:
    # GIVEN a watcher
    async def scenario() -> tuple[str, Any, dict[str, Any], int | None]:
        ws, connection_id = await open_watcher(local_cloud, cache)
        # WHEN the bridge posts to it, asks about it and deletes it (boto3, SigV4-signed)
        push = {"type": "stock", "productId": "product-1", "stock": 3, "soldOut": False}
        await asyncio.to_thread(
            connections.post_to_connection, ConnectionId=connection_id, Data=json.dumps(push)
        )
        async with asyncio.timeout(10):  # the bridge's own health push may come first
            while (received := json.loads(await ws.recv())).get("productId") != "product-1":
                pass
        info = await asyncio.to_thread(connections.get_connection, ConnectionId=connection_id)
        await asyncio.to_thread(connections.delete_connection, ConnectionId=connection_id)
        with pytest.raises(websockets.ConnectionClosed):
            await until_closed(ws)
        return connection_id, received, info, ws.close_code

    connection_id, received, info, close_code = run(scenario)

    # THEN the client got the push as a text frame
    assert received["type"] == "stock"
    assert received["stock"] == 3
    # AND the connection was described as AWS describes it
    assert info["Identity"]["SourceIp"] == "127.0.0.1"
    assert "websockets" in info["Identity"]["UserAgent"]
    assert info["ConnectedAt"] <= info["LastActiveAt"]
    # AND the delete closed it, and $disconnect removed it from the registry
    assert close_code == 1000
    wait_until_gone(cache, connection_id)
    # AND from now on the id is gone: 410 GoneException, as the bridge expects
    with pytest.raises(ClientError) as gone:
        connections.post_to_connection(ConnectionId=connection_id, Data=b"late")
    assert gone.value.response["Error"]["Code"] == "GoneException"
    assert gone.value.response["ResponseMetadata"]["HTTPStatusCode"] == 410


def test_an_unsigned_or_forged_management_call_gets_403_and_reaches_nobody(
    local_cloud: LocalCloud, cache: redis.Redis
) -> None:
    # GIVEN a watcher, and someone without the cloud's credentials who knows its id
    marker = json.dumps({"forged": str(uuid.uuid4())}).encode()

    async def scenario() -> tuple[list[tuple[int, str]], list[str]]:
        ws, connection_id = await open_watcher(local_cloud, cache)
        url = f"{local_cloud.base_url}/ws/@connections/{connection_id}"
        assert local_cloud.secrets is not None
        forged = signed_headers(url, marker, local_cloud.secrets.access_key_id, "guessed")
        # WHEN they post to it unsigned, and signed with a guessed secret
        async with httpx.AsyncClient() as client:
            replies = [
                await client.post(url, content=marker),
                await client.post(url, content=marker, headers=forged),
            ]
        frames: list[str] = []  # what the watcher gets meanwhile (the bridge's pushes, say)
        deadline = time.monotonic() + 0.5
        while (left := deadline - time.monotonic()) > 0:
            try:
                frames.append(str(await asyncio.wait_for(ws.recv(), timeout=left)))
            except TimeoutError:
                break
        await ws.close()
        return [(r.status_code, r.headers["x-amzn-errortype"]) for r in replies], frames

    answers, frames = run(scenario)
    # THEN both got AWS's 403, and the forged message never reached the watcher
    assert answers == [
        (403, "MissingAuthenticationTokenException"),
        (403, "InvalidSignatureException"),
    ]
    assert marker.decode() not in frames


@pytest.mark.parametrize("connection_id", ["AAAAAAAAAAAAAAA=", "not-an-id"])
def test_unknown_connection_is_gone(connections: Any, connection_id: str) -> None:
    # GIVEN an id no connection has
    for call in (
        lambda: connections.post_to_connection(ConnectionId=connection_id, Data=b"{}"),
        lambda: connections.get_connection(ConnectionId=connection_id),
        lambda: connections.delete_connection(ConnectionId=connection_id),
    ):
        # WHEN it is posted to, asked about or deleted
        with pytest.raises(ClientError) as gone:
            call()
        # THEN each answers GoneException (410), with API Gateway's error header
        response = gone.value.response
        assert response["Error"]["Code"] == "GoneException"
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 410
        assert response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-errortype"] == "GoneException"


def test_post_over_128_kb_is_refused_and_the_connection_stays(
    local_cloud: LocalCloud, cache: redis.Redis, connections: Any
) -> None:
    # GIVEN a watcher
    async def scenario() -> tuple[str, Any]:
        ws, connection_id = await open_watcher(local_cloud, cache)
        async with ws:
            # WHEN the bridge posts more than PostToConnection's 128 KB
            with pytest.raises(ClientError) as too_large:
                await asyncio.to_thread(
                    connections.post_to_connection,
                    ConnectionId=connection_id,
                    Data=b"x" * (128 * 1024 + 1),
                )
            return too_large.value.response["Error"]["Code"], await ask(ws, {"action": "ping"})

    code, pong = run(scenario)

    # THEN it is PayloadTooLargeException and the socket is still open
    assert code == "PayloadTooLargeException"
    assert pong == {"type": "pong"}
