"""Tiny Lambda handlers for the gateway tests: each shows one thing a real handler can do.

They are loaded by dotted path ("tests.unit.fake_handlers.echo"), exactly as the local cloud
loads the handlers of template.yaml.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

PNG_BYTES = b"\x89PNG\r\n\x1a\n\x00\x01\x02\xff"
SLOW_SECONDS = 0.3


def echo(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Returns the event it received, so a test can assert what the handler saw."""
    return {
        "statusCode": 200,
        "headers": {"Content-Type": "application/json", "X-Handled-By": context.function_name},
        "body": json.dumps({"event": event, "function": context.function_name}),
    }


def custom_status(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {
        "statusCode": 201,
        "headers": {"Content-Type": "text/plain", "Retry-After": "3"},
        "body": "created",
    }


def binary(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {
        "statusCode": 200,
        "headers": {"Content-Type": "image/png"},
        "body": base64.b64encode(PNG_BYTES).decode(),
        "isBase64Encoded": True,
    }


def with_cookies(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {
        "statusCode": 200,
        "cookies": ["session=abc; HttpOnly; Path=/", "theme=dark; Path=/"],
        "body": "",
    }


def plain(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """No statusCode: API Gateway (payload 2.0) answers 200 with this as the JSON body."""
    return {"hello": "world", "count": 2}


def boom(event: dict[str, Any], context: Any) -> Any:
    raise RuntimeError("kaboom from the handler")


authorizer_calls: Counter[str] = Counter()  # per Authorization header


def authorizer(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """A Lambda REQUEST authorizer (simple responses), steered by the token it is given."""
    token = event["headers"].get("authorization", "")
    authorizer_calls[token] += 1
    if token == "Bearer expired":
        raise Exception("Unauthorized")  # the AWS convention for a 401
    if token == "Bearer buggy":
        raise ValueError("the authorizer itself is broken")
    if token == "Bearer buyer":
        return {"isAuthorized": False}
    return {"isAuthorized": True, "context": {"userId": "user-42", "role": "ADMIN"}}


# -- bounded concurrency ---------------------------------------------------------------------
_lock = threading.Lock()
_running = 0
peak_running = 0


def reset_counters() -> None:
    global _running, peak_running
    with _lock:
        _running = 0
        peak_running = 0


def slow(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Sleeps while counting how many invocations of it run at the same moment."""
    global _running, peak_running
    with _lock:
        _running += 1
        peak_running = max(peak_running, _running)
    try:
        time.sleep(SLOW_SECONDS)
    finally:
        with _lock:
            _running -= 1
    return {"slept": SLOW_SECONDS}


# -- asynchronous (InvocationType=Event) invocations -------------------------------------------
events_received: list[dict[str, Any]] = []
event_arrived = threading.Event()


def record(event: dict[str, Any], context: Any) -> None:
    events_received.append(event)
    event_arrived.set()


def reply(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """A service-to-service target: a plain JSON result, as the Invoke API returns it."""
    return {"received": event, "function": context.function_name}


def stuck(event: dict[str, Any], context: Any) -> None:
    """Says it started (touches event["started"]), then waits far longer than any test."""
    Path(event["started"]).touch()
    time.sleep(600)
