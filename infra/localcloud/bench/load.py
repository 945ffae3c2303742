"""The timed part of the bench: N POST /orders with exactly C requests in flight.

A minimal HTTP/1.1 keep-alive client on asyncio streams (uvloop when available) instead of
httpx: the bench shares two cores (and, in-process, the GIL) with the server it measures, so
every microsecond the client spends is taken from the server. The requests are built before
the clock starts; a worker per connection sends one, reads the reply (Content-Length or
chunked) and takes the next. Only the status code is kept.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import uvloop

from localcloud.bench.progress import Progress

TRANSPORT_ERROR = 0  # the status recorded when no HTTP reply came back
REQUEST_TIMEOUT_S = 60.0


class LoadSetupError(RuntimeError):
    """The load could not start (e.g. no connection could be opened)."""


@dataclass(frozen=True)
class Target:
    """Where the API lives: scheme, host, port and the path prefix before /api/v1."""

    scheme: str
    host: str
    port: int
    prefix: str

    @classmethod
    def from_url(cls, base_url: str) -> Target:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) base URL: {base_url!r}")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        return cls(parts.scheme, parts.hostname, port, parts.path.rstrip("/"))

    @property
    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == default else f"{host}:{self.port}"


@dataclass
class LoadResult:
    statuses: list[int]  # per request, in request order; TRANSPORT_ERROR for no reply
    latencies_ms: list[float]  # per request, in request order (transport errors included)
    finished_at: list[float]  # per request, the wall clock when its reply was read
    wall_seconds: float  # first send to last reply
    client_cpu_seconds: float  # CPU time of the client's thread during the load
    error_samples: list[str] = field(default_factory=list)  # the first few transport errors


def build_order_requests(
    target: Target, tokens: Sequence[str], product_id: str, *, count: int, quantity: int
) -> list[bytes]:
    """`count` POST /orders, round-robin over `tokens`, each with its own Idempotency-Key."""
    if not tokens:
        raise ValueError("no buyer tokens")
    body = json.dumps({"productId": product_id, "quantity": quantity}).encode()
    path = f"{target.prefix}/api/v1/orders"
    common = (
        f"Host: {target.host_header}\r\n"
        "User-Agent: vendyz-bench\r\n"
        "Accept: application/json\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
    )
    requests = []
    for i in range(count):
        head = (
            f"POST {path} HTTP/1.1\r\n{common}"
            f"Authorization: Bearer {tokens[i % len(tokens)]}\r\n"
            f"Idempotency-Key: {uuid.uuid4()}\r\n\r\n"
        )
        requests.append(head.encode("latin-1") + body)
    return requests


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """Read one reply; returns (status, keep_alive)."""
    while True:
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        if status >= 200 or status == 101:
            break  # skip interim 1xx replies (we never send Expect, but be tolerant)
    lines = head[:-4].split(b"\r\n")
    keep_alive = lines[0].startswith(b"HTTP/1.1")
    length: int | None = None
    chunked = False
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding":
            chunked = b"chunked" in value.lower()
        elif name == b"connection":
            token = value.strip().lower()
            if token == b"close":
                keep_alive = False
            elif token == b"keep-alive":
                keep_alive = True
    if chunked:
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                while await reader.readuntil(b"\r\n") != b"\r\n":  # trailers
                    pass
                break
            await reader.readexactly(size + 2)
    elif length is not None:
        await reader.readexactly(length)
    elif status not in (204, 304):
        await reader.read()  # delimited by the end of the connection
        keep_alive = False
    return status, keep_alive


class _Connection:
    def __init__(self, target: Target, ssl_context: ssl.SSLContext | None) -> None:
        self._target = target
        self._ssl = ssl_context
        self.streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        self.streams = await asyncio.open_connection(
            self._target.host, self._target.port, ssl=self._ssl, limit=1 << 20
        )
        return self.streams

    def close(self) -> None:
        if self.streams is not None:
            self.streams[1].close()
        self.streams = None

    async def exchange(self, request: bytes) -> int:
        reader, writer = self.streams or await self.open()
        writer.write(request)
        status, keep_alive = await _read_response(reader)
        if not keep_alive:
            self.close()
        return status


async def _run_load(
    target: Target, requests: Sequence[bytes], concurrency: int, progress: Progress | None
) -> LoadResult:
    count = len(requests)
    statuses = [TRANSPORT_ERROR] * count
    latencies = [0.0] * count
    finished_at = [0.0] * count
    errors: list[str] = []
    ssl_context = ssl.create_default_context() if target.scheme == "https" else None
    connections = [_Connection(target, ssl_context) for _ in range(min(concurrency, count))]
    # Connect before the clock starts: the load measures requests, not handshakes.
    opened = await asyncio.gather(*(c.open() for c in connections), return_exceptions=True)
    failures = [o for o in opened if isinstance(o, BaseException)]
    if failures:
        for connection in connections:
            connection.close()
        raise LoadSetupError(
            f"could not open {len(failures)} of {len(connections)} connections to"
            f" {target.host}:{target.port}: {failures[0]!r}"
        )
    next_index = 0
    perf_counter = time.perf_counter

    async def worker(connection: _Connection) -> None:
        nonlocal next_index
        while next_index < count:
            i = next_index
            next_index += 1
            started = perf_counter()
            try:
                async with asyncio.timeout(REQUEST_TIMEOUT_S):
                    statuses[i] = await connection.exchange(requests[i])
            except (OSError, EOFError, ValueError, TimeoutError, asyncio.LimitOverrunError) as exc:
                # IncompleteReadError is an EOFError; a garbled reply a ValueError.
                statuses[i] = TRANSPORT_ERROR
                if len(errors) < 5:
                    errors.append(f"request {i}: {exc!r}")
                connection.close()
            latencies[i] = (perf_counter() - started) * 1000.0
            finished_at[i] = time.time()
            if progress is not None:
                progress.done += 1

    async def ticker() -> None:
        while progress is not None:
            progress.refresh()
            await asyncio.sleep(0.1)

    if progress is not None:
        progress.restart()
    ticking = asyncio.create_task(ticker())
    cpu_started = time.thread_time()
    started = perf_counter()
    try:
        await asyncio.gather(*(worker(c) for c in connections))
        wall = perf_counter() - started
        cpu = time.thread_time() - cpu_started
    finally:
        ticking.cancel()
        for connection in connections:
            connection.close()
    return LoadResult(statuses, latencies, finished_at, wall, cpu, errors)


def place_orders(
    base_url: str,
    tokens: Sequence[str],
    product_id: str,
    *,
    buyers: int,
    concurrency: int,
    quantity: int = 1,
    progress: Progress | None = None,
) -> LoadResult:
    """Fire `buyers` orders with `concurrency` in flight; blocks until all are answered."""
    target = Target.from_url(base_url)
    requests = build_order_requests(target, tokens, product_id, count=buyers, quantity=quantity)
    # uvloop: the client's own loop costs less per request, leaving the CPU to the cloud.
    result = uvloop.run(_run_load(target, requests, concurrency, progress))
    if progress is not None:
        progress.close()
    return result
