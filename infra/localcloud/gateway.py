"""The front door on one port: the HTTP API, the WebSocket API with its @connections API, the
Lambda Invoke API and the frontend build, as one raw ASGI app (no framework on the request
path). Each part is a module of its own; this one reads the request and hands it to the part
its path names."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote

from localcloud.authorizer_cache import AuthorizerCache
from localcloud.connection_relay import ConnectionRelay
from localcloud.connections_api import ConnectionsApi
from localcloud.http_api import HttpApi
from localcloud.invoke_api import INVOKE_PATH, InvokeApi
from localcloud.local_secrets import LocalSecrets
from localcloud.responses import (
    HttpResponse,
    Receive,
    Scope,
    Send,
    gateway_answer,
    new_request_id,
)
from localcloud.runtime import FunctionRuntime
from localcloud.static_files import StaticFiles, request_host
from localcloud.template import AppTemplate
from localcloud.websocket_api import IDLE_TIMEOUT_SECONDS, WORKER_TAG_BYTES, WebSocketApi

MAX_PAYLOAD_BYTES = 10 * 1024 * 1024  # API Gateway's own request limit
MAX_HEADER_BYTES = 10 * 1024  # API Gateway's quota on the request line and header values


class Gateway:
    def __init__(
        self,
        template: AppTemplate,
        runtimes: dict[str, FunctionRuntime],
        static_dir: Path | None,
        *,
        secrets: LocalSecrets,
        shared_cache_url: str | None = None,
        websocket_idle_seconds: float = IDLE_TIMEOUT_SECONDS,
    ) -> None:
        """`secrets`: the credentials the Invoke API and the @connections API accept.
        `shared_cache_url`: the Redis through which the gateways of several workers share
        their authorizer cache (see AuthorizerCache) and relay @connections calls to the worker
        holding the connection (see ConnectionRelay)."""
        self.template = template
        self.runtimes = runtimes
        cache = AuthorizerCache(template.authorizer_ttl_seconds, shared_cache_url)
        self.http_api = HttpApi(template, runtimes, cache)
        self.invoke_api = InvokeApi(runtimes, secrets)
        self.static_files = StaticFiles(static_dir)
        self.websocket_api: WebSocketApi | None = None
        self.connections_api: ConnectionsApi | None = None
        if template.websocket is not None:
            relay = (
                ConnectionRelay(shared_cache_url, WORKER_TAG_BYTES) if shared_cache_url else None
            )
            self.websocket_api = WebSocketApi(
                template.websocket, runtimes, relay, idle_timeout_seconds=websocket_idle_seconds
            )
            self.connections_api = ConnectionsApi(self.websocket_api, relay, secrets)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] == "websocket":
            await self._websocket(scope, receive, send)
            return
        if scope["type"] != "http":
            return
        body = await self._read_body(receive)
        if _header_bytes(scope) > MAX_HEADER_BYTES:
            response = gateway_answer(431)
            response.headers.append((b"apigw-requestid", new_request_id().encode()))
        elif body is None:
            response = (
                self.invoke_api.too_large()
                if INVOKE_PATH.match(scope["path"])
                else self.http_api.too_large()
            )
        else:
            response = await self._dispatch(scope, body)
        headers = response.headers
        if response.status != 204 and not any(name == b"content-length" for name, _ in headers):
            headers = [*headers, (b"content-length", str(len(response.body)).encode())]
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        await send({"type": "http.response.body", "body": response.body})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.websocket_api is not None:
            await self.websocket_api.handle(scope, receive, send)
            return
        await receive()  # websocket.connect
        await send({"type": "websocket.close"})  # no WebSocket API: the upgrade gets 403

    async def _read_body(self, receive: Receive) -> bytes | None:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > MAX_PAYLOAD_BYTES:
                return None
            chunks.append(chunk)
            if not message.get("more_body"):
                return b"".join(chunks)

    async def _dispatch(self, scope: Scope, body: bytes) -> HttpResponse:
        path: str = scope["path"]
        invoke = INVOKE_PATH.match(path)
        if invoke and scope["method"] == "POST":
            return await self.invoke_api.handle(unquote(invoke.group("name")), scope, body)
        if path.startswith("/api/") or self.http_api.routes_path(path):
            return await self.http_api.handle(scope, body)
        if self.connections_api is not None and self.connections_api.serves(path):
            return await self.connections_api.handle(scope, body)
        return self.static_files.get(path, request_host(scope))


def _header_bytes(scope: Scope) -> int:
    line = len(scope["method"]) + len(scope.get("raw_path") or b"") + len(scope["query_string"])
    return line + sum(len(name) + len(value) for name, value in scope["headers"])
