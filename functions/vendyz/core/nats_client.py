"""Just enough of the NATS client protocol for synchronous Lambda code: requests on a socket.

A connection subscribes once to an inbox of its own; `request_all` writes every request with
its own reply subject in one write, then reads the replies: N requests, one round trip. That
is how events reach JetStream (each publish answered by a PubAck) and how the JetStream API
is called. No thread of its own: replies are read by the caller before it returns.
Subscribers (tests, the bridge) use nats-py.
"""

from __future__ import annotations

import json
import secrets
import socket
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

_SID = b"1"  # the one subscription: this connection's inbox


class NatsError(ConnectionError):
    """The server refused or dropped the connection."""


@dataclass(frozen=True)
class Request:
    subject: str
    payload: bytes
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Reply:
    # 200 for a plain reply; otherwise the NATS status header (503: no one serves the subject)
    status: int
    data: bytes

    def json(self) -> Any:
        return json.loads(self.data) if self.data else None


def _frame(request: Request, reply_to: bytes) -> bytes:
    subject, payload = request.subject.encode(), request.payload
    if not request.headers:
        return b"PUB %s %s %d\r\n%s\r\n" % (subject, reply_to, len(payload), payload)
    lines = "".join(f"{name}: {value}\r\n" for name, value in request.headers.items())
    headers = f"NATS/1.0\r\n{lines}\r\n".encode()
    total = len(headers) + len(payload)
    return b"HPUB %s %s %d %d\r\n%s%s\r\n" % (
        subject,
        reply_to,
        len(headers),
        total,
        headers,
        payload,
    )


def _status(headers: bytes) -> int:
    """The status of an HMSG's header block: "NATS/1.0 503" -> 503, "NATS/1.0" -> 200."""
    first = headers.split(b"\r\n", 1)[0].split()
    return int(first[1]) if len(first) > 1 and first[1].isdigit() else 200


class NatsConnection:
    """One client connection; used by one caller at a time."""

    def __init__(self, url: str, timeout: float) -> None:
        parts = urlsplit(url)
        self._timeout = timeout
        self._sock = socket.create_connection(
            (parts.hostname or "127.0.0.1", parts.port or 4222), timeout=timeout
        )
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._buffer = bytearray()
        self.closed = False
        self._inbox = f"_INBOX.{secrets.token_hex(11)}.".encode()
        self._sent = 0  # requests written, each answered on inbox + its number
        try:
            self._handshake(parts.username, parts.password, time.monotonic() + timeout)
        except OSError:
            self.close()
            raise
        self.last_used = time.monotonic()

    def _handshake(self, username: str | None, password: str | None, deadline: float) -> None:
        if not self._line(deadline).startswith(b"INFO "):
            raise NatsError("not a NATS server")
        options: dict[str, Any] = {
            "verbose": False,
            "pedantic": False,
            "headers": True,
            # A request to a subject no one serves (no stream yet) is answered with status 503
            # at once instead of waiting out the timeout.
            "no_responders": True,
            "lang": "python",
            "version": "vendyz",
            "protocol": 1,
        }
        if username and password:
            options |= {"user": unquote(username), "pass": unquote(password)}
        elif username:
            options["auth_token"] = unquote(username)
        connect = b"CONNECT " + json.dumps(options).encode() + b"\r\n"
        self._write(connect + b"SUB %s* %s\r\n" % (self._inbox, _SID))

    def request_all(self, requests: Sequence[Request], timeout: float) -> list[Reply | None]:
        """Each request's reply, in order; None where none came within `timeout` (the
        connection is closed then). OSError / NatsError: the connection broke."""
        first = self._sent + 1
        self._sent += len(requests)
        frames = [_frame(r, self._inbox + str(first + i).encode()) for i, r in enumerate(requests)]
        self._write(b"".join(frames))
        replies: list[Reply | None] = [None] * len(requests)
        missing = len(requests)
        deadline = time.monotonic() + timeout
        try:
            while missing:
                subject, reply = self._message(deadline)
                number = subject.removeprefix(self._inbox)
                index = int(number) - first if number.isdigit() else -1
                # A late reply to an earlier call of ours is no answer to this one.
                if 0 <= index < len(replies) and replies[index] is None:
                    replies[index] = reply
                    missing -= 1
        except TimeoutError:
            self.close()
        self.last_used = time.monotonic()
        return replies

    def _message(self, deadline: float) -> tuple[bytes, Reply]:
        """The next message for us: (its subject, the reply), answering keep-alive PINGs."""
        while True:
            line = self._line(deadline)
            if line.startswith((b"MSG ", b"HMSG ")):
                fields = line.split()
                size = int(fields[-1])
                body = self._exact(size + 2, deadline)[:size]
                if fields[0] == b"MSG":
                    return fields[1], Reply(200, body)
                header_size = int(fields[-2])
                return fields[1], Reply(_status(body[:header_size]), body[header_size:])
            if line == b"PING":
                self._write(b"PONG\r\n")
            elif line.startswith(b"-ERR"):
                self.close()
                raise NatsError(line.decode(errors="replace"))
            # anything else (+OK, PONG, INFO updates) needs no answer

    def _line(self, deadline: float) -> bytes:
        while (end := self._buffer.find(b"\r\n")) < 0:
            self._fill(deadline)
        line = bytes(self._buffer[:end])
        del self._buffer[: end + 2]
        return line

    def _exact(self, size: int, deadline: float) -> bytes:
        while len(self._buffer) < size:
            self._fill(deadline)
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    def _fill(self, deadline: float) -> None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("no reply from NATS in time")
        self._sock.settimeout(remaining)
        try:
            chunk = self._sock.recv(65536)
        except TimeoutError:
            raise
        except OSError:
            self.close()
            raise
        if not chunk:
            self.close()
            raise NatsError("NATS closed the connection")
        self._buffer += chunk

    def _write(self, data: bytes) -> None:
        self._sock.settimeout(self._timeout)
        try:
            self._sock.sendall(data)
        except OSError:
            self.close()
            raise

    def close(self) -> None:
        self.closed = True
        self._sock.close()
