"""Publishing events to the JetStream stream from synchronous Lambda code.

`publish` HPUBs every event with its id as `Nats-Msg-Id` (JetStream stores a re-publish
inside the stream's duplicate window once) and a reply subject, in one write, then reads
JetStream's PubAcks: one round trip for any number of events, done before it returns. An
event counts as published only once its PubAck is in; an error reply or none in time leaves
it to the outbox's relay.

Connections are kept per instance for reuse (opening one costs a round trip and the server's
INFO); each serves one caller at a time, so concurrent callers (the local cloud's instances
when they are threads of one process) each get their own.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from vendyz.core.jetstream import STREAM
from vendyz.core.nats_client import NatsConnection, Reply, Request

log = logging.getLogger(__name__)

# A connection unused for this long is replaced rather than reused: the server drops a client
# that left its keep-alive PINGs unanswered for two minutes.
MAX_IDLE_SECONDS = 60.0
MAX_IDLE_CONNECTIONS = 16
# The JetStream API's own account-info request: answered whenever JetStream is up.
_ACCOUNT_INFO = "$JS.API.INFO"


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


def _stored(reply: Reply | None) -> bool:
    """A PubAck of our stream: {"stream": "VENDYZ", "seq": N} ("duplicate": true with it for
    a re-publish inside the duplicate window)."""
    if reply is None or reply.status != 200:
        return False
    try:
        ack = reply.json()
    except ValueError:
        return False
    return isinstance(ack, dict) and ack.get("stream") == STREAM and "seq" in ack


class EventPublisher:
    """Publishes to JetStream and waits for its acks (see the module's docstring)."""

    def __init__(self, url: str, *, timeout_seconds: float = 1.0) -> None:
        self._url = url
        self._timeout = timeout_seconds
        self._idle: list[NatsConnection] = []
        self._lock = threading.Lock()  # held for a list operation, never across I/O

    def publish(self, events: Sequence[Event]) -> list[str]:
        """The ids of the events the stream holds once this returns; never raises. Events left
        out stay unsent in their outbox for the relay."""
        if not events:
            return []
        requests = [Request(e.subject, e.encode(), {"Nats-Msg-Id": e.event_id}) for e in events]
        replies = self._request_all(requests)
        if replies is None:
            return []
        return [e.event_id for e, reply in zip(events, replies, strict=True) if _stored(reply)]

    def reachable(self) -> bool:
        """JetStream answers (one round trip)."""
        replies = self._request_all([Request(_ACCOUNT_INFO, b"")])
        return replies is not None and replies[0] is not None and replies[0].status == 200

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()

    def _request_all(self, requests: list[Request]) -> list[Reply | None] | None:
        """The replies on a kept connection, or None when NATS could not be reached. A kept
        connection the server dropped while idle gets one retry on a fresh one."""
        connection, kept = self._checkout()
        for attempt in range(2):
            try:
                if connection is None:
                    connection = NatsConnection(self._url, self._timeout)
                replies = connection.request_all(requests, self._timeout)
            except OSError as error:
                if connection is not None:
                    connection.close()
                if kept and attempt == 0 and not isinstance(error, TimeoutError):
                    connection, kept = None, False
                    continue
                log.warning("NATS did not take %d message(s): %s", len(requests), error)
                return None
            self._checkin(connection)
            return replies
        return None

    def _checkout(self) -> tuple[NatsConnection | None, bool]:
        """A kept connection (True) if one is fresh, else (None, False)."""
        with self._lock:
            while self._idle:
                connection = self._idle.pop()
                if time.monotonic() - connection.last_used < MAX_IDLE_SECONDS:
                    return connection, True
                connection.close()
        return None, False

    def _checkin(self, connection: NatsConnection) -> None:
        if connection.closed:
            return
        with self._lock:
            if len(self._idle) < MAX_IDLE_CONNECTIONS:
                self._idle.append(connection)
                return
        connection.close()
