"""What the gateway's parts answer with, and the request headers as API Gateway reads them."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


@dataclass
class HttpResponse:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes


def json_response(status: int, payload: Any, headers: dict[str, str] | None = None) -> HttpResponse:
    raw = [(b"content-type", b"application/json")]
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    return HttpResponse(status, raw, json.dumps(payload).encode())


# What API Gateway answers itself (never our envelope: that is for what our functions answer).
GATEWAY_MESSAGES = {
    401: "Unauthorized",  # no identity source, or the authorizer failed with "Unauthorized"
    403: "Forbidden",  # the authorizer answered isAuthorized: false
    404: "Not Found",  # no route
    413: "Request Entity Too Large",  # over the 10 MB payload limit
    431: "Request Header Fields Too Large",  # request line and headers over the 10 KB quota
    500: "Internal Server Error",  # the function failed, timed out or was throttled
}


def gateway_answer(status: int) -> HttpResponse:
    """API Gateway's own answer for `status`, byte for byte: `{"message":"Not Found"}`."""
    body = b'{"message":"' + GATEWAY_MESSAGES[status].encode() + b'"}'
    return HttpResponse(status, [(b"content-type", b"application/json")], body)


def new_request_id() -> str:
    """An API Gateway request id (the apigw-requestid header), e.g. "Kt3zOjSQoAMEbZQ="."""
    return base64.b64encode(os.urandom(10)).decode()[:15] + "="


def request_headers(scope: Scope) -> dict[str, str]:
    """Header names lowercased; repeated headers joined by commas, as API Gateway does."""
    headers: dict[str, str] = {}
    for raw_name, raw_value in scope["headers"]:
        name = raw_name.decode("latin-1").lower()
        value = raw_value.decode("latin-1")
        headers[name] = f"{headers[name]},{value}" if name in headers else value
    return headers
