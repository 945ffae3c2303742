"""The bridge's `@connections` client: its SigV4 against botocore's signer, and its HTTP/1.1
against a server on loopback that checks signatures as the local cloud does."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import pytest
from botocore import auth as botocore_auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotocoreCredentials

from bridge.connections_client import ConnectionsClient, PostFailed
from bridge.sigv4 import Credentials, PostSigner
from localcloud.sigv4_auth import verify_sigv4

NOW = datetime(2026, 11, 23, 12, 34, 56, tzinfo=UTC)
KEYS = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")


@pytest.mark.parametrize("token", [None, "session-token"])
def test_the_signature_matches_botocores(
    monkeypatch: pytest.MonkeyPatch, token: str | None
) -> None:
    # GIVEN a post to a connection whose id percent-encodes ("=" is %3D), and one clock
    monkeypatch.setattr(botocore_auth, "get_current_datetime", lambda: NOW.replace(tzinfo=None))
    host = "a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com"
    path = "/ws/@connections/Kt3zOjSQoAMEbZQ%3D"
    body = b'{"type":"stock","productId":"p1","stock":3}'
    credentials = Credentials(KEYS.access_key, KEYS.secret_key, token)

    # WHEN both sign it (ours twice: the second with the signing key it keeps for the day)
    ours = [
        dict(PostSigner(host, "eu-west-1").headers(path, body, credentials, NOW.timestamp()))
        for _ in range(2)
    ]
    request = AWSRequest(method="POST", url=f"https://{host}{path}", data=body)
    botocore_auth.SigV4Auth(
        BotocoreCredentials(credentials.access_key, credentials.secret_key, token),
        "execute-api",
        "eu-west-1",
    ).add_auth(request)

    # THEN the signing headers are the same, byte for byte
    for signed in ours:
        assert signed["Authorization"] == request.headers["Authorization"]
        assert signed["X-Amz-Date"] == request.headers["X-Amz-Date"]
        assert signed.get("X-Amz-Security-Token") == request.headers.get("X-Amz-Security-Token")


Reply = Callable[[int], bytes]  # the n-th request (from 1) -> the raw reply


class FakeApi:
    """An HTTP/1.1 server that checks each request's signature with the local cloud's
    verifier and answers what the test says; it records each request and its connection."""

    def __init__(self, reply: Reply, *, close_after_each: bool = False) -> None:
        self._reply = reply
        self._close_after_each = close_after_each
        self.requests: list[tuple[int, str, bytes]] = []  # (connection number, path, body)
        self.refused = 0
        self._connections = 0

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._connections += 1
        number = self._connections
        try:
            while head := await reader.readuntil(b"\r\n\r\n"):
                lines = head[:-4].decode().split("\r\n")
                method, path, _ = lines[0].split(" ")
                headers = {
                    k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])
                }
                body = await reader.readexactly(int(headers["content-length"]))
                refused = verify_sigv4(
                    headers,
                    method,
                    path,
                    "",
                    body,
                    access_key_id=KEYS.access_key,
                    secret_access_key=KEYS.secret_key,
                )
                if refused is not None:
                    self.refused += 1
                    writer.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
                else:
                    self.requests.append((number, path, body))
                    writer.write(self._reply(len(self.requests)))
                await writer.drain()
                if self._close_after_each:  # as a keep-alive timeout ends an idle connection
                    break
        except asyncio.IncompleteReadError:
            pass
        writer.close()


@asynccontextmanager
async def running(api: FakeApi) -> AsyncIterator[ConnectionsClient]:
    server = await asyncio.start_server(api.serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    poster = ConnectionsClient(f"http://127.0.0.1:{port}/ws", "us-east-1", lambda: KEYS)
    try:
        yield poster
    finally:
        await poster.aclose()
        server.close()


def ok(_: int) -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"


def test_posts_are_signed_and_sent_on_one_kept_connection() -> None:
    # GIVEN the API answering 200
    api = FakeApi(ok)

    # WHEN three messages are posted one after another
    async def scenario() -> list[bool]:
        async with running(api) as poster:
            return [await poster.post(f"c{i}=", f"m{i}".encode()) for i in range(3)]

    # THEN each was taken, signed as AWS checks it, on the stage's path, over one connection
    assert asyncio.run(scenario()) == [True, True, True]
    assert api.refused == 0
    assert api.requests == [(1, f"/ws/@connections/c{i}%3D", f"m{i}".encode()) for i in range(3)]


def test_a_connection_closed_while_idle_is_replaced_and_the_post_sent_once() -> None:
    # GIVEN an API that ends every connection after one reply (no "Connection: close")
    api = FakeApi(ok, close_after_each=True)

    # WHEN two posts go out, the second after the server closed the kept connection
    async def scenario() -> list[bool]:
        async with running(api) as poster:
            first = await poster.post("c1", b"one")
            await asyncio.sleep(0.05)
            return [first, await poster.post("c2", b"two")]

    # THEN both got through, the second once, on a new connection
    assert asyncio.run(scenario()) == [True, True]
    assert [(n, body) for n, _, body in api.requests] == [(1, b"one"), (2, b"two")]


def test_gone_is_false_and_other_answers_fail_with_their_error_type() -> None:
    # GIVEN an API answering 410 GoneException, then 429 LimitExceededException
    def reply(n: int) -> bytes:
        if n == 1:
            return (
                b"HTTP/1.1 410 Gone\r\nx-amzn-ErrorType: GoneException\r\n"
                b"Content-Length: 2\r\n\r\n{}"
            )
        body = b'{"message":"Rate exceeded"}'
        return (
            b"HTTP/1.1 429 Too Many Requests\r\nx-amzn-ErrorType: LimitExceededException:http"
            b"://internal.amazon.com/\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
        )

    api = FakeApi(reply)

    async def scenario() -> tuple[bool, str]:
        async with running(api) as poster:
            gone = await poster.post("c1", b"x")
            with pytest.raises(PostFailed) as failed:
                await poster.post("c2", b"x")
            return gone, str(failed.value)

    # WHEN both are posted  THEN the first is "gone", the second a failure that says why
    gone, failure = asyncio.run(scenario())
    assert gone is False
    assert "429 LimitExceededException" in failure
    assert "Rate exceeded" in failure


def test_an_unreachable_api_fails_the_post_within_the_timeout() -> None:
    # GIVEN an endpoint where nothing answers: a listener that never replies
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()

    async def scenario() -> None:
        server = await asyncio.start_server(silent, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        poster = ConnectionsClient(
            f"http://127.0.0.1:{port}/ws", "us-east-1", lambda: KEYS, timeout_seconds=0.3
        )
        # WHEN a post is sent  THEN it fails as a timeout, not a hang
        with pytest.raises(PostFailed, match="TimeoutError"):
            await poster.post("c1", b"x")
        await poster.aclose()
        server.close()

    asyncio.run(scenario())
