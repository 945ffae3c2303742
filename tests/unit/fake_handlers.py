"""Tiny Lambda handlers for the gateway tests: each shows one thing a real handler can do.

They are loaded by dotted path ("tests.unit.fake_handlers.echo"), exactly as the local cloud
loads the handlers of template.yaml, each instance in a process of its own: what a test must
see of their calls they write under the directory of env FAKE_CALLS_DIR.
"""

from __future__ import annotations

import base64
import json
import os
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


def _calls_file(name: str) -> Path:
    return Path(os.environ["FAKE_CALLS_DIR"]) / name


def authorizer_calls(calls_dir: Path) -> Counter[str]:
    """How often the authorizer was asked, per Authorization header."""
    log = calls_dir / "authorizer.log"
    return Counter(log.read_text().splitlines() if log.exists() else [])


def authorizer(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """A Lambda REQUEST authorizer (simple responses), steered by the token it is given."""
    token = event["headers"].get("authorization", "")
    with _calls_file("authorizer.log").open("a") as log:
        log.write(token + "\n")
    if token == "Bearer expired":
        raise Exception("Unauthorized")  # the AWS convention for a 401
    if token == "Bearer buggy":
        raise ValueError("the authorizer itself is broken")
    if token == "Bearer buyer":
        return {"isAuthorized": False}
    return {"isAuthorized": True, "context": {"userId": "user-42", "role": "ADMIN"}}


# -- concurrency and asynchronous (InvocationType=Event) invocations ---------------------------
def slow(event: dict[str, Any], context: Any) -> dict[str, Any]:
    time.sleep(SLOW_SECONDS)
    return {"slept": SLOW_SECONDS}


def events_received(calls_dir: Path) -> list[dict[str, Any]]:
    log = calls_dir / "record.log"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def record(event: dict[str, Any], context: Any) -> None:
    with _calls_file("record.log").open("a") as log:
        log.write(json.dumps(event) + "\n")


def reply(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """A service-to-service target: a plain JSON result, as the Invoke API returns it."""
    return {"received": event, "function": context.function_name}


def stuck(event: dict[str, Any], context: Any) -> None:
    """Says it started (touches event["started"]), then waits far longer than any test."""
    Path(event["started"]).touch()
    time.sleep(600)


# -- the Lambda runtime's behaviours (tests/integration/test_lambda_runtime.py) ---------------
invocations = 0
_ticks = 0


def count(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Module state: how many invocations this instance (this module copy) has served."""
    global invocations
    invocations += 1
    return {"invocations": invocations, "pid": os.getpid()}


def ticker(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Starts (once) a thread that ticks every 10 ms; reports the ticks so far."""
    global _ticks

    def tick() -> None:
        global _ticks
        while True:
            _ticks += 1
            time.sleep(0.01)

    if event.get("start"):
        threading.Thread(target=tick, daemon=True).start()
    return {"ticks": _ticks}


def sleepy(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Sleeps event["seconds"]; reports its pid and the time it had left when it started."""
    remaining = context.get_remaining_time_in_millis()
    time.sleep(float(event.get("seconds", 0)))
    return {"pid": os.getpid(), "remainingMs": remaining}


def environment(event: dict[str, Any], context: Any) -> dict[str, str]:
    return dict(os.environ)


def hog(event: dict[str, Any], context: Any) -> dict[str, int]:
    """Allocates event["mb"] megabytes and touches them."""
    block = bytearray(int(event["mb"]) * 1024 * 1024)
    return {"allocated": len(block)}
