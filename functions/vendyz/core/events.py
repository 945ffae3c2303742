"""Publishing events to NATS from synchronous Lambda code.

`publish` writes events without waiting for the server and returns a receipt. `confirm(receipts)`
then sends a PING on each connection the receipts name; the server answers with a PONG once
it has processed everything sent before it, so NATS holds those events before they are marked
sent (one PING per connection and batch, not one per publish); what it cannot confirm stays
unsent for the relay. The outbox does both from a thread of its own, a batch at a time
(vendyz.core.outbox). That is a few lines of the NATS text protocol on a plain socket.
Subscribers (tests, the bridge) use nats-py.

One connection per publisher: the local cloud runs a function's instances as threads of one
process, and they share it. Writes are combined: a publish queues its frames, and whoever
finds the socket free sends everything queued, so no instance waits behind another's write
(a lock held across the write made 32 busy instances queue ~20 ms per publish). A connection
per instance avoided that queue too, but cost the reservation path ~30% in PINGs and
confirms.
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
        self._queue: list[bytes] = []
        self._queued = 0  # publishes queued, counted from 1
        self._confirmed = 0  # the last of them the server is known to hold
        self._queue_lock = threading.Lock()  # held for a list append, never across I/O
        # Whoever holds it writes everything queued: publishers, and confirmers (PING, and
        # PONG to the server's keep-alive PING).
        self._write_lock = threading.Lock()
        self._read_lock = threading.Lock()  # confirmers read one at a time

    def send(self, frames: bytes) -> int:
        """Queue one publish and see it written, by us or by the writer of the moment; its
        number on this connection. OSError: the connection broke (what was queued is lost)."""
        with self._queue_lock:
            self._queue.append(frames)
            self._queued += 1
            number = self._queued
        self._drain()
        return number

    def confirm_through(self, number: int) -> None:
        """Return once the server holds publish `number` and every one before it."""
        with self._read_lock:
            if self._confirmed >= number:
                return
            with self._write_lock:
                covered = self._write_queued(b"PING\r\n")
            self._drain()
            while True:  # only this reader has a PING out: the next PONG answers it
                line = self._reader.readline()
                if line == b"PONG\r\n":
                    break
                if line == b"PING\r\n":  # the server's keep-alive, due an answer
                    with self._write_lock:
                        self._write_queued(b"PONG\r\n")
                elif not line or line.startswith(b"-ERR"):
                    raise NatsError(line.decode(errors="replace").strip() or "connection closed")
                # anything else (+OK, INFO updates) needs no answer
            self._confirmed = covered

    def _drain(self) -> None:
        """Write what is queued unless a writer is at it. Loops: a publish queued while the
        writer was finishing is then ours to send."""
        while self._queue and self._write_lock.acquire(blocking=False):
            try:
                self._write_queued()
            finally:
                self._write_lock.release()

    def _write_queued(self, after: bytes = b"") -> int:
        """Write the queue, then `after` (call with the write lock); the publishes written."""
        with self._queue_lock:
            frames, self._queue = self._queue, []
            written = self._queued
        frames.append(after)
        try:
            self._sock.sendall(b"".join(frames))
        except OSError:
            self.closed = True
            raise
        self.last_used = time.monotonic()
        return written

    def close(self) -> None:
        self.closed = True
        self._reader.close()
        self._sock.close()


@dataclass(frozen=True)
class Receipt:
    """Events queued on a connection as its publish number `number`."""

    connection: _Connection
    number: int
    event_ids: tuple[str, ...]


def _frames(events: Sequence[Event]) -> bytes:
    """HPUB every event (its id as Nats-Msg-Id, for JetStream de-duplication)."""
    frames = []
    for event in events:
        headers = f"NATS/1.0\r\nNats-Msg-Id: {event.event_id}\r\n\r\n".encode()
        body = event.encode()
        frames.append(
            b"HPUB %s %d %d\r\n%s%s\r\n"
            % (event.subject.encode(), len(headers), len(headers) + len(body), headers, body)
        )
    return b"".join(frames)


class EventPublisher:
    """Publishes to NATS on one shared connection (see the module's docstring)."""

    def __init__(self, url: str, *, timeout_seconds: float = 2.0) -> None:
        self._url = url
        self._timeout = timeout_seconds
        self._connection: _Connection | None = None
        self._connect_lock = threading.Lock()

    def publish(self, events: Sequence[Event]) -> Receipt | None:
        """Write the events without waiting for the server; None (never an exception) when
        no connection took them. Either way, or if the connection breaks before the server
        has them (confirm tells), they stay in the outbox for the relay."""
        frames = _frames(events)
        # A kept connection may have been closed by the server while idle: one fresh try.
        for attempt in range(2):
            connection = None
            try:
                connection = self._current()
                number = connection.send(frames)
                return Receipt(connection, number, tuple(e.event_id for e in events))
            except OSError as error:
                self._drop(connection)
                if attempt == 1:
                    log.warning("NATS did not take %d event(s): %s", len(events), error)
        return None

    def confirm(self, receipts: Sequence[Receipt]) -> list[Receipt]:
        """The receipts whose events the server has; waits up to the timeout for each
        connection's answer. Events of the others may be lost: they stay for the relay."""
        last: dict[_Connection, int] = {}
        for receipt in receipts:
            last[receipt.connection] = max(last.get(receipt.connection, 0), receipt.number)
        failed: set[_Connection] = set()
        for connection, number in last.items():
            try:
                connection.confirm_through(number)
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
        self._drop(self._connection)

    def _current(self) -> _Connection:
        """The open connection; a fresh one if it broke or idled too long."""
        connection = self._connection
        if connection is not None and not self._stale(connection):
            return connection
        with self._connect_lock:
            connection = self._connection
            if connection is None or self._stale(connection):
                self._drop(connection)
                connection = _Connection(self._url, self._timeout)
                self._connection = connection
            return connection

    @staticmethod
    def _stale(connection: _Connection) -> bool:
        return connection.closed or time.monotonic() - connection.last_used > MAX_IDLE_SECONDS

    def _drop(self, connection: _Connection | None) -> None:
        """Close `connection`, and forget it if it is the current one."""
        if connection is not None:
            if self._connection is connection:
                self._connection = None
            connection.close()
