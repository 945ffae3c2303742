"""What the gateway's parts answer with, and the request headers as API Gateway reads them."""

from __future__ import annotations

import json
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


def envelope_error(status: int, message: str) -> HttpResponse:
    return json_response(status, {"success": False, "message": message, "data": None})


def request_headers(scope: Scope) -> dict[str, str]:
    """Header names lowercased; repeated headers joined by commas, as API Gateway does."""
    headers: dict[str, str] = {}
    for raw_name, raw_value in scope["headers"]:
        name = raw_name.decode("latin-1").lower()
        value = raw_value.decode("latin-1")
        headers[name] = f"{headers[name]},{value}" if name in headers else value
    return headers
