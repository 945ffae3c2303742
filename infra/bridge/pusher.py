"""Pushes to WebSocket connections through API Gateway's `@connections` API, a bounded number
at a time, dropping the connections it reports gone (410)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, Protocol

from bridge.connections_client import PostFailed

log = logging.getLogger(__name__)

# API Gateway takes many posts at once, but each is an HTTPS round trip: 32 in flight keep a
# fan-out to hundreds of watchers short without piling up sockets.
MAX_IN_FLIGHT = 32


class Poster(Protocol):
    async def post(self, connection_id: str, data: bytes) -> bool:
        """Send one message; False when the connection is gone; PostFailed otherwise."""

    async def aclose(self) -> None:
        """Close what it keeps open."""


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
        self._max_in_flight = max_in_flight
        self._slots = asyncio.Semaphore(max_in_flight)  # shared by the pushes under way

    async def push(self, connection_ids: Iterable[str], message: Mapping[str, Any]) -> int:
        """Send `message` to each connection; how many took it. Failures other than "gone"
        are logged once per push, not once per connection."""
        data = encode(message)
        targets = list(connection_ids)
        pending = iter(targets)
        delivered = 0
        errors: list[PostFailed] = []

        async def post_next() -> None:  # a few of these drain `pending`, not a task a post
            nonlocal delivered
            for connection_id in pending:
                async with self._slots:
                    try:
                        taken = await self._poster.post(connection_id, data)
                    except PostFailed as error:
                        errors.append(error)
                        continue
                if taken:
                    delivered += 1
                else:
                    await self._on_gone(connection_id)

        await asyncio.gather(*(post_next() for _ in range(min(len(targets), self._max_in_flight))))
        if errors:
            log.warning(
                "%s push: %d of %d posts failed (first: %s)",
                message.get("type"),
                len(errors),
                len(targets),
                errors[0],
            )
        return delivered
