"""API Gateway's HTTP API: routes of the template, payload-2.0 events, the Lambda REQUEST
authorizer (with its result cache) and CORS."""

from __future__ import annotations

import base64
import json
import logging
import re
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote

from localcloud.authorizer_cache import AuthorizerCache
from localcloud.cors import CorsPolicy
from localcloud.instance import FunctionError
from localcloud.invoke_api import log_function_error
from localcloud.responses import (
    HttpResponse,
    Scope,
    gateway_answer,
    json_response,
    new_request_id,
    request_headers,
)
from localcloud.runtime import FunctionRuntime, Throttled
from localcloud.template import LOCAL_ACCOUNT, LOCAL_REGION, AppTemplate, Route

log = logging.getLogger("localcloud")

TEXT_TYPES = ("text/", "application/json", "application/xml", "application/javascript")


@dataclass(frozen=True)
class _CompiledRoute:
    route: Route
    pattern: re.Pattern[str]


def _compile(route: Route) -> _CompiledRoute:
    regex = re.sub(r"\{(\w+)\+\}", r"(?P<\1>.+)", route.path)
    regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", regex)
    return _CompiledRoute(route, re.compile(f"^{regex}$"))


class HttpApi:
    def __init__(
        self,
        template: AppTemplate,
        runtimes: dict[str, FunctionRuntime],
        authorizer_cache: AuthorizerCache,
    ) -> None:
        self.template = template
        self.runtimes = runtimes
        self.cors = CorsPolicy(template.cors)
        self._authorizer_cache = authorizer_cache
        # Exact paths are looked up in a dict; only templated paths need a regex scan.
        self._exact: dict[tuple[str, str], Route] = {}
        self._templated: list[_CompiledRoute] = []
        for route in template.routes:
            if "{" in route.path:
                self._templated.append(_compile(route))
            else:
                self._exact[(route.method, route.path)] = route
        self._exact_paths = {path for _, path in self._exact}

    async def handle(self, scope: Scope, body: bytes) -> HttpResponse:
        headers = request_headers(scope)
        request_id = new_request_id()
        response = await self._answer(scope, headers, body, request_id)
        response.headers.append((b"apigw-requestid", request_id.encode()))
        return response

    def too_large(self) -> HttpResponse:
        response = gateway_answer(413)
        response.headers.append((b"apigw-requestid", new_request_id().encode()))
        return response

    async def _answer(
        self, scope: Scope, headers: dict[str, str], body: bytes, request_id: str
    ) -> HttpResponse:
        method: str = scope["method"]
        if self.cors.is_preflight(method, headers):
            return self.cors.preflight(headers)
        matched = self._match(method, scope["path"])
        if matched is None:
            return self.cors.apply(headers, gateway_answer(404))
        route, path_parameters = matched
        event = _http_event(scope, headers, body, route, path_parameters, request_id)
        if route.authorized:
            denied = await self._authorize(event, headers)
            if denied is not None:
                return self.cors.apply(headers, denied)
        try:
            result = await self.runtimes[route.function].invoke(event)
        except Throttled:
            log.warning("%s throttled on %s", route.function, route.route_key)
            return self.cors.apply(headers, gateway_answer(500))
        except FunctionError as error:
            log_function_error(route.function, route.route_key, error)
            return self.cors.apply(headers, gateway_answer(500))
        return self.cors.apply(headers, _lambda_result(result))

    def routes_path(self, path: str) -> bool:
        """Whether a route of the API has exactly this path (the API is not all under /api)."""
        return path in self._exact_paths

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

    async def _authorize(
        self, event: dict[str, Any], headers: dict[str, str]
    ) -> HttpResponse | None:
        """None when allowed (the event gains the authorizer context), else the gateway reply."""
        if "authorization" not in headers or self.template.authorizer_function is None:
            return gateway_answer(401)
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
        authorizer = self.template.authorizer_function
        try:
            verdict = await self.runtimes[authorizer].invoke(auth_event)
        except Throttled:
            log.warning("%s throttled", authorizer)
            return gateway_answer(500)
        except FunctionError as error:
            # A Lambda authorizer signals 401 by failing with "Unauthorized", as in AWS.
            if str(error) == "Unauthorized":
                return gateway_answer(401)
            log_function_error(authorizer, "authorize", error)
            return gateway_answer(500)
        if not isinstance(verdict, dict) or not verdict.get("isAuthorized"):
            return gateway_answer(403)
        context = verdict.get("context") or {}
        await self._authorizer_cache.put(headers["authorization"], context)
        event["requestContext"]["authorizer"] = {"lambda": context}
        return None


def _http_event(
    scope: Scope,
    headers: dict[str, str],
    body: bytes,
    route: Route,
    path_parameters: dict[str, str],
    request_id: str,
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
            "requestId": request_id,
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
        return json_response(200, result)
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
