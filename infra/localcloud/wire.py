"""The frames the gateway and a function instance exchange over their socket: a 4-byte
big-endian length, then that many bytes of JSON. Blocking on the instance's side, asyncio on
the gateway's (through the running loop, so one instance serves callers of any loop)."""

from __future__ import annotations

import asyncio
import json
import socket
import struct
from typing import Any

_HEADER = struct.Struct(">I")


def encode(message: Any) -> bytes:
    body = json.dumps(message, separators=(",", ":")).encode()
    return _HEADER.pack(len(body)) + body


def read_blocking(sock: socket.socket, buffer: bytearray) -> dict[str, Any] | None:
    """The next frame, or None when the peer closed the socket."""
    while True:
        message = take(buffer)
        if message is not None:
            return message
        chunk = sock.recv(65536)
        if not chunk:
            return None
        buffer += chunk


async def read(sock: socket.socket, buffer: bytearray) -> dict[str, Any]:
    """The next frame from a non-blocking socket; ConnectionError when the peer is gone."""
    loop = asyncio.get_running_loop()
    while True:
        message = take(buffer)
        if message is not None:
            return message
        chunk = await loop.sock_recv(sock, 65536)
        if not chunk:
            raise ConnectionError("the instance closed its socket")
        buffer += chunk


def take(buffer: bytearray) -> dict[str, Any] | None:
    """The first whole frame in `buffer` (removed from it), or None if none is whole yet."""
    if len(buffer) < _HEADER.size:
        return None
    (size,) = _HEADER.unpack_from(buffer)
    end = _HEADER.size + size
    if len(buffer) < end:
        return None
    message: dict[str, Any] = json.loads(bytes(buffer[_HEADER.size : end]))
    del buffer[:end]
    return message
