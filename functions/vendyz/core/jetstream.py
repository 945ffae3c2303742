"""The JetStream stream every event is published to, created idempotently.

`ensure_stream` is run at start (`vendyz up`) and by whatever applies migrations in AWS; it
speaks the JetStream API ($JS.API.STREAM.INFO / CREATE / UPDATE requests) over the plain
protocol client, so functions/ needs no NATS library.
"""

from __future__ import annotations

import json
from typing import Any

from vendyz.core.nats_client import NatsConnection, Reply, Request

STREAM = "VENDYZ"
SUBJECTS = ("inventory.>", "product.>", "order.>", "health.>")
DUPLICATE_WINDOW_SECONDS = 120
MAX_AGE_SECONDS = 7 * 24 * 3600
_NANOSECONDS = 1_000_000_000
_STREAM_NOT_FOUND = 10059  # JetStream's err_code


class JetStreamError(RuntimeError):
    """The server refused a JetStream API request, or JetStream is not enabled."""


def stream_config() -> dict[str, Any]:
    """The stream as the design wants it (durations in nanoseconds, as the API takes them)."""
    return {
        "name": STREAM,
        "subjects": list(SUBJECTS),
        "retention": "limits",
        "storage": "file",
        "discard": "old",
        "num_replicas": 1,
        "duplicate_window": DUPLICATE_WINDOW_SECONDS * _NANOSECONDS,
        "max_age": MAX_AGE_SECONDS * _NANOSECONDS,
    }


def _differs(current: dict[str, Any], wanted: dict[str, Any]) -> bool:
    if sorted(current.get("subjects") or []) != sorted(wanted["subjects"]):
        return True
    settings = ("storage", "duplicate_window", "max_age")
    return any(current.get(key) != wanted[key] for key in settings)


def _call(connection: NatsConnection, api: str, body: bytes, timeout: float) -> dict[str, Any]:
    (reply,) = connection.request_all([Request(f"$JS.API.{api}", body)], timeout)
    return _answer(api, reply)


def _answer(api: str, reply: Reply | None) -> dict[str, Any]:
    if reply is None:
        raise JetStreamError(f"{api}: no answer from JetStream in time")
    if reply.status == 503:
        raise JetStreamError(f"{api}: JetStream is not enabled on this NATS server")
    answer = reply.json()
    if not isinstance(answer, dict):
        raise JetStreamError(f"{api}: unexpected answer {reply.data[:200]!r}")
    return answer


def _checked(api: str, answer: dict[str, Any]) -> dict[str, Any]:
    if "error" in answer:
        raise JetStreamError(f"{api}: {answer['error'].get('description', answer['error'])}")
    return answer


def ensure_stream(nats_url: str, *, timeout_seconds: float = 5.0) -> dict[str, Any]:
    """Create stream VENDYZ, or bring an existing one's subjects, storage, duplicate window
    and max age in line; returns its config as the server now has it. Safe to repeat and to
    run concurrently. Raises JetStreamError (refused) or OSError (NATS unreachable)."""
    wanted = stream_config()
    connection = NatsConnection(nats_url, timeout_seconds)
    try:
        info_api = f"STREAM.INFO.{STREAM}"
        info = _call(connection, info_api, b"", timeout_seconds)
        if info.get("error", {}).get("err_code") == _STREAM_NOT_FOUND:
            api = f"STREAM.CREATE.{STREAM}"
            body = json.dumps(wanted).encode()
            info = _checked(api, _call(connection, api, body, timeout_seconds))
        else:
            current: dict[str, Any] = _checked(info_api, info)["config"]
            if _differs(current, wanted):
                api = f"STREAM.UPDATE.{STREAM}"
                body = json.dumps({**current, **wanted}).encode()
                info = _checked(api, _call(connection, api, body, timeout_seconds))
        config: dict[str, Any] = info["config"]
        return config
    finally:
        connection.close()
