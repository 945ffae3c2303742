"""Publishing events to NATS from synchronous Lambda code.

A handler publishes its events after commit without waiting for the server: it writes them,
followed by a PING, and gets a receipt back. The server answers each PING with a PONG once it
has processed everything sent before it, so `confirm(receipts)`, run off the request path by
the outbox, learns which events NATS holds before they are marked sent; what it cannot
confirm stays unsent for the relay. That is a few lines of the NATS text protocol on a plain
socket, one connection per Lambda instance, i.e. per thread: the local cloud runs a function's
instances as threads of one process, and a connection they shared was a queue they all waited
in (~20 ms per publish with 32 instances busy). Only confirmers read. Subscribers (tests, the
bridge) use nats-py.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote, urlsplit

log = logging.getLogger(__name__)

# A connection unused for this long is replaced rather than written to: the server drops a
# client that left its keep-alive PINGs unanswered for two minutes, and a write to a dropped
# connection can still "succeed" locally.
MAX_IDLE_SECONDS = 60.0


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
        self.last_used = time.monotonic()
        self.closed = False
        self._pings_sent = 0
        self._pongs_seen = 0
        # Writers: the instance that owns the connection, and a confirmer answering the
        # server's keep-alive PING; readers: confirmers only.
        self._write_lock = threading.Lock()
        self._read_lock = threading.Lock()

    def send(self, frames: bytes) -> int:
        """Write `frames` (which end in a PING); the number of that PING on this connection."""
        with self._write_lock:
            self._sock.sendall(frames)
            self.last_used = time.monotonic()
            self._pings_sent += 1
            return self._pings_sent

    def await_pong(self, ping: int) -> None:
        """Read until the server answered PING number `ping` (counted from 1 on this
        connection)."""
        with self._read_lock:
            while self._pongs_seen < ping:
                line = self._reader.readline()
                if line == b"PONG\r\n":
                    self._pongs_seen += 1
                elif line == b"PING\r\n":  # the server's keep-alive, due an answer
                    with self._write_lock:
                        self._sock.sendall(b"PONG\r\n")
                elif not line or line.startswith(b"-ERR"):
                    raise NatsError(line.decode(errors="replace").strip() or "connection closed")
                # anything else (+OK, INFO updates) needs no answer

    def close(self) -> None:
        self.closed = True
        self._reader.close()
        self._sock.close()


@dataclass(frozen=True)
class Receipt:
    """Events written to a connection, followed by its PING number `ping`."""

    connection: _Connection
    ping: int
    event_ids: tuple[str, ...]


def _frames(events: Sequence[Event]) -> bytes:
    """HPUB every event (its id as Nats-Msg-Id, for JetStream de-duplication), then PING."""
    frames = []
    for event in events:
        headers = f"NATS/1.0\r\nNats-Msg-Id: {event.event_id}\r\n\r\n".encode()
        body = event.encode()
        frames.append(
            b"HPUB %s %d %d\r\n%s%s\r\n"
            % (event.subject.encode(), len(headers), len(headers) + len(body), headers, body)
        )
    frames.append(b"PING\r\n")
    return b"".join(frames)


class EventPublisher:
    """Publishes to NATS on the calling instance's own connection (see the module's
    docstring)."""

    def __init__(self, url: str, *, timeout_seconds: float = 2.0) -> None:
        self._url = url
        self._timeout = timeout_seconds
        self._mine = threading.local()  # .connection: this instance's, once opened
        self._open: set[_Connection] = set()  # every instance's, for close()
        self._open_lock = threading.Lock()

    def publish(self, events: Sequence[Event]) -> Receipt | None:
        """Write the events without waiting for the server; None (never an exception) when
        they could not be written, so the caller leaves them in the outbox for the relay."""
        frames = _frames(events)
        # A kept connection may have been closed by the server while idle: one fresh try.
        for attempt in range(2):
            connection: _Connection | None = getattr(self._mine, "connection", None)
            if connection is not None and (
                connection.closed or time.monotonic() - connection.last_used > MAX_IDLE_SECONDS
            ):
                self._drop(connection)
                connection = None
            try:
                if connection is None:
                    connection = self._connect()
                ping = connection.send(frames)
                return Receipt(connection, ping, tuple(e.event_id for e in events))
            except OSError as error:
                self._drop(connection)
                if attempt == 1:
                    log.warning("NATS did not take %d event(s): %s", len(events), error)
        return None

    def confirm(self, receipts: Sequence[Receipt]) -> list[Receipt]:
        """The receipts whose events the server has; waits up to the timeout for each
        connection's answer. Events of the others may be lost: they stay for the relay."""
        last_ping: dict[_Connection, int] = {}
        for receipt in receipts:
            last_ping[receipt.connection] = max(last_ping.get(receipt.connection, 0), receipt.ping)
        failed: set[_Connection] = set()
        for connection, ping in last_ping.items():
            try:
                connection.await_pong(ping)
            except (OSError, ValueError) as error:  # ValueError: a closed connection
                failed.add(connection)
                self._drop(connection)
                log.warning("NATS did not confirm published events: %s", error)
        return [r for r in receipts if r.connection not in failed]

    def publish_confirmed(self, events: Sequence[Event]) -> bool:
        """Publish and wait for the server to have the events (off the request path)."""
        receipt = self.publish(events)
        return receipt is not None and bool(self.confirm([receipt]))

    def close(self) -> None:
        """Close every instance's connection; the next publish opens a fresh one."""
        with self._open_lock:
            connections, self._open = self._open, set()
        for connection in connections:
            connection.close()

    def _connect(self) -> _Connection:
        connection = _Connection(self._url, self._timeout)
        with self._open_lock:
            self._open.add(connection)
        self._mine.connection = connection
        return connection

    def _drop(self, connection: _Connection | None) -> None:
        """Close `connection`; its owner opens a fresh one on its next publish."""
        if connection is not None:
            with self._open_lock:
                self._open.discard(connection)
            connection.close()
