"""What every request body must be before a route sees it: within the size cap (counted as it
arrives, so a chunked body cannot slip past a missing Content-Length), UTF-8, and, when it is
JSON, free of duplicate keys and of NUL characters (PostgreSQL refuses NUL in text).

Each refusal names the field, as every other validation error does. A body that is not JSON at
all goes on to FastAPI, which answers its own 400.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vendyz.core.envelope import envelope

MAX_BODY_BYTES = 16 * 1024


class _Refused(Exception):
    def __init__(self, field: str, message: str, kind: str) -> None:
        super().__init__(message)
        self.field, self.message, self.kind = field, message, kind


def _refusal(status: int, field: str, message: str, kind: str) -> JSONResponse:
    errors = [{"field": field, "message": message, "type": kind}]
    return JSONResponse(
        envelope({"errors": errors}, f"{field}: {message}", success=False), status_code=status
    )


def _refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """json.loads' object hook: the last of two equal keys must not silently win."""
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise _Refused(key, "appears more than once", "duplicate_key")
        seen[key] = value
    return seen


def _find_nul(value: Any, field: str) -> str | None:
    """The dotted name of the first field whose key or text holds a NUL, if any."""
    if isinstance(value, str):
        return field if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            name = f"{field}.{key}" if field != "body" else key
            if "\x00" in key:
                return name
            found = _find_nul(item, name)
            if found is not None:
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = _find_nul(item, f"{field}.{index}")
            if found is not None:
                return found
    return None


def check_body(body: bytes) -> JSONResponse | None:
    """The refusal for a body no route may see, or None when it may go on."""
    if len(body) > MAX_BODY_BYTES:
        return _refusal(413, "body", f"larger than {MAX_BODY_BYTES} bytes", "too_large")
    if not body:
        return None
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return _refusal(400, "body", "not valid UTF-8", "unicode_invalid")
    try:
        parsed = json.loads(text, object_pairs_hook=_refuse_duplicates)
    except _Refused as refused:
        return _refusal(422, refused.field, refused.message, refused.kind)
    except ValueError:
        return None  # not JSON: the route's own parsing answers it
    nul = _find_nul(parsed, "body")
    if nul is not None:
        return _refusal(422, nul, "must not contain NUL characters", "string_nul")
    return None


class RequestGuard:
    """ASGI middleware: reads the whole body (Mangum hands it over in one message), checks it,
    then replays it to the app."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body = b""
        async for chunk in Request(scope, receive).stream():
            body += chunk
            if len(body) > MAX_BODY_BYTES:
                break  # enough to refuse it; the rest is never read
        refusal = check_body(body)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)
