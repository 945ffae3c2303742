"""A WebSocket connection the gateway holds: accepted once its $connect passed, then sent
frames, closed and described (the @connections API's calls)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from localcloud.responses import Send
from localcloud.websocket_events import ConnectionContext


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


class LiveConnection:
    """An accepted connection, as the @connections API reaches it."""

    def __init__(self, context: ConnectionContext, send: Send) -> None:
        self.context = context
        self.last_active_ms = context.connected_at_ms
        self._send = send

    async def accept(self) -> bool:
        return await self._deliver({"type": "websocket.accept"})

    async def post(self, data: bytes) -> bool:
        """Send `data` as one frame (text when it is UTF-8); False when the client is gone."""
        message: dict[str, Any] = {"type": "websocket.send"}
        try:
            message["text"] = data.decode()
        except UnicodeDecodeError:
            message["bytes"] = data
        return await self._deliver(message)

    async def close(self, code: int, reason: str = "") -> bool:
        return await self._deliver({"type": "websocket.close", "code": code, "reason": reason})

    async def _deliver(self, message: dict[str, Any]) -> bool:
        try:
            await self._send(message)
        except Exception:  # uvicorn's ClientDisconnected, or a send after the close
            return False
        return True

    def info(self) -> dict[str, Any]:
        """GetConnection's reply, as the wire has it."""
        return {
            "connectedAt": _iso(self.context.connected_at_ms),
            "identity": {
                "sourceIp": self.context.source_ip,
                "userAgent": self.context.user_agent,
            },
            "lastActiveAt": _iso(self.last_active_ms),
        }
