"""API Gateway's `@connections` API as the bridge calls it: PostToConnection, one keep-alive
HTTP/1.1 POST per message, signed with SigV4 (bridge.sigv4), on the event loop.

A stock push is one post per watcher, hundreds a round. Through boto3 each post cost ~1.4 ms of
the bridge's CPU (a thread per post, event hooks, botocore's HTTP stack); here ~50 µs. The
connections are kept and reused. One found closed before any reply byte (the server's
keep-alive timeout ended it while idle) is replaced, and the post sent again on the new one:
the server never read it.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from bridge.sigv4 import CredentialSource, PostSigner

TIMEOUT_SECONDS = 5.0  # connect, send and reply, for one post

Stream = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class PostFailed(Exception):
    """The post did not go through: the API's status and error type, or the transport's error."""


class _ClosedBeforeReply(ConnectionResetError):
    """The connection ended before the first byte of a reply."""


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]  # names lowercased
    body: bytes
    keep_alive: bool


class ConnectionsClient:
    def __init__(
        self,
        endpoint_url: str,
        region: str,
        credentials: CredentialSource,
        *,
        timeout_seconds: float = TIMEOUT_SECONDS,
    ) -> None:
        """`endpoint_url`: the WebSocket API's stage URL, as boto3's `endpoint_url`."""
        url = urlsplit(endpoint_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(f"not an http(s) URL: {endpoint_url!r}")
        self._tls = ssl.create_default_context() if url.scheme == "https" else None
        self._address = (url.hostname, url.port or (443 if self._tls else 80))
        self._host_header = url.netloc.rpartition("@")[2]  # host[:port], as the URL names it
        self._base_path = url.path.rstrip("/")  # the stage, e.g. "/ws"
        self._signer = PostSigner(self._host_header, region)
        self._credentials = credentials
        self._timeout = timeout_seconds
        self._idle: list[Stream] = []

    async def post(self, connection_id: str, data: bytes) -> bool:
        """Send `data` to the connection as one message; False when it is gone (410)."""
        request = self._request(connection_id, data)
        try:
            async with asyncio.timeout(self._timeout):
                reply = await self._send(request)
        except (
            OSError,
            TimeoutError,
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
            ValueError,
        ) as error:
            raise PostFailed(f"PostToConnection: {error!r}") from error
        if reply.status == 200:
            return True
        if reply.status == 410:
            return False
        error_type = reply.headers.get("x-amzn-errortype", "").split(":")[0]
        raise PostFailed(f"PostToConnection: {reply.status} {error_type} {reply.body[:200]!r}")

    async def aclose(self) -> None:
        idle, self._idle = self._idle, []
        for _, writer in idle:
            writer.close()

    def _request(self, connection_id: str, data: bytes) -> bytes:
        path = _connection_path(self._base_path, connection_id)
        signed = self._signer.headers(path, data, self._credentials())
        head = f"POST {path} HTTP/1.1\r\nHost: {self._host_header}\r\n"
        head += "".join(f"{name}: {value}\r\n" for name, value in signed)
        head += f"Content-Length: {len(data)}\r\n\r\n"
        return head.encode() + data

    async def _send(self, request: bytes) -> Reply:
        if self._idle:
            try:
                return await self._exchange(self._idle.pop(), request)
            except _ClosedBeforeReply:
                pass  # closed while idle: the server never read the request
        return await self._exchange(await self._open(), request)

    async def _exchange(self, stream: Stream, request: bytes) -> Reply:
        """One request and its reply; the connection is kept for the next if the reply allows."""
        try:
            reply = await _exchange(stream, request)
        except BaseException:
            stream[1].close()
            raise
        if reply.keep_alive:
            self._idle.append(stream)
        else:
            stream[1].close()
        return reply

    async def _open(self) -> Stream:
        host, port = self._address
        return await asyncio.open_connection(
            host, port, ssl=self._tls, server_hostname=host if self._tls else None
        )


@functools.lru_cache(maxsize=4096)
def _connection_path(base_path: str, connection_id: str) -> str:
    """Kept for the connections posted to lately: a fan-out reaches the same ones each round."""
    return f"{base_path}/@connections/{quote(connection_id, safe='')}"


async def _exchange(stream: Stream, request: bytes) -> Reply:
    reader, writer = stream
    try:
        writer.write(request)
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as error:
        if error.partial:
            raise
        raise _ClosedBeforeReply() from None
    except (ConnectionResetError, BrokenPipeError):
        raise _ClosedBeforeReply() from None
    lines = head[:-4].decode("latin-1").split("\r\n")
    version, status = lines[0].split(" ", 2)[:2]
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    keep_alive = version == "HTTP/1.1" and headers.get("connection", "").lower() != "close"
    if "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        body = await _read_chunks(reader)
    else:  # delimited by the end of the connection
        body = await reader.read()
        keep_alive = False
    return Reply(int(status), headers, body, keep_alive)


async def _read_chunks(reader: asyncio.StreamReader) -> bytes:
    chunks: list[bytes] = []
    while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
        chunks.append(await reader.readexactly(size))
        await reader.readexactly(2)
    while await reader.readuntil(b"\r\n") != b"\r\n":  # trailers
        pass
    return b"".join(chunks)
