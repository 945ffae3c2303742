"""The front door: API Gateway HTTP API (payload 2.0 + Lambda REQUEST authorizer), the Lambda
Invoke API and the frontend build, as one raw ASGI app (no framework on the request path).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import mimetypes
import re
import time
import traceback
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote

from redis import asyncio as aioredis
from redis.exceptions import RedisError

from localcloud.runtime import FunctionRuntime
from localcloud.template import LOCAL_ACCOUNT, LOCAL_REGION, AppTemplate, Cors, Route

log = logging.getLogger("localcloud")

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

MAX_PAYLOAD_BYTES = 10 * 1024 * 1024  # API Gateway's own request limit
INVOKE_PATH = re.compile(r"^/2015-03-31/functions/(?P<name>[^/]+)/invocations$")
TEXT_TYPES = ("text/", "application/json", "application/xml", "application/javascript")


@dataclass(frozen=True)
class _CompiledRoute:
    route: Route
    pattern: re.Pattern[str]


def _compile(route: Route) -> _CompiledRoute:
    regex = re.sub(r"\{(\w+)\+\}", r"(?P<\1>.+)", route.path)
    regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", regex)
    return _CompiledRoute(route, re.compile(f"^{regex}$"))


@dataclass
class HttpResponse:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes


def _json_response(
    status: int, payload: Any, headers: dict[str, str] | None = None
) -> HttpResponse:
    raw = [(b"content-type", b"application/json")]
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    return HttpResponse(status, raw, json.dumps(payload).encode())


def _envelope_error(status: int, message: str) -> HttpResponse:
    return _json_response(status, {"success": False, "message": message, "data": None})


class _AuthorizerCache:
    """API Gateway's authorizer result cache: an allow is reused for `ttl_seconds` per
    identity (the Authorization header). Refusals are asked again each time (API Gateway would
    cache an explicit deny too; asking again only costs time).

    API Gateway keeps one cache per API. Worker processes each hold their own gateway, so they
    share their allows through the local Valkey (`shared_url`), each keeping a copy to answer
    repeat callers without a round trip: a shopper's first request costs one authorizer run,
    not one per worker."""

    MAX_ENTRIES = 10_000
    SHARED_PREFIX = "localcloud:authorizer:"

    def __init__(self, ttl_seconds: float, shared_url: str | None = None) -> None:
        self.ttl_seconds = ttl_seconds
        # identity -> (expiry in wall-clock seconds: shared entries cross processes, context)
        self._allows: dict[str, tuple[float, dict[str, Any]]] = {}
        self._shared = (
            aioredis.Redis.from_url(shared_url, socket_timeout=2, socket_connect_timeout=2)
            if shared_url and ttl_seconds > 0
            else None
        )

    async def get(self, identity: str) -> dict[str, Any] | None:
        now = time.time()
        cached = self._allows.get(identity)
        if cached is not None and cached[0] > now:
            return dict(cached[1])  # a function may change its event; the cache keeps its own
        if self._shared is None:
            return None
        try:
            raw = await self._shared.get(self._shared_key(identity))
        except (RedisError, OSError) as exc:  # then the authorizer is asked, as on a miss
            log.warning("authorizer cache unavailable: %s", exc)
            return None
        if raw is None:
            return None
        expires_at, context = json.loads(raw)
        if expires_at <= now:
            return None
        self._remember(identity, expires_at, context)
        return dict(context)

    async def put(self, identity: str, context: dict[str, Any]) -> None:
        if self.ttl_seconds <= 0:
            return
        expires_at = time.time() + self.ttl_seconds
        self._remember(identity, expires_at, dict(context))
        if self._shared is None:
            return
        try:
            await self._shared.set(
                self._shared_key(identity),
                json.dumps([expires_at, context]),
                px=int(self.ttl_seconds * 1000),
            )
        except (RedisError, OSError) as exc:  # the other workers ask the authorizer themselves
            log.warning("authorizer cache unavailable: %s", exc)

    def _remember(self, identity: str, expires_at: float, context: dict[str, Any]) -> None:
        if len(self._allows) >= self.MAX_ENTRIES:
            now = time.time()
            self._allows = {k: v for k, v in self._allows.items() if v[0] > now}
            while len(self._allows) >= self.MAX_ENTRIES:  # still full: the oldest go first
                del self._allows[next(iter(self._allows))]
        self._allows[identity] = (expires_at, context)

    def _shared_key(self, identity: str) -> str:
        # A digest: the bearer token itself is not written anywhere.
        return self.SHARED_PREFIX + hashlib.sha256(identity.encode()).hexdigest()


class Gateway:
    def __init__(
        self,
        template: AppTemplate,
        runtimes: dict[str, FunctionRuntime],
        static_dir: Path | None,
        *,
        shared_cache_url: str | None = None,
    ) -> None:
        """`shared_cache_url`: the Redis the gateways of several workers share their
        authorizer cache through (see _AuthorizerCache)."""
        self.template = template
        self.runtimes = runtimes
        self.static_dir = static_dir.resolve() if static_dir else None
        self.cors: Cors | None = template.cors
        # Exact paths are looked up in a dict; only templated paths need a regex scan.
        self._exact: dict[tuple[str, str], Route] = {}
        self._templated: list[_CompiledRoute] = []
        for route in template.routes:
            if "{" in route.path:
                self._templated.append(_compile(route))
            else:
                self._exact[(route.method, route.path)] = route
        self._background: set[asyncio.Task[Any]] = set()
        self._authorizer_cache = _AuthorizerCache(template.authorizer_ttl_seconds, shared_cache_url)

    # -- ASGI ---------------------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        body = await self._read_body(receive)
        if body is None:
            response = _envelope_error(413, "body: request payload too large")
        else:
            response = await self._dispatch(scope, body)
        await send(
            {"type": "http.response.start", "status": response.status, "headers": response.headers}
        )
        await send({"type": "http.response.body", "body": response.body})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return

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
            return await self._invoke_api(unquote(invoke.group("name")), scope, body)
        if path.startswith("/api/"):
            return await self._http_api(scope, body)
        return self._static(path)

    # -- HTTP API -----------------------------------------------------------------------------
    def _match(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        route = self._exact.get((method, path))
        if route is not None:
            return route, {}
        for compiled in self._templated:
            if compiled.route.method != method:
                continue
            match = compiled.pattern.match(path)
            if match:
                return compiled.route, {k: unquote(v) for k, v in match.groupdict().items()}
        return None

    async def _http_api(self, scope: Scope, body: bytes) -> HttpResponse:
        headers = _headers(scope)
        method: str = scope["method"]
        if method == "OPTIONS" and self.cors and "access-control-request-method" in headers:
            return self._preflight(headers)
        matched = self._match(method, scope["path"])
        if matched is None:
            return self._with_cors(headers, _envelope_error(404, "Not Found"))
        route, path_parameters = matched
        event = _http_event(scope, headers, body, route, path_parameters)
        if route.authorized:
            denied = await self._authorize(event, headers)
            if denied is not None:
                return self._with_cors(headers, denied)
        try:
            result = await self._call(route.function, event)
        except Exception:
            log.error(
                "%s failed on %s:\n%s", route.function, route.route_key, traceback.format_exc()
            )
            return self._with_cors(headers, _envelope_error(500, "Internal Server Error"))
        return self._with_cors(headers, _lambda_result(result))

    async def _authorize(
        self, event: dict[str, Any], headers: dict[str, str]
    ) -> HttpResponse | None:
        """None when allowed (the event gains the authorizer context), else the gateway reply."""
        if "authorization" not in headers or self.template.authorizer_function is None:
            return _envelope_error(401, "Unauthorized")
        cached = await self._authorizer_cache.get(headers["authorization"])
        if cached is not None:
            event["requestContext"]["authorizer"] = {"lambda": cached}
            return None
        auth_event = {
            **{k: v for k, v in event.items() if k not in ("body", "isBase64Encoded")},
            "type": "REQUEST",
            "routeArn": f"arn:aws:execute-api:{LOCAL_REGION}:{LOCAL_ACCOUNT}:local/$default/"
            + event["routeKey"].replace(" ", ""),
            "identitySource": [headers["authorization"]],
        }
        try:
            verdict = await self._call(self.template.authorizer_function, auth_event)
        except Exception as exc:
            # A Lambda authorizer signals 401 by failing with "Unauthorized", as in AWS.
            if str(exc) == "Unauthorized":
                return _envelope_error(401, "Unauthorized")
            log.error("authorizer failed:\n%s", traceback.format_exc())
            return _envelope_error(500, "Internal Server Error")
        if not isinstance(verdict, dict) or not verdict.get("isAuthorized"):
            return _envelope_error(403, "Forbidden")
        context = verdict.get("context") or {}
        await self._authorizer_cache.put(headers["authorization"], context)
        event["requestContext"]["authorizer"] = {"lambda": context}
        return None

    async def _call(self, function: str, event: dict[str, Any]) -> Any:
        runtime = self.runtimes[function]
        return await asyncio.wait_for(runtime.invoke(event), runtime.spec.timeout_seconds)

    def _preflight(self, headers: dict[str, str]) -> HttpResponse:
        assert self.cors is not None
        response = HttpResponse(204, [], b"")
        origin = headers.get("origin", "")
        allowed = self._allowed_origin(origin)
        if allowed:
            response.headers += [
                (b"access-control-allow-origin", allowed.encode()),
                (b"access-control-allow-methods", ",".join(self.cors.allow_methods).encode()),
                (b"access-control-allow-headers", ",".join(self.cors.allow_headers).encode()),
                (b"access-control-max-age", str(self.cors.max_age).encode()),
            ]
        return response

    def _allowed_origin(self, origin: str) -> str | None:
        if self.cors is None or not origin:
            return None
        if "*" in self.cors.allow_origins:
            return "*"
        return origin if origin in self.cors.allow_origins else None

    def _with_cors(self, headers: dict[str, str], response: HttpResponse) -> HttpResponse:
        allowed = self._allowed_origin(headers.get("origin", ""))
        if allowed and self.cors is not None:
            response.headers.append((b"access-control-allow-origin", allowed.encode()))
            if self.cors.expose_headers:
                exposed = ",".join(self.cors.expose_headers).encode()
                response.headers.append((b"access-control-expose-headers", exposed))
        return response

    # -- Lambda Invoke API --------------------------------------------------------------------
    async def _invoke_api(self, name: str, scope: Scope, body: bytes) -> HttpResponse:
        # A name, a full or partial ARN, each optionally with a ":qualifier" (version/alias).
        parts = name.split(":")
        function = parts[parts.index("function") + 1] if "function" in parts else parts[0]
        if function not in self.runtimes:
            return _json_response(
                404,
                {"Type": "User", "Message": f"Function not found: {name}"},
                {"x-amzn-errortype": "ResourceNotFoundException"},
            )
        try:
            event = json.loads(body) if body else {}
        except ValueError:
            return _json_response(
                400,
                {"Type": "User", "Message": "Could not parse request body into json"},
                {"x-amzn-errortype": "InvalidRequestContentException"},
            )
        invocation_type = _headers(scope).get("x-amz-invocation-type", "RequestResponse")
        if invocation_type == "Event":
            task = asyncio.create_task(self._call(function, event))
            # The loop keeps only weak references to tasks: hold one until it is done.
            self._background.add(task)
            task.add_done_callback(self._background.discard)
            task.add_done_callback(_log_async_failure)
            return HttpResponse(202, [], b"")
        try:
            result = await self._call(function, event)
        except Exception as exc:
            log.error("%s failed on invoke:\n%s", function, traceback.format_exc())
            error_type = "Sandbox.Timedout" if isinstance(exc, TimeoutError) else type(exc).__name__
            return _json_response(
                200,
                {"errorMessage": str(exc), "errorType": error_type},
                {"x-amz-function-error": "Unhandled"},
            )
        return _json_response(200, result, {"x-amz-executed-version": "$LATEST"})

    # -- frontend -----------------------------------------------------------------------------
    def _static(self, path: str) -> HttpResponse:
        if self.static_dir is None:
            return _envelope_error(404, "Not Found")
        candidate = (self.static_dir / path.lstrip("/")).resolve()
        if not candidate.is_relative_to(self.static_dir) or not candidate.is_file():
            candidate = self.static_dir / "index.html"  # single-page app: the client routes
        if not candidate.is_file():
            return _envelope_error(404, "Not Found")
        content_type = mimetypes.guess_type(candidate.name)[0] or "application/octet-stream"
        return HttpResponse(200, [(b"content-type", content_type.encode())], candidate.read_bytes())


def _log_async_failure(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("async invocation failed: %r", task.exception())


def _headers(scope: Scope) -> dict[str, str]:
    """Header names lowercased; repeated headers joined by commas, as API Gateway does."""
    headers: dict[str, str] = {}
    for raw_name, raw_value in scope["headers"]:
        name = raw_name.decode("latin-1").lower()
        value = raw_value.decode("latin-1")
        headers[name] = f"{headers[name]},{value}" if name in headers else value
    return headers


def _http_event(
    scope: Scope,
    headers: dict[str, str],
    body: bytes,
    route: Route,
    path_parameters: dict[str, str],
) -> dict[str, Any]:
    raw_query = scope.get("query_string", b"").decode("latin-1")
    query: dict[str, str] = {}
    for key, value in parse_qsl(raw_query, keep_blank_values=True):
        query[key] = f"{query[key]},{value}" if key in query else value
    cookies = [c.strip() for c in headers.pop("cookie", "").split(";") if c.strip()]
    client = scope.get("client") or ("127.0.0.1", 0)
    content_type = headers.get("content-type", "")
    is_text = not body or content_type.startswith(TEXT_TYPES)
    now = time.time()
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route.route_key,
        "rawPath": scope["path"],
        "rawQueryString": raw_query,
        "headers": headers,
        "requestContext": {
            "accountId": LOCAL_ACCOUNT,
            "apiId": "local",
            "domainName": headers.get("host", "localhost"),
            "domainPrefix": headers.get("host", "localhost").split(".")[0],
            "http": {
                "method": scope["method"],
                "path": scope["path"],
                "protocol": f"HTTP/{scope.get('http_version', '1.1')}",
                "sourceIp": client[0],
                "userAgent": headers.get("user-agent", ""),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": route.route_key,
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": not is_text,
    }
    if cookies:
        event["cookies"] = cookies
    if query:
        event["queryStringParameters"] = query
    if path_parameters:
        event["pathParameters"] = path_parameters
    if body:
        event["body"] = (
            body.decode("utf-8", "replace") if is_text else base64.b64encode(body).decode()
        )
    return event


def _lambda_result(result: Any) -> HttpResponse:
    """Turn a handler's return value into a response, inferring as API Gateway does (2.0)."""
    if not isinstance(result, dict) or "statusCode" not in result:
        return _json_response(200, result)
    headers = [
        (str(k).lower().encode(), str(v).encode()) for k, v in (result.get("headers") or {}).items()
    ]
    for name, values in (result.get("multiValueHeaders") or {}).items():
        headers += [(str(name).lower().encode(), str(v).encode()) for v in values]
    headers += [(b"set-cookie", str(c).encode()) for c in result.get("cookies") or []]
    raw_body = result.get("body") or ""
    body = (
        base64.b64decode(raw_body)
        if result.get("isBase64Encoded")
        else (raw_body.encode() if isinstance(raw_body, str) else json.dumps(raw_body).encode())
    )
    return HttpResponse(int(result["statusCode"]), headers, body)
