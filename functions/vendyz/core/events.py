"""Publishing events to NATS from synchronous Lambda code.

A handler publishes its events after commit and waits for the server to have them before it
returns (PUB ... then PING, answered by PONG once the server processed everything before it).
That is a few lines of the NATS text protocol on a plain socket, so each instance thread keeps
its own connection: no asyncio client, no background loop, no hand-off between threads on the
order path. Subscribers (tests, the bridge) use nats-py.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote, urlsplit

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


class NatsError(ConnectionError):
    """The server refused or dropped what we sent."""


class _Connection:
    """One client connection speaking just enough of the protocol to publish."""

    def __init__(self, url: str, timeout: float) -> None:
        parts = urlsplit(url)
        self._sock = socket.create_connection(
            (parts.hostname or "127.0.0.1", parts.port or 4222), timeout=timeout
        )
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._reader = self._sock.makefile("rb")
        if not self._reader.readline().startswith(b"INFO "):
            raise NatsError("not a NATS server")
        options: dict[str, Any] = {
            "verbose": False,
            "pedantic": False,
            "headers": True,
            "lang": "python",
            "version": "vendyz",
            "protocol": 1,
        }
        if parts.username and parts.password:
            options |= {"user": unquote(parts.username), "pass": unquote(parts.password)}
        elif parts.username:
            options["auth_token"] = unquote(parts.username)
        self._sock.sendall(b"CONNECT " + json.dumps(options).encode() + b"\r\n")

    def publish(self, events: Sequence[Event]) -> None:
        """HPUB every event (with its id as Nats-Msg-Id, for JetStream de-duplication), then
        PING and wait for the PONG that proves the server has them."""
        frames = []
        for event in events:
            headers = f"NATS/1.0\r\nNats-Msg-Id: {event.event_id}\r\n\r\n".encode()
            body = event.encode()
            frames.append(
                b"HPUB %s %d %d\r\n%s%s\r\n"
                % (event.subject.encode(), len(headers), len(headers) + len(body), headers, body)
            )
        frames.append(b"PING\r\n")
        self._sock.sendall(b"".join(frames))
        while True:
            line = self._reader.readline()
            if line == b"PONG\r\n":
                return
            if line == b"PING\r\n":  # the server's keep-alive, due an answer
                self._sock.sendall(b"PONG\r\n")
            elif not line or line.startswith(b"-ERR"):
                raise NatsError(line.decode(errors="replace").strip() or "connection closed")
            # anything else (+OK, INFO updates) needs no answer

    def close(self) -> None:
        self._reader.close()
        self._sock.close()


class EventPublisher:
    """Publishes to NATS; one connection per thread (a thread is one function instance)."""

    def __init__(self, url: str, *, timeout_seconds: float = 2.0) -> None:
        self._url = url
        self._timeout = timeout_seconds
        self._local = threading.local()

    def publish(self, events: Sequence[Event]) -> bool:
        """Publish and wait until NATS has them; False (never an exception) when it could
        not take them, so the caller leaves them in the outbox for the relay."""
        if not events:
            return True
        # A kept connection may have been closed by the server while idle: one fresh try.
        for attempt in range(2):
            connection: _Connection | None = getattr(self._local, "connection", None)
            try:
                if connection is None:
                    connection = _Connection(self._url, self._timeout)
                    self._local.connection = connection
                connection.publish(events)
            except OSError as error:
                self._local.connection = None
                if connection is not None:
                    connection.close()
                if attempt == 1:
                    log.warning("NATS did not take %d event(s): %s", len(events), error)
                    return False
            else:
                return True
        return False
