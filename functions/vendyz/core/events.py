"""Publishing events to NATS from synchronous Lambda code.

nats-py is asyncio-only and its connection belongs to one event loop, while handlers run on
many short-lived loops (one per instance thread). So each instance keeps one connection on a
background loop of its own, and callers hand it work with run_coroutine_threadsafe.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import nats
from nats.aio.client import Client

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Event:
    event_id: str
    subject: str
    payload: dict[str, Any]

    def encode(self) -> bytes:
        return json.dumps(self.payload, separators=(",", ":")).encode()


def new_event(subject: str, fields: dict[str, Any]) -> Event:
    """An event whose payload is its proto message in JSON form (proto/vendyz/events.proto):
    every message starts with `eventId` and `occurredAt`."""
    event_id = str(uuid.uuid4())
    occurred_at = datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
    return Event(event_id, subject, {"eventId": event_id, "occurredAt": occurred_at, **fields})


class EventPublisher:
    def __init__(self, url: str, *, timeout_seconds: float = 2.0) -> None:
        self._url = url
        self._timeout = timeout_seconds
        self._loop = asyncio.new_event_loop()
        self._client: Client | None = None
        self._connect_lock = asyncio.Lock()
        self._outage_reported = False
        threading.Thread(target=self._loop.run_forever, name="nats-publisher", daemon=True).start()

    async def _on_error(self, error: Exception) -> None:
        # The outbox relay covers what an outage loses: one line per outage, not per retry.
        if not self._outage_reported:
            self._outage_reported = True
            log.warning("NATS connection problem (reconnecting quietly): %s", error)

    async def _on_reconnected(self) -> None:
        self._outage_reported = False

    async def _connected(self) -> Client:
        async with self._connect_lock:
            if self._client is None or self._client.is_closed:
                self._client = await nats.connect(
                    self._url,
                    connect_timeout=self._timeout,
                    max_reconnect_attempts=-1,
                    reconnect_time_wait=0.5,
                    error_cb=self._on_error,
                    reconnected_cb=self._on_reconnected,
                )
            return self._client

    async def _publish(self, events: Sequence[Event]) -> None:
        client = await self._connected()
        for event in events:
            await client.publish(
                event.subject, event.encode(), headers={"Nats-Msg-Id": event.event_id}
            )
        await client.flush(timeout=max(1, round(self._timeout)))

    def publish(self, events: Sequence[Event]) -> bool:
        """Publish and flush; False (never an exception) when NATS could not take them, so the
        caller leaves them in the outbox for the relay."""
        if not events:
            return True
        future = asyncio.run_coroutine_threadsafe(self._publish(events), self._loop)
        try:
            future.result(timeout=self._timeout + 0.5)
        except Exception:
            future.cancel()
            return False
        return True
