"""Pushes to WebSocket connections through API Gateway's `@connections` API, a bounded number
at a time, dropping the connections it reports gone (410)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

log = logging.getLogger(__name__)

# API Gateway takes many posts at once, but each is an HTTPS round trip: 32 in flight keep a
# fan-out to hundreds of watchers short without piling up sockets and threads.
MAX_IN_FLIGHT = 32


class Poster(Protocol):
    def post(self, connection_id: str, data: bytes) -> bool:
        """Send one message; False when the connection is gone. Blocking (runs in a thread)."""


class ManagementApi:
    """boto3's `apigatewaymanagementapi` client on the WebSocket stage's endpoint."""

    def __init__(self, endpoint_url: str, region: str, max_connections: int = MAX_IN_FLIGHT):
        self._client = boto3.session.Session().client(
            "apigatewaymanagementapi",
            endpoint_url=endpoint_url,
            region_name=region,
            config=Config(
                max_pool_connections=max_connections,
                connect_timeout=2,
                read_timeout=5,
                retries={"max_attempts": 2, "mode": "standard"},
            ),
        )

    def post(self, connection_id: str, data: bytes) -> bool:
        try:
            self._client.post_to_connection(ConnectionId=connection_id, Data=data)
        except self._client.exceptions.GoneException:
            return False
        return True


def encode(message: Mapping[str, Any]) -> bytes:
    return json.dumps(message, separators=(",", ":")).encode()


class Pusher:
    def __init__(
        self,
        poster: Poster,
        on_gone: Callable[[str], Awaitable[None]],
        *,
        max_in_flight: int = MAX_IN_FLIGHT,
    ) -> None:
        self._poster = poster
        self._on_gone = on_gone
        self._executor = ThreadPoolExecutor(max_in_flight, thread_name_prefix="push")
        self._slots = asyncio.Semaphore(max_in_flight)

    async def push(self, connection_ids: Iterable[str], message: Mapping[str, Any]) -> int:
        """Send `message` to each connection; how many took it. Failures other than "gone"
        are logged once per push, not once per connection."""
        data = encode(message)
        results = await asyncio.gather(*(self._post(c, data) for c in connection_ids))
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            log.warning(
                "%s push: %d of %d posts failed (first: %s)",
                message.get("type"),
                len(errors),
                len(results),
                errors[0],
            )
        return sum(1 for r in results if r is True)

    async def _post(self, connection_id: str, data: bytes) -> bool | Exception:
        async with self._slots:
            loop = asyncio.get_running_loop()
            try:
                delivered = await loop.run_in_executor(
                    self._executor, self._poster.post, connection_id, data
                )
            except (BotoCoreError, ClientError) as error:
                return error
        if not delivered:
            await self._on_gone(connection_id)
        return delivered

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
