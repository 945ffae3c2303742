"""API Gateway's WebSocket API: the handshake (the `$connect` authorizer and route; a refusal
answers the upgrade with its HTTP status), route selection with the `$default` fallback, the
two-way routes' replies as text frames, the idle and maximum-duration limits, and
`$disconnect` however a connection ends. The frame and message size limits below are enforced
by uvicorn (host.py); the @connections API is connections_api.py."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import time
from typing import Any

from redis.exceptions import RedisError

from localcloud.authorizer_policy import allows_invoke
from localcloud.connection_relay import ConnectionRelay
from localcloud.invoke_api import log_invoke_failure
from localcloud.responses import Receive, Scope, Send
from localcloud.runtime import FunctionRuntime
from localcloud.websocket_connection import LiveConnection
from localcloud.websocket_events import (
    ConnectionContext,
    Handshake,
    authorizer_event,
    connect_event,
    disconnect_event,
    message_event,
    new_connection_id,
)
from localcloud.websocket_template import WebSocketApiSpec

log = logging.getLogger("localcloud")

MAX_MESSAGE_BYTES = 128 * 1024
MAX_FRAME_BYTES = 32 * 1024
IDLE_TIMEOUT_SECONDS = 600.0  # API Gateway's: 10 minutes without a message from the client
MAX_CONNECTION_SECONDS = 2 * 3600.0
WORKER_TAG_BYTES = 3
# Messages of one connection handled at once (API Gateway invokes per message, concurrently);
# past that the connection is read no further until one finishes.
MAX_IN_FLIGHT = 8
GOING_AWAY = 1001
# What AWS writes into $disconnect for a client's close frame without a status code.
NO_STATUS_REASON = "Client-side close frame status not set"
FORBIDDEN = {"message": "Forbidden"}
UNAUTHORIZED = {"message": "Unauthorized"}
INTERNAL_ERROR = {"message": "Internal server error"}


class _RefusalIsNotAnError(logging.Filter):
    """uvicorn logs a handshake answered with an HTTP response (its own denial extension) as if
    the app had returned without a handshake; a refused $connect is no error of the gateway."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != "ASGI callable returned without completing handshake."


_REFUSAL_FILTER = _RefusalIsNotAnError()


class Refused(Exception):
    """The handshake is answered with this HTTP status instead of an upgrade."""

    def __init__(self, status: int, body: bytes) -> None:
        super().__init__(status)
        self.status = status
        self.body = body


def _json(payload: Any) -> bytes:
    return json.dumps(payload).encode()


class WebSocketApi:
    def __init__(
        self,
        spec: WebSocketApiSpec,
        runtimes: dict[str, FunctionRuntime],
        relay: ConnectionRelay | None = None,
        *,
        idle_timeout_seconds: float = IDLE_TIMEOUT_SECONDS,
        max_connection_seconds: float = MAX_CONNECTION_SECONDS,
    ) -> None:
        """`relay`: how @connections calls reach this worker from the others (None: one
        worker). `worker_tag` goes into every connection id accepted here."""
        self.spec = spec
        self.runtimes = runtimes
        self.relay = relay
        self.idle_timeout_seconds = idle_timeout_seconds
        self.max_connection_seconds = max_connection_seconds
        self.worker_tag = relay.worker_tag if relay is not None else os.urandom(WORKER_TAG_BYTES)
        self.connections: dict[str, LiveConnection] = {}
        logging.getLogger("uvicorn.error").addFilter(_REFUSAL_FILTER)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (await receive())["type"] != "websocket.connect":
            return
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]]
        lowered = {name.lower(): value for name, value in headers}
        client = scope.get("client") or ("127.0.0.1", 0)
        handshake = Handshake(headers, scope.get("query_string", b"").decode("latin-1"), client[0])
        context = ConnectionContext(
            connection_id=new_connection_id(self.worker_tag),
            stage=self.spec.stage,
            domain_name=lowered.get("host", "localhost"),
            source_ip=client[0],
            user_agent=lowered.get("user-agent", ""),
        )
        try:
            if scope["path"] != f"/{self.spec.stage}":
                raise Refused(403, _json(FORBIDDEN))
            await self._open(context, handshake)
        except Refused as refused:
            await _refuse(scope, send, refused)
            return
        await self._listen_for_other_workers()
        connection = LiveConnection(context, send)
        if not await connection.accept():  # the client left during $connect
            await self._route_disconnect(context, 1006, "")
            return
        self.connections[context.connection_id] = connection
        try:
            code, reason = await self._serve(connection, receive)
        except Exception:  # a fault of the gateway: the connection ends, the gateway serves on
            log.exception("WebSocket connection failed")
            code, reason = 1011, "Internal server error"
            await connection.close(code, reason)
        finally:
            del self.connections[context.connection_id]
        await self._route_disconnect(context, code, reason)

    async def _listen_for_other_workers(self) -> None:
        if self.relay is None:
            return
        try:
            await self.relay.ensure_started()
        except (RedisError, OSError) as exc:  # calls from this worker still reach it
            log.warning("@connections relay unavailable: %s", exc)

    async def _open(self, context: ConnectionContext, handshake: Handshake) -> None:
        """Authorize and run $connect; Refused with the status the client gets otherwise."""
        route = self.spec.routes.get("$connect")
        if route is None:
            return
        if route.authorizer_function is not None:
            context.authorizer = await self._authorize(
                route.authorizer_function, context, handshake
            )
        if route.function is None:
            return
        try:
            result = await self.runtimes[route.function].invoke(connect_event(context, handshake))
        except Exception as exc:
            log_invoke_failure(route.function, "$connect", exc)
            raise Refused(500, _json(INTERNAL_ERROR)) from None
        status = int(result.get("statusCode", 200)) if isinstance(result, dict) else 200
        if not 200 <= status < 300:
            body = result.get("body") or ""
            raise Refused(status, body.encode() if isinstance(body, str) else _json(body))

    async def _authorize(
        self, function: str, context: ConnectionContext, handshake: Handshake
    ) -> dict[str, Any]:
        started = time.monotonic()
        try:
            verdict = await self.runtimes[function].invoke(authorizer_event(context, handshake))
        except Exception as exc:
            # A Lambda authorizer signals 401 by failing with "Unauthorized", as in AWS.
            if str(exc) == "Unauthorized":
                raise Refused(401, _json(UNAUTHORIZED)) from None
            log_invoke_failure(function, "$connect (authorizer)", exc)
            raise Refused(500, _json(INTERNAL_ERROR)) from None
        if not allows_invoke(verdict, context.connect_arn):
            raise Refused(403, _json(FORBIDDEN))
        return {
            "principalId": str(verdict.get("principalId", "")),
            **(verdict.get("context") or {}),
            "integrationLatency": int((time.monotonic() - started) * 1000),
        }

    async def _serve(self, connection: LiveConnection, receive: Receive) -> tuple[int, str]:
        """Route the client's messages until the connection ends; its close code and reason.
        Messages still being handled are waited for: their replies are lost, their effects
        are not."""
        in_flight: set[asyncio.Task[None]] = set()
        slots = asyncio.Semaphore(MAX_IN_FLIGHT)
        started = last_message = time.monotonic()
        closing = False
        try:
            while True:
                deadline = min(
                    last_message + self.idle_timeout_seconds, started + self.max_connection_seconds
                )
                try:
                    timeout = None if closing else max(0.0, deadline - time.monotonic())
                    message = await asyncio.wait_for(receive(), timeout)
                except TimeoutError:
                    closing = True  # uvicorn reports the close it sends as the disconnect
                    await connection.close(GOING_AWAY, "Going away")
                    continue
                if message["type"] == "websocket.disconnect":
                    code = int(message.get("code") or 1005)
                    reason = message.get("reason") or (NO_STATUS_REASON if code == 1005 else "")
                    return code, reason
                last_message = time.monotonic()
                connection.last_active_ms = int(time.time() * 1000)
                await slots.acquire()
                task = asyncio.create_task(self._route_message(connection, message))
                in_flight.add(task)
                task.add_done_callback(in_flight.discard)
                task.add_done_callback(lambda _: slots.release())
        finally:
            if in_flight:
                await asyncio.wait(in_flight)

    async def _route_message(self, connection: LiveConnection, message: dict[str, Any]) -> None:
        text = message.get("text")
        if text is not None:
            route_key, body, is_base64 = self._select(text), text, False
        else:
            data: bytes = message.get("bytes") or b""
            route_key, body, is_base64 = "$default", _b64(data), True
        route = self.spec.routes.get(route_key) or self.spec.routes.get("$default")
        context = connection.context
        if route is None:
            await connection.post(_json({**FORBIDDEN, "connectionId": context.connection_id}))
            return
        if route.function is None:
            return
        event = message_event(context, route.route_key, body, is_base64=is_base64)
        try:
            result = await self.runtimes[route.function].invoke(event)
        except Exception as exc:
            log_invoke_failure(route.function, route_key, exc)
            error = {
                **INTERNAL_ERROR,
                "connectionId": context.connection_id,
                "requestId": event["requestContext"]["requestId"],
            }
            await connection.post(_json(error))
            return
        if route.two_way:
            reply = _reply_body(result)
            if reply is not None:
                await connection.post(reply.encode())

    def _select(self, text: str) -> str:
        """The route the message's selection path names, else $default."""
        try:
            value: Any = json.loads(text)
        except ValueError:
            return "$default"
        for key in self.spec.selection_path:
            value = value.get(key) if isinstance(value, dict) else None
        if isinstance(value, str) and not value.startswith("$") and value in self.spec.routes:
            return value
        return "$default"

    async def _route_disconnect(self, context: ConnectionContext, code: int, reason: str) -> None:
        route = self.spec.routes.get("$disconnect")
        if route is None or route.function is None:
            return
        try:
            await self.runtimes[route.function].invoke(disconnect_event(context, code, reason))
        except Exception as exc:  # best effort, as in AWS: the client is gone already
            log_invoke_failure(route.function, "$disconnect", exc)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _reply_body(result: Any) -> str | None:
    """What a two-way route sends back: the proxy result's body."""
    if isinstance(result, dict):
        body = result.get("body")
        return None if body is None else body if isinstance(body, str) else json.dumps(body)
    return None if result is None else result if isinstance(result, str) else json.dumps(result)


async def _refuse(scope: Scope, send: Send, refused: Refused) -> None:
    if "websocket.http.response" in scope.get("extensions", {}):
        headers = [(b"content-type", b"application/json")]
        await send(
            {"type": "websocket.http.response.start", "status": refused.status, "headers": headers}
        )
        await send({"type": "websocket.http.response.body", "body": refused.body})
    else:  # a server without the denial extension answers a close before accept with 403
        await send({"type": "websocket.close"})
